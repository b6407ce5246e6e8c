package org.skinedge.demo

import android.content.Context

/** The one loaded model of the process, shared by both screens (loading it takes a while). */
object ModelHolder {
    @Volatile
    private var model: LoadedModel? = null

    /** Loads on first use; call off the main thread. Throws SkinedgeException with the reason. */
    @Synchronized
    fun get(context: Context): LoadedModel =
        model ?: LoadedModel.fromAssets(context.applicationContext).also { model = it }
}
