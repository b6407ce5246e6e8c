package org.skinedge.demo

import org.skinedge.core.DecodedImage
import org.skinedge.core.ModelCard
import org.skinedge.core.ModelImage
import org.skinedge.core.Prediction
import org.skinedge.core.Predictor

/** One classified photo: the core's prediction and where the time went (milliseconds). */
class Classification(
    val prediction: Prediction,
    val preprocessMs: Double,
    val inferenceMs: Double,
)

/** What the classifier needs of a model: its card, and logits for one input. */
interface LogitsModel {
    val card: ModelCard

    /** Logits [K] for one float NCHW input of the card's shape. */
    fun run(input: FloatArray, shape: LongArray): FloatArray
}

/** Photo -> model image (core) -> logits (ExecuTorch's [LoadedModel]) -> prediction (core). */
class Classifier(private val model: LogitsModel) {
    private val predictor = Predictor(model.card)

    fun classify(image: DecodedImage): Classification {
        val t0 = System.nanoTime()
        val modelImage = ModelImage.of(image, model.card)
        val input = modelImage.toNchw()
        val t1 = System.nanoTime()
        val logits = model.run(input, modelImage.shape())
        val t2 = System.nanoTime()
        // All classes are kept; the screen shows the first few.
        val prediction = predictor.fromLogits(logits, modelImage, model.card.labels.size)
        return Classification(prediction, (t1 - t0) / 1e6, (t2 - t1) / 1e6)
    }
}
