package org.skinedge.demo

import android.app.Activity
import android.view.View

/**
 * The view [id] of this screen's layout, as the [T] the layout declares. `findViewById<T>` is
 * generic only from API 26 on; this reads the same on every API level, so the app also compiles
 * against the API 23 android.jar that tests/test_android_app.py builds it with.
 */
inline fun <reified T : View> Activity.view(id: Int): T {
    val found: View = findViewById(id)
        ?: throw IllegalStateException("no view ${resources.getResourceName(id)} in this layout")
    return found as T
}
