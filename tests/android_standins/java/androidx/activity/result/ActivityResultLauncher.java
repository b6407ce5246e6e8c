package androidx.activity.result;

/** Compile-only stand-in for androidx.activity's ActivityResultLauncher. */
public abstract class ActivityResultLauncher<I> {
    public void launch(I input) {
        throw new UnsupportedOperationException("compile-only stand-in");
    }
}
