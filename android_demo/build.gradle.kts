// Versions live in gradle/libs.versions.toml (tests/test_android_demo.py checks that the
// ExecuTorch runtime there is the executorch pinned in pyproject.toml).
plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.kotlin.android) apply false
}
