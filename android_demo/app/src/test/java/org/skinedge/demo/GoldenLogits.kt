package org.skinedge.demo

import kotlin.math.ln
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.skinedge.core.ModelCard

/**
 * A model for the JVM that stands where ExecuTorch runs on the phone: it checks that the input it
 * is handed is the golden model image (uint8 HWC RGB) as float NCHW / 255 of shape [1, 3, S, S],
 * and answers with logits whose softmax is the golden probabilities (ln p: softmax is unchanged
 * by a constant shift, and so is calibration's softmax(z / T + bias)).
 */
class GoldenLogits(
    override val card: ModelCard,
    private val where: String,
    private val modelImage: ByteArray,
    private val probabilities: DoubleArray,
) : LogitsModel {
    var calls = 0
        private set

    override fun run(input: FloatArray, shape: LongArray): FloatArray {
        calls++
        val s = card.inputSize
        assertArrayEquals("$where: input shape", longArrayOf(1, 3, s.toLong(), s.toLong()), shape)
        assertEquals("$where: input length", 3 * s * s, input.size)
        for (c in 0 until 3) {
            for (i in 0 until s * s) {
                val want = (modelImage[3 * i + c].toInt() and 0xff) / 255.0f
                if (want.toBits() != input[c * s * s + i].toBits()) {
                    throw AssertionError("$where: input differs from golden model_image at c=$c " +
                        "y=${i / s} x=${i % s}: ${input[c * s * s + i]}, golden $want")
                }
            }
        }
        return FloatArray(probabilities.size) { ln(probabilities[it].coerceAtLeast(1e-38)).toFloat() }
    }
}
