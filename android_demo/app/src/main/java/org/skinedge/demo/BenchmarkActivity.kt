package org.skinedge.demo

import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import java.io.File
import java.util.Locale
import java.util.concurrent.Executors
import org.skinedge.core.SkinedgeException

/**
 * The benchmark screen: N warm-up + N timed runs of the bundled .pte, the statistics on screen
 * and the skinedge.bench/2 JSON written to <external files>/bench/ (the path is shown; pull it
 * with adb). Started with extras `warmup`, `runs` and `autorun` (boolean) it runs at once:
 *   adb shell am start -n org.skinedge.demo/.BenchmarkActivity --ei warmup 10 --ei runs 100 --ez autorun true
 */
class BenchmarkActivity : AppCompatActivity() {
    private val worker = Executors.newSingleThreadExecutor()
    private val main = Handler(Looper.getMainLooper())

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_benchmark)
        val warmup = findViewById<EditText>(R.id.warmup)
        val runs = findViewById<EditText>(R.id.runs)
        val report = findViewById<TextView>(R.id.report)
        val run = findViewById<Button>(R.id.run)
        warmup.setText(intent.getIntExtra(EXTRA_WARMUP, DEFAULT_WARMUP).toString())
        runs.setText(intent.getIntExtra(EXTRA_RUNS, DEFAULT_RUNS).toString())
        run.setOnClickListener {
            val w = warmup.text.toString().toIntOrNull()
            val n = runs.text.toString().toIntOrNull()
            if (w == null || w < 0 || n == null || n < 1) {
                report.text = "Warm-up runs must be 0 or more and timed runs 1 or more."
                return@setOnClickListener
            }
            run.isEnabled = false
            report.text = "Running $w warm-up + $n timed runs…"
            worker.execute {
                val text = measure(w, n)
                main.post {
                    report.text = text
                    run.isEnabled = true
                }
            }
        }
        if (savedInstanceState == null && intent.getBooleanExtra(EXTRA_AUTORUN, false)) {
            run.performClick()
        }
    }

    override fun onDestroy() {
        worker.shutdown()
        super.onDestroy()
    }

    private fun measure(warmup: Int, runs: Int): String = try {
        val model = ModelHolder.get(applicationContext)
        val outDir = File(getExternalFilesDir(null) ?: filesDir, "bench")
        val (doc, file) = Benchmark(model).run(warmup, runs, outDir)
        val row = doc.getJSONArray("rows").getJSONObject(0)
        val lat = row.getJSONObject("latency_ms").getJSONObject("1")
        String.format(Locale.US,
            "%s on %s\nmedian %.3f ms, p90 %.3f ms, p99 %.3f ms, trimmed mean %.3f ms, min %.3f ms " +
                "(%d runs after %d warm-up)\nload %.3f s, peak RSS %.0f MB\n\nJSON (skinedge.bench/2):\n%s\n" +
                "adb pull %s",
            row.getString("name"), doc.getJSONObject("host").getString("device"),
            lat.getDouble("median"), lat.getDouble("p90"), lat.getDouble("p99"),
            lat.getDouble("trimmed_mean"), lat.getDouble("min"), runs, warmup,
            row.getDouble("load_s"), row.getDouble("peak_rss_mb"), file.absolutePath, file.absolutePath)
    } catch (e: RuntimeException) {  // SkinedgeException (card, model) or the runtime's own
        if (e is SkinedgeException) e.message ?: e.toString() else "Benchmark failed: ${e.message ?: e}"
    }

    companion object {
        const val EXTRA_WARMUP = "warmup"
        const val EXTRA_RUNS = "runs"
        const val EXTRA_AUTORUN = "autorun"
        private const val DEFAULT_WARMUP = 10
        private const val DEFAULT_RUNS = 100
    }
}
