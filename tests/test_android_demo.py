"""android_demo: the app's pure-JVM core (android_demo/core) compiled with javac and run with
JUnit over the golden vectors of a fresh export, so the phone app computes what Python computes.
No Gradle or Android SDK here: the Android app itself is built in Android Studio (see
android_demo/README.md)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "android_demo"
CORE = DEMO / "core" / "src"
JARS = {"junit4": ["/usr/share/java/junit4.jar"],
        "hamcrest": ["/usr/share/java/hamcrest-core.jar", "/usr/share/java/hamcrest.jar"],
        "org.json (libandroid-json-java)": ["/usr/share/java/android-json.jar",
                                            "/usr/share/java/com.android.json.jar"]}
PKG = "org.skinedge.core"


def _classpath() -> list[str]:
    missing, found = [], []
    for what, candidates in JARS.items():
        jar = next((c for c in candidates if Path(c).is_file()), None)
        (found.append(jar) if jar else missing.append(what))
    if missing or not shutil.which("java") or not shutil.which("javac"):
        missing += [t for t in ("java", "javac") if not shutil.which(t)]
        pytest.skip(f"android_demo JVM tests need {', '.join(missing)} (tests/tools.sh installs "
                    "openjdk-17-jdk-headless, junit4 and libandroid-json-java)")
    return found


@pytest.fixture(scope="module")
def golden(exported) -> Path:
    return next(Path(r.path).parent for r in exported.values() if r.path) / "golden"


@pytest.fixture(scope="module")
def core_classes(tmp_path_factory) -> tuple[Path, str]:
    """android_demo/core compiled (main and tests) into a temporary folder: (folder, classpath)."""
    jars = _classpath()
    out = tmp_path_factory.mktemp("android_core_classes")
    # The core ships in an app with minSdk 26: Java 8's library is what every such phone has
    # (no List.of, String.repeat...), so it is compiled against it; the tests may use Java 17.
    for part, release in (("main", "8"), ("test", "17")):
        sources = sorted(str(p) for p in (CORE / part).rglob("*.java"))
        done = subprocess.run(["javac", "--release", release, "-encoding", "UTF-8", "-Xlint:all",
                               "-Xlint:-options", "-Werror", "-d", str(out),
                               "-cp", ":".join([str(out), *jars]), *sources],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"javac ({part}) failed:\n{done.stdout}{done.stderr}"
    return out, ":".join([str(out), *jars])


def _java(classpath: str, *args: str, golden: Path | None = None) -> subprocess.CompletedProcess:
    props = [f"-Dskinedge.golden={golden}"] if golden else []
    return subprocess.run(["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", *props, "-cp",
                           classpath, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def shipped_golden(shipped_export) -> Path:
    """golden/ of the shipped, calibrated model's export (conftest): calibration, referral, gate."""
    return shipped_export / "golden"


def _junit_passes(classpath: str, golden: Path) -> None:
    tests = sorted(f"{PKG}.{p.stem}" for p in (CORE / "test").rglob("*Test.java"))
    assert len(tests) >= 5
    done = _java(classpath, "org.junit.runner.JUnitCore", *tests, golden=golden)
    assert done.returncode == 0, f"JUnit failed:\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
    ran = int(re.search(r"OK \((\d+) tests\)", done.stdout).group(1))
    assert ran >= 20 and "Ignored" not in done.stdout  # nothing skipped for want of golden/


def test_jvm_core_passes_every_golden_test(core_classes, golden):
    _junit_passes(core_classes[1], golden)


def test_jvm_trust_paths_match_the_shipped_models_golden(core_classes, shipped_golden):
    """The small test model has no calibration, referral or gate: the shipped model's golden is
    where the core's calibrated probabilities, malignant probability, refer/threshold and gate
    verdicts, reasons and scores are checked (GoldenVectorsTest), and its .pte's integrity."""
    index = json.loads((shipped_golden / "index.json").read_text())
    assert any(m["name"].endswith(".pte") for m in index["models"])
    preds = [e["prediction"] for m in index["models"]
             for e in json.loads((shipped_golden / m["expected"]).read_text()).values()]
    assert all(p["calibrated"] and p["threshold"] is not None for p in preds)
    assert {p["refer"] for p in preds} == {True, False}  # both verdicts
    assert {p["gate"]["usable"] for p in preds} == {True, False}
    assert any(p["gate"]["reasons"] for p in preds)
    _junit_passes(core_classes[1], shipped_golden)


def test_bench_json_rows_have_the_host_rows_fields(core_classes, exported, tmp_path):
    """The app's benchmark JSON (skinedge.bench/2) has exactly the fields of a host row, so
    `skinedge bench --import` can read it beside the host runtimes."""
    from skinedge.bench.importing import rows_of
    from skinedge.bench.report import SCHEMA, _row_doc
    from skinedge.bench.runner import BenchConfig, Row

    pte = next(Path(r.path) for r in exported.values() if r.path and r.path.endswith(".pte"))
    _, cp = core_classes
    done = _java(cp, f"{PKG}.BenchReportFixture", str(pte), str(tmp_path / "phone.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    phone = json.loads((tmp_path / "phone.json").read_text())
    host_row = _row_doc(Row(pte.name, "artifact", "executorch", "int8", str(pte),
                            timings={"1": [1.0, 2.0]}, load_s=[0.1]),
                        BenchConfig(batches=(1,)), {"peak": 100.0}, {})
    host_keys = set(host_row) | {"ratios"}  # ratios: added by report._add_ratios
    row = phone["rows"][0]
    assert phone["schema"] == SCHEMA
    assert set(row) == host_keys - {"fraction_of_matmul_peak"}  # fp32 peak: not on a phone
    assert set(row["latency_ms"]["1"]) == set(host_row["latency_ms"]["1"])
    assert {"schema", "date", "host", "software", "batches", "settings", "rows"} <= set(phone)
    assert set(phone["host"]) >= {"cpu", "cores", "threads", "os", "machine", "device"}
    assert row["latency_ms"]["1"]["median"] == 1.5 and row["input_size"] == 64
    imported = rows_of(phone, "phone.json")[0]  # what `skinedge bench --import` reads
    assert imported["device"]["platform"] == "android"
    assert imported["device"]["model"] == phone["host"]["device"]


def test_app_takes_labels_and_preprocessing_from_the_card():
    """No label code, class name, mean/std or input size is written into the Android app."""
    from skinedge.labels import CLASS_NAMES, CLASSES

    app = DEMO / "app" / "src" / "main"
    text = "\n".join(p.read_text() for p in app.rglob("*") if p.suffix in (".kt", ".xml", ".java"))
    for word in [*CLASSES, *CLASS_NAMES.values()]:
        assert not re.search(rf"\b{re.escape(word)}\b", text), f"app hard-codes '{word}'"
    assert not re.search(r"\b(0\.485|0\.229|0\.762663|128f?)\b", text)
    assert "createScaledBitmap" not in text  # not Pillow's filter: the core resizes


def test_executorch_android_matches_the_pinned_executorch():
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = [d for group in (pins["project"].get("optional-dependencies") or {}).values()
            for d in group] + pins["project"].get("dependencies", [])
    pinned = next(re.search(r"==([\w.]+)", d).group(1) for d in deps
                  if re.match(r"executorch\b", d) and "==" in d)
    catalog = tomllib.loads((DEMO / "gradle" / "libs.versions.toml").read_text())
    assert catalog["versions"]["executorch"] == pinned
