package androidx.activity.result.contract;

/** Compile-only stand-in for androidx.activity's ActivityResultContract. */
public abstract class ActivityResultContract<I, O> {
}
