package androidx.activity.result;

import androidx.activity.result.contract.ActivityResultContracts.PickVisualMedia.VisualMediaType;

/** Compile-only stand-in for androidx.activity's PickVisualMediaRequest (and the Kotlin
 * factory function of the same name, which the constructor stands for). */
public final class PickVisualMediaRequest {
    public PickVisualMediaRequest(VisualMediaType mediaType) {
        throw new UnsupportedOperationException("compile-only stand-in");
    }
}
