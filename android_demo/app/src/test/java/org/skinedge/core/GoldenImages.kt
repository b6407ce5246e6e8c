package org.skinedge.core

import java.nio.file.Path
import org.json.JSONArray
import org.json.JSONObject

/**
 * The core's test GoldenFolder (package-private Java, android_demo/core/src/test) opened to the
 * app's Kotlin tests: the folder named by -Dskinedge.golden, its images decoded as the core's
 * tests decode them (javax.imageio standing in for BitmapFactory), its cards and expectations.
 */
object GoldenImages {
    private val folder: GoldenFolder by lazy { GoldenFolder.fromEnvironment() }

    val root: Path get() = folder.root

    /** index.json's "images" entries. */
    val images: List<JSONObject>
        get() = folder.index.getJSONArray("images").let { a -> (0 until a.length()).map { a.getJSONObject(it) } }

    /** The names of the models index.json has expected outputs for. */
    val models: List<String>
        get() = folder.index.getJSONArray("models").let { a -> (0 until a.length()).map { a.getJSONObject(it).getString("name") } }

    fun card(model: String): ModelCard = folder.card(model)

    fun expected(model: String): JSONObject = JSONObject(GoldenFolder.read(root.resolve("expected/$model.json")))

    fun decode(image: JSONObject): DecodedImage = GoldenFolder.decode(root.resolve(image.getString("file")))

    fun modelImage(image: JSONObject): ByteArray =
        GoldenFolder.bytes(root.resolve(image.getJSONObject("model_image").getString("file")))

    fun doubles(a: JSONArray): DoubleArray = DoubleArray(a.length()) { a.getDouble(it) }
}
