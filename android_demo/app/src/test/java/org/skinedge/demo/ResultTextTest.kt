package org.skinedge.demo

import java.util.Locale
import org.json.JSONArray
import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Test
import org.skinedge.core.GoldenImages

/**
 * What the result screen says ([ResultText]) for every golden image, checked against golden/'s
 * card and recorded prediction: the class names are the card's, the percentages skinedge's.
 */
class ResultTextTest {
    private fun percent(p: Double) = String.format(Locale.US, "%.1f%%", 100 * p)

    @Test
    fun resultTextSaysWhatTheGoldenPredictionSays() {
        val model = GoldenImages.models.first()
        val card = GoldenImages.card(model)
        val json = card.json
        val names = json.getJSONArray("label_names")
        val labels = json.getJSONArray("labels")
        fun longName(label: String) =
            "${names.getString((0 until labels.length()).first { labels.getString(it) == label })} ($label)"
        val expected = GoldenImages.expected(model)
        for (image in GoldenImages.images) {
            val name = image.getString("name")
            val want = expected.getJSONObject(name).getJSONObject("prediction")
            val fake = GoldenLogits(card, name, GoldenImages.modelImage(image),
                GoldenImages.doubles(expected.getJSONObject(name).getJSONArray("probabilities")))
            val p = Classifier(fake).classify(GoldenImages.decode(image)).prediction
            val lines = ResultText.classes(card, p).lines()
            val kind = if (want.getBoolean("calibrated")) "calibrated probability" else "model probability (uncalibrated)"
            val top = want.getJSONArray("top_k")
            val wantLines = mutableListOf("Most typical of: ${longName(want.getString("label"))}", "Top classes ($kind):")
            for (i in 0 until minOf(3, top.length())) {
                wantLines += "  ${longName(top.getJSONObject(i).getString("label"))}: ${percent(top.getJSONObject(i).getDouble("probability"))}"
            }
            want.optionalDouble("malignant_probability")?.let { m ->
                // the score's classes as the core read them (a legacy card's included)
                wantLines += "Malignant (${card.referral!!.positives.joinToString(" + ")}): ${percent(m)}"
            }
            wantLines += when {
                want.isNull("refer") -> "No referral threshold in this model's card"
                want.getBoolean("refer") -> "REFER: at or above the card's threshold ${percent(want.getDouble("threshold"))}: show a doctor"
                else -> "Below the card's referral threshold ${percent(want.getDouble("threshold"))}"
            }
            assertEquals(name, wantLines, lines)
            assertEquals(name, gateText(want), ResultText.gate(p))
        }
    }

    @Test
    fun intendedUseIsTheCardsOwnWords() {
        val card = GoldenImages.card(GoldenImages.models.first())
        val use = card.json.optJSONObject("intended_use")
        val text = ResultText.intendedUse(card)
        if (use == null || use.length() == 0) {  // {}: a card from before intended use
            assertEquals("This model's card states no intended use.", text)
            return
        }
        val limits = use.optJSONArray("limitations") ?: JSONArray()
        assertEquals(listOf(use.getString("summary")) + (0 until limits.length()).map { "• ${limits.getString(it)}" },
            text.lines())
    }

    private fun gateText(want: JSONObject): String {
        if (want.isNull("gate")) return "Input gate: none in this model's card"
        val g = want.getJSONObject("gate")
        if (g.getBoolean("usable")) return "Input gate: usable photo"
        val r = g.getJSONArray("reasons")
        return "Input gate: NOT a usable photo; the result above may be meaningless:\n" +
            (0 until r.length()).joinToString("\n") { "  • ${r.getString(it)}" }
    }
}
