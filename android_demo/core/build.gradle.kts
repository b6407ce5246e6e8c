// The app's pure logic: card, preprocessing, calibration, referral, input gate, integrity,
// benchmark JSON. Plain Java on Java 8's library (what a minSdk 26 phone has), no Android
// classes, so the same code runs in JUnit on any JVM:
//   ./gradlew :core:test -Pskinedge.golden=/path/to/export/golden
plugins {
    `java-library`
}

tasks.withType<JavaCompile>().configureEach {
    options.encoding = "UTF-8"
    options.compilerArgs.addAll(listOf("-Xlint:all", "-Xlint:-options"))
}

tasks.named<JavaCompile>("compileJava") {
    options.release.set(8)
}

tasks.named<JavaCompile>("compileTestJava") {
    options.release.set(17)
}

dependencies {
    // Android has org.json built in; the JVM build and tests use the same implementation.
    compileOnly(libs.android.json)
    testImplementation(libs.android.json)
    testImplementation(libs.junit)
}

tasks.test {
    val golden = providers.gradleProperty("skinedge.golden").orElse(providers.environmentVariable("SKINEDGE_GOLDEN"))
    if (golden.isPresent) {
        systemProperty("skinedge.golden", golden.get())
    }
}
