package org.skinedge.demo

import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.net.Uri
import androidx.exifinterface.media.ExifInterface
import java.io.ByteArrayInputStream
import java.io.IOException
import org.skinedge.core.DecodedImage
import org.skinedge.core.ImageException
import org.skinedge.core.ModelImage

/**
 * A photo's pixels as the core wants them: BitmapFactory at full size, ARGB_8888, alpha not
 * premultiplied (premultiplying would round away what the white compositing needs), never
 * scaled (the core resizes exactly as Pillow does), and the EXIF orientation read separately
 * (BitmapFactory ignores it). Known limit: 16-bit PNGs arrive as 8 bits by Android's rounding.
 */
object PhotoDecoder {
    fun decode(resolver: ContentResolver, uri: Uri, name: String): Pair<DecodedImage, Bitmap> {
        val bytes = try {
            resolver.openInputStream(uri)?.use { it.readBytes() }
        } catch (e: IOException) {
            throw ImageException("$name: cannot read the file (${e.message})")
        } ?: throw ImageException("$name: cannot read the file")
        if (bytes.isEmpty()) {
            throw ImageException("$name: file is empty (0 bytes)")
        }
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        BitmapFactory.decodeByteArray(bytes, 0, bytes.size, bounds)
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) {
            throw ImageException("$name: not a readable image (unknown or unsupported format)")
        }
        ModelImage.checkSize(name, bounds.outWidth, bounds.outHeight)  // before any pixel is decoded
        val options = BitmapFactory.Options().apply {
            inPreferredConfig = Bitmap.Config.ARGB_8888
            inPremultiplied = false
            inScaled = false
        }
        val bitmap = try {
            BitmapFactory.decodeByteArray(bytes, 0, bytes.size, options)
        } catch (e: OutOfMemoryError) {
            throw ImageException("$name: ${bounds.outWidth}x${bounds.outHeight} is too large to " +
                "decode on this phone; downscale it first")
        } ?: throw ImageException("$name: corrupt or truncated image (the decoder gave up)")
        val orientation = try {
            ExifInterface(ByteArrayInputStream(bytes)).getAttributeInt(
                ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
        } catch (e: IOException) {
            ExifInterface.ORIENTATION_NORMAL
        }
        val argb = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val image = DecodedImage.fromArgb(name, bitmap.width, bitmap.height, argb,
            bitmap.hasAlpha(), orientation)
        return image to bitmap
    }
}
