"""android_demo/app compiled for real, and its Android-free Kotlin run on the JVM over golden/.

Every Kotlin file in android_demo/app/src/main is compiled with kotlinc (npm kotlin-compiler,
-Werror, -no-jdk: only what an Android phone has) against the API 23 android.jar, ExecuTorch's
own Java API (org.pytorch.executorch, react-native-executorch's classes.jar), the core module and
an R.java that aapt makes from the app's resources and manifest. The few androidx and Material
names the app uses come from compile-only stand-ins in tests/android_standins/ (README there).
Then the app's Kotlin unit tests (android_demo/app/src/test: the result text and the
classification glue) run in JUnit on a plain JVM, over the golden folders of the small test model
and the shipped one, with no Android or ExecuTorch class on the class path.

This does not prove that the app runs: no real androidx, no APK, no phone (tests/android_standins/
README.md). Skips with the reason when `bash tests/tools.sh kotlin` has not fetched the tools.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "android_demo"
APP = DEMO / "app"
STANDINS = ROOT / "tests" / "android_standins"
TOOLS = Path(os.environ.get("SKINEDGE_TOOLS") or Path.home() / ".cache" / "skinedge-tools")
ANDROID = TOOLS / "android"
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
JVM_JARS = {"junit4": ["/usr/share/java/junit4.jar"],
            "hamcrest": ["/usr/share/java/hamcrest-core.jar", "/usr/share/java/hamcrest.jar"],
            "org.json (libandroid-json-java)": ["/usr/share/java/android-json.jar",
                                                "/usr/share/java/com.android.json.jar"]}
STANDIN_LINE = 'throw new UnsupportedOperationException("compile-only stand-in")'


def _tools_or_skip() -> dict[str, Path]:
    tools = {"kotlinc": ANDROID / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc",
             "kotlin-stdlib": ANDROID / "node_modules" / "kotlin-compiler" / "lib" / "kotlin-stdlib.jar",
             "android.jar": ANDROID / "android-23" / "android.jar",
             "executorch": ANDROID / "executorch-android" / "classes.jar"}
    if not (ANDROID / ".skinedge-ready").is_file():
        failed = TOOLS / "android.failed"
        why = failed.read_text().strip() if failed.is_file() else f"no Android tools in {ANDROID}"
        pytest.skip(f"{why}: run `bash tests/tools.sh kotlin`")
    missing = [k for k, p in tools.items() if not p.is_file()]
    missing += [t for t in ("aapt", "javac", "java") if not shutil.which(t)]
    missing += [] if FRAMEWORK_RES.is_file() else ["android-framework-res"]
    if missing:
        pytest.skip(f"the Android compile needs {', '.join(missing)} (tests/tools.sh kotlin "
                    "fetches or installs them)")
    for what, candidates in JVM_JARS.items():
        jar = next((Path(c) for c in candidates if Path(c).is_file()), None)
        if jar is None:
            pytest.skip(f"the app's JVM tests need {what} (tests/tools.sh apt installs it)")
        tools[what] = jar
    return tools


def _run(argv: list, what: str) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{what} failed:\n{out[-8000:]}"
    return out


def _gradle(name: str) -> str:
    """A string value set in app/build.gradle.kts (namespace, applicationId, versionName)."""
    return re.search(rf'\b{name} = "([^"]+)"', (APP / "build.gradle.kts").read_text())[1]


def _generated_sources(out: Path) -> Path:
    """What the Android Gradle plugin generates before compiling: the merged manifest's package,
    R.java from the resources (aapt, against framework-res API 29 for the attributes the layouts
    use, and the stand-in Material resources) and BuildConfig.java. Returns the source folder."""
    src = out / "generated"
    src.mkdir()
    app_id = _gradle("applicationId")
    manifest = (APP / "src/main/AndroidManifest.xml").read_text()
    manifest = manifest.replace("<manifest ", f'<manifest package="{_gradle("namespace")}" ', 1)
    (out / "AndroidManifest.xml").write_text(manifest.replace("${applicationId}", app_id))
    _run(["aapt", "package", "-f", "-m", "-J", src, "-M", out / "AndroidManifest.xml",
          "-S", APP / "src/main/res", "-S", STANDINS / "res", "--auto-add-overlay",
          "-I", FRAMEWORK_RES, "--min-sdk-version", "26", "--target-sdk-version", "35"], "aapt")
    executorch = re.search(r'^executorch = "([^"]+)"',
                           (DEMO / "gradle/libs.versions.toml").read_text(), re.M)[1]
    pkg = _gradle("namespace")
    folder = src.joinpath(*pkg.split("."))
    (folder / "BuildConfig.java").write_text(
        f"package {pkg};\n\npublic final class BuildConfig {{\n"
        f'    public static final boolean DEBUG = true;\n'
        f'    public static final String APPLICATION_ID = "{app_id}";\n'
        f'    public static final String BUILD_TYPE = "debug";\n'
        f'    public static final String VERSION_NAME = "{_gradle("versionName")}";\n'
        f'    public static final String EXECUTORCH_VERSION = "{executorch}";\n}}\n')
    return src


@pytest.fixture(scope="module")
def compiled_app(tmp_path_factory) -> dict[str, Path]:
    """The app compiled: {"app": its classes, "core": the core's, ...the tools}."""
    tools = _tools_or_skip()
    out = tmp_path_factory.mktemp("android_app")
    android = tools["android.jar"]
    generated = _generated_sources(out)
    dirs = {k: out / k for k in ("standins", "generated_classes", "core", "app")}
    _run(["javac", "--release", "17", "-Xlint:all", "-Werror", "-d", dirs["standins"], "-cp",
          android, *sorted(STANDINS.rglob("*.java"))], "javac (androidx stand-ins)")
    _run(["javac", "--release", "17", "-d", dirs["generated_classes"], "-cp", android,
          *sorted(generated.rglob("*.java"))], "javac (R, BuildConfig)")
    # the core against the phone's own org.json (android.jar), with Java 8's library (minSdk 26)
    _run(["javac", "--release", "8", "-Xlint:all", "-Xlint:-options", "-Werror", "-d", dirs["core"],
          "-cp", android, *sorted((DEMO / "core/src/main").rglob("*.java"))], "javac (core)")
    classpath = [android, dirs["standins"], dirs["generated_classes"], dirs["core"], tools["executorch"]]
    said = _run([tools["kotlinc"], "-no-jdk", "-jvm-target", "17", "-Werror", "-d", dirs["app"],
                 "-cp", os.pathsep.join(map(str, classpath)),
                 *sorted((APP / "src/main").rglob("*.kt"))], "kotlinc (the app)")
    dirs["kotlinc_output"] = said
    return {**tools, **dirs}


def _declared(folder: Path, kinds: str) -> set[str]:
    out = set()
    for path in folder.rglob("*.kt"):
        out |= set(re.findall(rf"^(?:\w+ )*(?:{kinds}) (\w+)", path.read_text(), re.M))
    return out


def test_every_kotlin_file_of_the_app_compiles_without_a_warning(compiled_app):
    said = compiled_app["kotlinc_output"]
    assert "warning:" not in said and "error:" not in said, said
    classes = {p.stem for p in (compiled_app["app"] / "org/skinedge/demo").glob("*.class")}
    declared = _declared(APP / "src/main", "class|object|interface")
    assert len(declared) >= 9 and declared <= classes, sorted(declared - classes)
    # the two screens are Activities of the (stand-in) AppCompat class, run by ExecuTorch's API
    assert {"MainActivity", "BenchmarkActivity", "LoadedModel", "ViewsKt"} <= classes
    # only the app's own classes were written: no stand-in travels with it
    written = {p.relative_to(compiled_app["app"]).parts[0] for p in compiled_app["app"].rglob("*.class")}
    assert written == {"org"} and not list(compiled_app["app"].rglob("androidx"))


def test_stand_ins_are_only_compile_only_androidx_and_material():
    java = sorted(STANDINS.rglob("*.java"))
    assert java and all(p.relative_to(STANDINS / "java").parts[0] == "androidx" for p in java)
    for p in java:
        text = p.read_text()
        bodies = re.findall(r"\)\s*(?:throws [\w, ]+)?\{\n(.*?)\n\s*\}", text, re.S)
        assert all(b.strip() == STANDIN_LINE + ";" for b in bodies), p.name  # nothing runs
    res = (STANDINS / "res/values/material_standins.xml").read_text()
    assert "Theme.Material3" in res
    app = "\n".join(p.read_text() for p in (APP / "src/main").rglob("*.kt"))
    assert "stand-in" not in app  # the app's own sources hold no stubs
    used = set(re.findall(r"^import (androidx\.[\w.]+)", app, re.M))
    stood = {".".join(p.relative_to(STANDINS / "java").with_suffix("").parts) for p in java}
    assert all(any(u == s or u.startswith(s + ".") for s in stood) for u in used), used - stood
    readme = (STANDINS / "README.md").read_text()
    for needed in ("does not prove", "APK", "phone", "androidx"):
        assert needed in readme


@pytest.fixture(scope="module")
def kotlin_tests(compiled_app, tmp_path_factory) -> str:
    """The app's unit tests compiled (kotlinc, on the JDK) beside the core's test classes; the
    JVM class path to run them, with no Android, ExecuTorch or stand-in class on it."""
    t = compiled_app
    out = tmp_path_factory.mktemp("android_app_tests")
    core_tests, tests = out / "core_tests", out / "tests"
    jvm = [t["junit4"], t["hamcrest"], t["org.json (libandroid-json-java)"]]
    _run(["javac", "--release", "17", "-nowarn", "-d", core_tests, "-cp",
          os.pathsep.join(map(str, [t["core"], *jvm])),
          *sorted((DEMO / "core/src/test").rglob("*.java"))], "javac (core tests)")
    classpath = [t["app"], t["core"], core_tests, *jvm]
    said = _run([t["kotlinc"], "-jvm-target", "17", "-Werror", "-d", tests, "-cp",
                 os.pathsep.join(map(str, classpath)), *sorted((APP / "src/test").rglob("*.kt"))],
                "kotlinc (the app's tests)")
    assert "warning:" not in said, said
    return os.pathsep.join(map(str, [tests, *classpath, t["kotlin-stdlib"]]))


@pytest.fixture(params=["small_model", "shipped_model"])
def golden(request) -> Path:
    if request.param == "small_model":
        exported = request.getfixturevalue("exported")
        return Path(next(r.path for r in exported.values() if r.path)).parent / "golden"
    return request.getfixturevalue("shipped_export") / "golden"


def test_app_kotlin_unit_tests_pass_on_the_jvm_over_golden(kotlin_tests, golden):
    sources = sorted((APP / "src/test").rglob("*Test.kt"))
    classes = [f"org.skinedge.demo.{p.stem}" for p in sources]
    declared = sum(p.read_text().count("@Test") for p in sources)
    done = subprocess.run(["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                           f"-Dskinedge.golden={golden}", "-cp", kotlin_tests,
                           "org.junit.runner.JUnitCore", *classes],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"JUnit failed:\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
    ran = re.search(r"OK \((\d+) tests\)", done.stdout)
    assert ran and int(ran[1]) == declared >= 4, done.stdout[-2000:]
