package org.skinedge.demo

import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.widget.Button
import android.widget.ImageView
import android.widget.TextView
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.core.content.FileProvider
import java.io.File
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import org.skinedge.core.SkinedgeException

/**
 * The classification screen: pick or take a photo, then show the core's prediction, the input
 * gate's verdict, the card's intended use and the latency of the run. Loading and inference run
 * on one background thread; this class only moves results onto the views.
 */
class MainActivity : AppCompatActivity() {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private val main = Handler(Looper.getMainLooper())
    @Volatile
    private var classifier: Classifier? = null
    private var captureUri: Uri? = null

    private lateinit var status: TextView
    private lateinit var photo: ImageView
    private lateinit var result: TextView
    private lateinit var gate: TextView
    private lateinit var latency: TextView
    private lateinit var intendedUse: TextView
    private lateinit var buttons: List<Button>

    private val pick = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        uri?.let { classify(it, it.lastPathSegment ?: "photo") }
    }
    private val capture = registerForActivityResult(ActivityResultContracts.TakePicture()) { saved ->
        if (saved) captureUri?.let { classify(it, "camera photo") }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        status = view(R.id.model_status)
        photo = view(R.id.photo)
        result = view(R.id.result)
        gate = view(R.id.gate)
        latency = view(R.id.latency)
        intendedUse = view(R.id.intended_use)
        val pickButton = view<Button>(R.id.pick)
        val captureButton = view<Button>(R.id.capture)
        val benchButton = view<Button>(R.id.open_benchmark)
        buttons = listOf(pickButton, captureButton, benchButton)
        pickButton.setOnClickListener {
            pick.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
        }
        captureButton.setOnClickListener { capture.launch(newCaptureUri().also { captureUri = it }) }
        benchButton.setOnClickListener { startActivity(Intent(this, BenchmarkActivity::class.java)) }
        worker.execute { loadModel() }
    }

    override fun onDestroy() {
        worker.shutdown()
        super.onDestroy()
    }

    private fun loadModel() {
        try {
            val model = ModelHolder.get(applicationContext)
            classifier = Classifier(model)
            main.post {
                status.text = ResultText.modelStatus(model)
                intendedUse.text = ResultText.intendedUse(model.card)
                buttons.forEach { it.isEnabled = true }
            }
        } catch (e: SkinedgeException) {
            main.post { status.text = e.message }
        } catch (e: RuntimeException) {  // the runtime's own failures: shown, never a crash
            main.post { status.text = "The model could not be loaded: ${e.message ?: e}" }
        }
    }

    private fun classify(uri: Uri, name: String) {
        val clf = classifier ?: return
        result.text = getString(R.string.loading_model)
        gate.text = ""
        latency.text = ""
        worker.execute {
            try {
                val (image, bitmap) = PhotoDecoder.decode(contentResolver, uri, name)
                val c = clf.classify(image)
                val card = ModelHolder.get(applicationContext).card
                main.post {
                    photo.setImageBitmap(bitmap)
                    result.text = ResultText.classes(card, c.prediction)
                    gate.text = ResultText.gate(c.prediction)
                    latency.text = String.format(Locale.US,
                        "Preprocessing %.1f ms, inference %.1f ms (this run)", c.preprocessMs, c.inferenceMs)
                }
            } catch (e: RuntimeException) {  // SkinedgeException: the core's message as it is
                val message = if (e is SkinedgeException) e.message else "$name: ${e.message ?: e}"
                main.post {
                    photo.setImageDrawable(null)
                    result.text = message
                }
            }
        }
    }

    private fun newCaptureUri(): Uri {
        val dir = File(cacheDir, "captures").apply { mkdirs() }
        val file = File(dir, "capture.jpg")
        return FileProvider.getUriForFile(this, "$packageName.photos", file)
    }
}
