package androidx.activity.result;

/** Compile-only stand-in for androidx.activity's ActivityResultCallback. */
public interface ActivityResultCallback<O> {
    void onActivityResult(O result);
}
