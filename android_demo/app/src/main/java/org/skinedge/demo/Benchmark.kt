package org.skinedge.demo

import android.os.Build
import android.os.Process
import java.io.File
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.TimeZone
import org.json.JSONObject
import org.skinedge.core.BenchReport

/**
 * N warm-up and N timed runs of the loaded .pte at batch 1 on a fixed input of the card's size
 * (the same measurement as `skinedge bench`'s worker), written as skinedge.bench/2 JSON to
 * <external files>/bench/, which `skinedge bench --import` reads.
 */
class Benchmark(private val model: LoadedModel) {
    fun run(warmup: Int, runs: Int, outDir: File): Pair<JSONObject, File> {
        val t0 = System.nanoTime()
        val s = model.card.inputSize.toLong()
        val shape = longArrayOf(1, 3, s, s)
        val input = FloatArray((3 * s * s).toInt()) { 0.5f }
        repeat(warmup) { model.run(input, shape) }
        val latencies = DoubleArray(runs)
        for (i in 0 until runs) {
            val start = System.nanoTime()
            model.run(input, shape)
            latencies[i] = (System.nanoTime() - start) / 1e6
        }
        val run = BenchReport.Run().apply {
            fileName = model.file.name
            path = model.file.absolutePath
            sizeBytes = model.file.length()
            loadSeconds = model.loadSeconds
            this.warmup = warmup
            latenciesMs = latencies
            peakMemoryMb = peakRssMb()
            pid = Process.myPid()
            threads = Runtime.getRuntime().availableProcessors()
            seconds = (System.nanoTime() - t0) / 1e9
            date = utcNow()
            host = deviceInfo()
            software = mapOf(
                "executorch-android" to executorchVersion(),
                "skinedge-android-demo" to appVersion(),
                "android" to Build.VERSION.RELEASE,
            )
        }
        val doc = BenchReport.document(run, model.card)
        outDir.mkdirs()
        val file = File(outDir, "bench-android-${stamp()}.json")
        file.writeText(doc.toString(1) + "\n")
        return doc to file
    }

    /** VmHWM, the process's resident high-water mark: what the host rows record as peak_rss_mb. */
    private fun peakRssMb(): Double = File("/proc/self/status").readLines()
        .firstOrNull { it.startsWith("VmHWM:") }
        ?.split(Regex("\\s+"))?.getOrNull(1)?.toDoubleOrNull()?.div(1024.0) ?: 0.0

    private fun deviceInfo(): Map<String, Any> = mapOf(
        "cpu" to (if (Build.VERSION.SDK_INT >= 31) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}" else Build.HARDWARE),
        "cores" to Runtime.getRuntime().availableProcessors(),
        "os" to "Android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})",
        "machine" to (Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown"),
        "device" to "${Build.MANUFACTURER} ${Build.MODEL} (${Build.DEVICE})",
    )

    /** As the host writes it: ISO 8601 in UTC, "+00:00". */
    private fun utcNow(): String = SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'+00:00'", Locale.US)
        .apply { timeZone = TimeZone.getTimeZone("UTC") }.format(Date())

    private fun stamp(): String = SimpleDateFormat("yyyyMMdd'T'HHmmss", Locale.US)
        .apply { timeZone = TimeZone.getTimeZone("UTC") }.format(Date())

    private fun executorchVersion(): String = BuildConfig.EXECUTORCH_VERSION

    private fun appVersion(): String = BuildConfig.VERSION_NAME
}
