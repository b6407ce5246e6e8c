package org.skinedge.demo

import android.content.Context
import java.io.File
import java.io.IOException
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import org.skinedge.core.BenchLaunch
import org.skinedge.core.CardException
import org.skinedge.core.Integrity
import org.skinedge.core.ModelCard
import org.skinedge.core.ModelException

/**
 * A .pte loaded with ExecuTorch, the one in the app's assets (assets/model/, put there by
 * `./gradlew :app:copySkinedgeModel`) or the one in a folder `skinedge bench` pushed to the
 * phone, with its model card checked by the core: integrity hash, sidecar equal to the embedded
 * card, and a probe run that proves the model takes the card's input size and gives one output
 * per label. Any failure is a SkinedgeException whose message the UI shows.
 */
class LoadedModel private constructor(
    val module: Module,
    override val card: ModelCard,
    val file: File,
    /** Seconds from the start of loading to the end of the first (probe) inference. */
    val loadSeconds: Double,
) : LogitsModel {
    override fun run(input: FloatArray, shape: LongArray): FloatArray =
        module.forward(EValue.from(Tensor.fromBlob(input, shape)))[0].toTensor().dataAsFloatArray

    fun close() = module.destroy()

    companion object {
        private const val ASSET_DIR = "model"
        private const val CARD_METHOD = "model_card"

        /**
         * Loads the one .pte in assets/model/ with [threads] CPU threads (0: ExecuTorch's
         * default). Call off the main thread.
         */
        fun fromAssets(context: Context, threads: Int = 0): LoadedModel {
            val names = context.assets.list(ASSET_DIR).orEmpty()
            val pteName = names.singleOrNull { it.endsWith(".pte") }
                ?: throw CardException(
                    if (names.none { it.endsWith(".pte") }) {
                        "no model in the app: build it with ./gradlew :app:copySkinedgeModel " +
                            "-PskinedgeModel=<file.pte from skinedge export --target executorch>"
                    } else {
                        "assets/$ASSET_DIR holds several .pte files (${names.joinToString()}); keep one"
                    })
            val sideName = pteName.removeSuffix(".pte") + ".card.json"
            val started = System.nanoTime()
            // Module.load needs a file path: the asset is copied out (a few MB) at every start,
            // so the file loaded is always the one whose bytes were verified below.
            val file = File(context.filesDir, pteName)
            val bytes = context.assets.open("$ASSET_DIR/$pteName").use { it.readBytes() }
            file.writeBytes(bytes)
            val sidecar = if (sideName in names) {
                context.assets.open("$ASSET_DIR/$sideName").use { it.readBytes() }
            } else {
                null
            }
            return open(pteName, file, bytes, sidecar, threads, started)
        }

        /**
         * Loads the one .pte in [dir] (the `model_dir` of `skinedge bench --runner app`, pushed
         * with adb), its sidecar card too when one is there. Call off the main thread.
         */
        fun fromFolder(dir: File, threads: Int): LoadedModel {
            val started = System.nanoTime()
            val name = BenchLaunch.pickModel(dir.path, dir.list())
            val file = File(dir, name)
            val bytes = try {
                file.readBytes()
            } catch (e: IOException) {
                throw CardException("${file.path}: the app cannot read it (${e.message}); push it " +
                    "again with adb, readable by all (chmod 644)")
            }
            val side = File(dir, name.removeSuffix(".pte") + ".card.json")
            return open(name, file, bytes, if (side.isFile) side.readBytes() else null, threads, started)
        }

        private fun open(
            name: String,
            file: File,
            bytes: ByteArray,
            sidecar: ByteArray?,
            threads: Int,
            started: Long,
        ): LoadedModel {
            val module = try {
                Module.load(file.absolutePath, Module.LOAD_MODE_FILE, threads)
            } catch (e: RuntimeException) {
                throw CardException("$name: ExecuTorch could not load it: corrupt or " +
                    "truncated, or not a .pte (${e.message}); export it again")
            }
            try {
                val embedded = if (CARD_METHOD in module.getMethods()) {
                    module.execute(CARD_METHOD)[0].toTensor().dataAsUnsignedByteArray
                } else {
                    null
                }
                val card = Integrity.cardOf(name, bytes, embedded, sidecar)
                probe(module, card, name)
                return LoadedModel(module, card, file, (System.nanoTime() - started) / 1e9)
            } catch (e: RuntimeException) {
                module.destroy()
                throw e
            }
        }

        /** One run on zeros of the card's input shape: the model must take it and give K outputs. */
        private fun probe(module: Module, card: ModelCard, name: String) {
            val s = card.inputSize.toLong()
            val out = try {
                module.forward(EValue.from(Tensor.fromBlob(FloatArray((3 * s * s).toInt()),
                    longArrayOf(1, 3, s, s))))[0].toTensor()
            } catch (e: RuntimeException) {  // ExecutorchRuntimeException and the like
                throw ModelException("$name: the model does not take the [1, 3, $s, $s] input its " +
                    "card gives (input_size $s): the card belongs to another model; export it " +
                    "again (${e.message})")
            }
            val shape = out.shape()
            if (shape.size != 2 || shape[0] != 1L || shape[1] != card.labels.size.toLong()) {
                throw ModelException("$name: the model's output has shape ${shape.contentToString()}, " +
                    "but its card has ${card.labels.size} labels: the card belongs to another " +
                    "model; export it again")
            }
        }
    }
}
