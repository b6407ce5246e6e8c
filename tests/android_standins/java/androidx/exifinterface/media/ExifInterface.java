package androidx.exifinterface.media;

import java.io.IOException;
import java.io.InputStream;

/** Compile-only stand-in for androidx.exifinterface's ExifInterface. The two constants are
 * androidx's own values: the compiler copies constants into the app's classes. */
public class ExifInterface {
    public static final String TAG_ORIENTATION = "Orientation";
    public static final int ORIENTATION_NORMAL = 1;

    public ExifInterface(InputStream inputStream) throws IOException {
        throw new UnsupportedOperationException("compile-only stand-in");
    }

    public int getAttributeInt(String tag, int defaultValue) {
        throw new UnsupportedOperationException("compile-only stand-in");
    }
}
