plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "org.skinedge.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.skinedge.demo"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // Recorded in the benchmark JSON: the runtime the timings are from.
        buildConfigField("String", "EXECUTORCH_VERSION", "\"${libs.versions.executorch.get()}\"")
        ndk {
            // The ExecuTorch AAR ships these two ABIs.
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
    buildFeatures {
        buildConfig = true
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
    androidResources {
        // The .pte is memory-mapped after being copied out: keep it uncompressed in the APK.
        noCompress += "pte"
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.executorch.android)
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.appcompat)
    implementation(libs.androidx.activity)
    implementation(libs.androidx.exifinterface)
    implementation(libs.material)
}

// Copies a .pte written by `skinedge export --target executorch` and its <name>.card.json
// sidecar into the app's assets (app/src/main/assets/model/, git-ignored), replacing any
// model there:  ./gradlew :app:copySkinedgeModel -PskinedgeModel=/path/to/model.pte
val modelAssets = layout.projectDirectory.dir("src/main/assets/model")
tasks.register("copySkinedgeModel") {
    group = "skinedge"
    description = "Copy -PskinedgeModel=<file.pte> and its .card.json into the app's assets"
    val model = providers.gradleProperty("skinedgeModel")
    doLast {
        val pte = file(model.orNull ?: throw GradleException(
            "pass the model: -PskinedgeModel=/path/to/model.pte (from skinedge export --target executorch)"))
        val card = File(pte.parentFile, pte.name.removeSuffix(".pte") + ".card.json")
        if (!pte.isFile || !pte.name.endsWith(".pte")) {
            throw GradleException("$pte: no such .pte file")
        }
        val dest = modelAssets.asFile
        dest.mkdirs()
        dest.listFiles()?.forEach { it.delete() }
        pte.copyTo(File(dest, pte.name))
        if (card.isFile) {
            card.copyTo(File(dest, card.name))
        } else {
            logger.warn("$card: no sidecar card; the app reads the card embedded in the .pte")
        }
        logger.lifecycle("copied ${pte.name} into $dest")
    }
}
