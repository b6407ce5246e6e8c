package androidx.core.content;

import android.content.Context;
import android.net.Uri;
import java.io.File;

/** Compile-only stand-in for androidx.core's FileProvider: the one static method the app calls. */
public class FileProvider {
    public static Uri getUriForFile(Context context, String authority, File file) {
        throw new UnsupportedOperationException("compile-only stand-in");
    }
}
