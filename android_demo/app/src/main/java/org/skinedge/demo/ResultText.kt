package org.skinedge.demo

import java.util.Locale
import org.skinedge.core.ModelCard
import org.skinedge.core.Prediction

/** What the result screen says about a prediction; every name and number comes from the card. */
object ResultText {
    private const val SHOWN_CLASSES = 3

    fun classes(card: ModelCard, p: Prediction): String {
        val lines = mutableListOf<String>()
        val kind = if (p.calibrated) "calibrated probability" else "model probability (uncalibrated)"
        lines += "Most typical of: ${name(card, p.label)}"
        lines += "Top classes ($kind):"
        for (entry in p.topK.take(SHOWN_CLASSES)) {
            lines += "  ${name(card, entry.key)}: ${percent(entry.value)}"
        }
        val malignant = p.malignantProbability
        if (malignant != null) {
            val positives = card.referral.positives.joinToString(" + ")
            lines += "Malignant ($positives): ${percent(malignant)}"
        }
        when (p.refer) {
            true -> lines += "REFER: at or above the card's threshold ${percent(p.threshold!!)}: show a doctor"
            false -> lines += "Below the card's referral threshold ${percent(p.threshold!!)}"
            null -> lines += "No referral threshold in this model's card"
        }
        return lines.joinToString("\n")
    }

    fun gate(p: Prediction): String {
        val g = p.gate ?: return "Input gate: none in this model's card"
        if (g.usable) {
            return "Input gate: usable photo"
        }
        return "Input gate: NOT a usable photo; the result above may be meaningless:\n" +
            g.reasons.joinToString("\n") { "  • $it" }
    }

    fun intendedUse(card: ModelCard): String {
        val use = card.intendedUse ?: return "This model's card states no intended use."
        return (listOf(use.summary) + use.limitations.map { "• $it" }).joinToString("\n")
    }

    fun modelStatus(model: LoadedModel): String {
        val c = model.card
        return "${model.file.name}: ${c.architecture}, ${c.inputSize} px, ${c.quantization}, " +
            "${c.labels.size} classes; loaded in ${String.format(Locale.US, "%.0f", model.loadSeconds * 1e3)} ms"
    }

    private fun name(card: ModelCard, label: String): String =
        "${card.labelNames[card.labelIndex(label)]} ($label)"

    private fun percent(p: Double): String = String.format(Locale.US, "%.1f%%", 100 * p)
}
