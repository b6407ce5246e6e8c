package org.skinedge.demo

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.skinedge.core.GoldenImages
import org.skinedge.core.ModelException
import org.skinedge.core.Prediction

/**
 * The app's classification glue ([Classifier]: photo -> core model image -> model -> core
 * prediction) over golden/: every image through every model with expected outputs gives what
 * skinedge.predict recorded, with the golden model image as the model's input.
 */
class ClassifierTest {
    /** Float logits (ln of the golden probabilities) come back through a float32 softmax. */
    private val probAtol = 1e-5

    @Test
    fun everyGoldenImageClassifiesAsSkinedgePredicts() {
        val problems = mutableListOf<String>()
        var checked = 0
        for (model in GoldenImages.models) {
            val card = GoldenImages.card(model)
            val expected = GoldenImages.expected(model)
            for (image in GoldenImages.images) {
                val name = image.getString("name")
                val want = expected.getJSONObject(name)
                val fake = GoldenLogits(card, "$model / $name", GoldenImages.modelImage(image),
                    GoldenImages.doubles(want.getJSONArray("probabilities")))
                val got = Classifier(fake).classify(GoldenImages.decode(image))
                assertEquals("$model / $name: model runs", 1, fake.calls)
                assertTrue(got.preprocessMs >= 0 && got.inferenceMs >= 0)
                compare("$model / $name", got.prediction, want.getJSONObject("prediction"), problems)
                checked++
            }
        }
        assertTrue("golden/ has no model with expected outputs", checked > 0)
        if (problems.isNotEmpty()) {
            fail("the app's Classifier differs from golden/expected:\n  " + problems.joinToString("\n  "))
        }
    }

    @Test
    fun aModelWithTheWrongNumberOfOutputsIsRefused() {
        val model = GoldenImages.models.first()
        val card = GoldenImages.card(model)
        val image = GoldenImages.images.first()
        val probs = DoubleArray(card.labels.size + 1) { 1.0 / (card.labels.size + 1) }
        val fake = GoldenLogits(card, model, GoldenImages.modelImage(image), probs)
        try {
            Classifier(fake).classify(GoldenImages.decode(image))
            fail("a model with ${probs.size} outputs for ${card.labels.size} labels was accepted")
        } catch (e: ModelException) {
            assertTrue(e.message!!, e.message!!.contains("the card belongs to another model"))
        }
    }

    private fun compare(where: String, got: Prediction, want: JSONObject, problems: MutableList<String>) {
        fun check(what: String, w: Any?, g: Any?) {
            if (w != g) problems += "$where: $what $g, golden $w"
        }
        fun near(what: String, w: Double?, g: Double?) {
            if ((w == null) != (g == null) || (w != null && !(Math.abs(w - g!!) <= probAtol))) {
                problems += "$where: $what $g, golden $w"
            }
        }
        check("label", want.getString("label"), got.label)
        check("calibrated", want.getBoolean("calibrated"), got.calibrated)
        val probs = want.getJSONObject("probabilities")
        for (label in probs.keys()) near("probability of $label", probs.getDouble(label), got.probabilities[label])
        val top = want.getJSONArray("top_k")
        check("top_k", (0 until top.length()).map { top.getJSONObject(it).getString("label") }, got.topK.map { it.key })
        near("malignant_probability", want.optionalDouble("malignant_probability"), got.malignantProbability)
        near("threshold", want.optionalDouble("threshold"), got.threshold)
        check("refer", if (want.isNull("refer")) null else want.getBoolean("refer"), got.refer)
        val gate = if (want.isNull("gate")) null else want.getJSONObject("gate")
        check("gate usable", gate?.getBoolean("usable"), got.gate?.usable)
        val reasons = gate?.getJSONArray("reasons")
        check("gate reasons", reasons?.let { r -> (0 until r.length()).map { r.getString(it) } }, got.gate?.reasons)
    }
}

fun JSONObject.optionalDouble(key: String): Double? = if (isNull(key)) null else getDouble(key)
