package androidx.appcompat.app;

import androidx.activity.ComponentActivity;

/** Compile-only stand-in for androidx.appcompat's AppCompatActivity: nothing of its own is
 * called, only what it inherits. */
public class AppCompatActivity extends ComponentActivity {
}
