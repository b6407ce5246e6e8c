package org.skinedge.demo

import android.content.Context
import android.os.Build
import android.os.Process
import java.io.File
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.TimeZone
import org.json.JSONObject
import org.skinedge.core.BenchLaunch
import org.skinedge.core.BenchReport

/**
 * W warm-up and N timed runs of a loaded .pte at batch 1 on a fixed input of the card's size
 * (the same measurement as `skinedge bench`'s worker) as a skinedge.bench/2 document, saved
 * where `skinedge bench --device android --runner app` reads it (files/benchmark_results.json)
 * and as a dated copy in <external files>/bench/ for `adb pull` + `skinedge bench --import`.
 */
class Benchmark(private val context: Context) {
    fun measure(model: LoadedModel, launch: BenchLaunch): JSONObject {
        val t0 = System.nanoTime()
        val s = model.card.inputSize.toLong()
        val shape = longArrayOf(1, 3, s, s)
        val input = FloatArray((3 * s * s).toInt()) { 0.5f }
        repeat(launch.warmup) { model.run(input, shape) }
        val latencies = DoubleArray(launch.runs)
        for (i in 0 until launch.runs) {
            val start = System.nanoTime()
            model.run(input, shape)
            latencies[i] = (System.nanoTime() - start) / 1e6
        }
        val run = newRun(launch, model.file).apply {
            loadSeconds = model.loadSeconds
            latenciesMs = latencies
            peakMemoryMb = peakRssMb()
            seconds = (System.nanoTime() - t0) / 1e9
        }
        return BenchReport.document(run, model.card)
    }

    /** The document of a run that could not start: one failed row saying why. */
    fun failed(launch: BenchLaunch, why: String): JSONObject {
        val where = launch.modelDir?.let { File(it) } ?: File("assets/model")
        return BenchReport.document(newRun(launch, where).apply {
            status = "failed"
            error = why
        }, null)
    }

    /** Writes the result file the harness reads and the dated copy; returns the copy. */
    fun save(doc: JSONObject): File {
        BenchLaunch.writeResult(context.filesDir, doc)
        val dir = File(context.getExternalFilesDir(null) ?: context.filesDir, "bench").apply { mkdirs() }
        return File(dir, "bench-android-${stamp()}.json").apply { writeText(doc.toString(1) + "\n") }
    }

    private fun newRun(launch: BenchLaunch, file: File) = BenchReport.Run().apply {
        fileName = file.name
        path = file.absolutePath
        sizeBytes = if (file.isFile) file.length() else 0
        warmup = launch.warmup
        pid = Process.myPid()
        threads = launch.threads
        date = utcNow()
        host = deviceInfo()
        software = mapOf(
            "executorch-android" to BuildConfig.EXECUTORCH_VERSION,
            "skinedge-android-demo" to BuildConfig.VERSION_NAME,
            "android" to Build.VERSION.RELEASE,
        )
    }

    /** VmHWM, the process's resident high-water mark: what the host rows record as peak_rss_mb. */
    private fun peakRssMb(): Double = File("/proc/self/status").readLines()
        .firstOrNull { it.startsWith("VmHWM:") }
        ?.split(Regex("\\s+"))?.getOrNull(1)?.toDoubleOrNull()?.div(1024.0) ?: 0.0

    private fun deviceInfo(): Map<String, Any> = mapOf(
        "cpu" to soc(),
        "cores" to Runtime.getRuntime().availableProcessors(),
        "os" to "Android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})",
        "machine" to (Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown"),
        "device" to "${Build.MANUFACTURER} ${Build.MODEL} (${Build.DEVICE})",
    )

    /**
     * "manufacturer model" of the SoC from API 31 on, else the board name. Build.SOC_* are read
     * by name because the app also compiles against API 23 (tests/test_android_app.py), which
     * lacks them; on a phone the result is the same.
     */
    private fun soc(): String = if (Build.VERSION.SDK_INT >= 31) {
        listOf("SOC_MANUFACTURER", "SOC_MODEL").joinToString(" ") {
            Build::class.java.getField(it).get(null) as String
        }
    } else {
        Build.HARDWARE
    }

    /** As the host writes it: ISO 8601 in UTC, "+00:00". */
    private fun utcNow(): String = SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'+00:00'", Locale.US)
        .apply { timeZone = TimeZone.getTimeZone("UTC") }.format(Date())

    private fun stamp(): String = SimpleDateFormat("yyyyMMdd'T'HHmmss", Locale.US)
        .apply { timeZone = TimeZone.getTimeZone("UTC") }.format(Date())
}
