package androidx.activity.result.contract;

import android.net.Uri;
import androidx.activity.result.PickVisualMediaRequest;

/** Compile-only stand-in for androidx.activity's ActivityResultContracts: the two the app uses. */
public final class ActivityResultContracts {
    public static class PickVisualMedia extends ActivityResultContract<PickVisualMediaRequest, Uri> {
        /** A Kotlin object in androidx; a static field reads the same from Kotlin. */
        public static final VisualMediaType ImageOnly = new VisualMediaType();

        public static class VisualMediaType {
        }
    }

    public static class TakePicture extends ActivityResultContract<Uri, Boolean> {
    }
}
