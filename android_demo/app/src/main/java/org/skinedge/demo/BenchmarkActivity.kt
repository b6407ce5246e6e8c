package org.skinedge.demo

import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import java.io.File
import java.io.IOException
import java.util.Locale
import java.util.concurrent.Executors
import org.skinedge.core.BenchLaunch
import org.skinedge.core.SkinedgeException

/**
 * The benchmark screen: W warm-up + N timed runs of a .pte, the statistics on screen and the
 * skinedge.bench/2 document saved by [Benchmark]. The launch extras are those of
 * `skinedge bench --device android --runner app` (parsed by the core's BenchLaunch):
 *   adb shell am start -W -S -n org.skinedge.demo/.BenchmarkActivity --es model_dir DIR \
 *     --ei num_iter 100 --ei num_warm_up_iter 10 [--ei num_threads 4]
 * times the one .pte in DIR at once and writes files/benchmark_results.json, a failed row
 * saying why when it cannot. Without model_dir the bundled model is timed, at once with
 * `--ez autorun true`, else when the button is pressed.
 */
class BenchmarkActivity : AppCompatActivity() {
    private val worker = Executors.newSingleThreadExecutor()
    private val main = Handler(Looper.getMainLooper())

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_benchmark)
        val warmup = view<EditText>(R.id.warmup)
        val runs = view<EditText>(R.id.runs)
        val report = view<TextView>(R.id.report)
        val run = view<Button>(R.id.run)
        val launch = BenchLaunch.fromExtras(extras())
        warmup.setText(launch.warmup.toString())
        runs.setText(launch.runs.toString())
        run.setOnClickListener {
            val asked = launch.withCounts(warmup.text.toString().toIntOrNull() ?: -1,
                runs.text.toString().toIntOrNull() ?: 0)
            if (asked.problem.isNotEmpty()) {
                report.text = asked.problem
                return@setOnClickListener
            }
            run.isEnabled = false
            report.text = "Running ${asked.warmup} warm-up + ${asked.runs} timed runs…"
            worker.execute {
                val text = measure(asked)
                main.post {
                    report.text = text
                    run.isEnabled = true
                }
            }
        }
        if (savedInstanceState != null) {
            return
        }
        if (launch.problem.isNotEmpty()) {
            report.text = launch.problem
            if (launch.modelDir != null) {  // the harness waits for a result file: give it one
                worker.execute {
                    val bench = Benchmark(applicationContext)
                    try {
                        bench.save(bench.failed(launch, launch.problem))
                    } catch (e: IOException) {
                        main.post { report.text = "${launch.problem}\n\nCannot write the result: ${e.message}" }
                    }
                }
            }
        } else if (launch.autorun) {
            run.performClick()
        }
    }

    override fun onDestroy() {
        worker.shutdown()
        super.onDestroy()
    }

    /** The intent's extras as a map for the core (Bundle.get: any type, as am start gives it). */
    @Suppress("DEPRECATION")
    private fun extras(): Map<String, Any?> =
        intent.extras?.let { b -> b.keySet().associateWith { b.get(it) } }.orEmpty()

    private fun measure(launch: BenchLaunch): String {
        val bench = Benchmark(applicationContext)
        val doc = try {
            // a pushed model, or a thread count of its own, is loaded for this run only
            val own = launch.modelDir != null || launch.threads > 0
            val model = when {
                launch.modelDir != null -> LoadedModel.fromFolder(File(launch.modelDir), launch.threads)
                launch.threads > 0 -> LoadedModel.fromAssets(applicationContext, launch.threads)
                else -> ModelHolder.get(applicationContext)
            }
            try {
                bench.measure(model, launch)
            } finally {
                if (own) model.close()
            }
        } catch (e: RuntimeException) {  // SkinedgeException (card, model) or the runtime's own
            bench.failed(launch, if (e is SkinedgeException) e.message ?: e.toString()
                                 else "benchmark failed: ${e.message ?: e}")
        }
        val file = try {
            bench.save(doc)
        } catch (e: IOException) {
            return "Cannot write the result: ${e.message ?: e}"
        }
        val row = doc.getJSONArray("rows").getJSONObject(0)
        if (row.getString("status") != "ok") {
            return "${row.getString("error")}\n\nadb pull ${file.absolutePath}"
        }
        val lat = row.getJSONObject("latency_ms").getJSONObject("1")
        return String.format(Locale.US,
            "%s on %s\nmedian %.3f ms, p90 %.3f ms, p99 %.3f ms, trimmed mean %.3f ms, min %.3f ms " +
                "(%d runs after %d warm-up)\nload %.3f s, peak RSS %.0f MB\n\nJSON (skinedge.bench/2):\n%s\n" +
                "adb pull %s",
            row.getString("name"), doc.getJSONObject("host").getString("device"),
            lat.getDouble("median"), lat.getDouble("p90"), lat.getDouble("p99"),
            lat.getDouble("trimmed_mean"), lat.getDouble("min"), launch.runs, launch.warmup,
            row.getDouble("load_s"), row.getDouble("peak_rss_mb"), file.absolutePath, file.absolutePath)
    }
}
