"""Phone benchmarks without a phone: a fake `adb` (and `xcrun`) first on PATH records every call
and answers from transcripts (tests/fixtures/adb/transcripts/*.json) whose runner outputs
(tests/fixtures/adb/recorded/) follow the formats of ExecuTorch's executor_runner,
onnxruntime_perf_test, toybox `time -v`, minibench and devicectl. No real adb runs here.

The .pte is the small model's real int8 export (the session's `exported` fixture: its card is
read from the program itself); the .onnx is a one-node graph with a real, sealed card.
"""
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from skinedge.bench import android
from skinedge.bench.adb import Listed, choose, parse_devices
from skinedge.bench.importing import import_docs
from skinedge.cli import main
from skinedge.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures" / "adb"
PTE = "mobilenetv4_conv_small_xnnpack_int8.pte"
ONNX = "mobilenetv4_conv_small_onnx_fp32.onnx"
SERIAL = "3A281FDJH00C2P"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, exported) -> Path:
    """The small model's real int8 .pte (its card is read from the program, so a stand-in no
    longer passes) with its sidecar, and a sealed one-node .onnx."""
    import shutil

    import onnx
    from onnx import TensorProto, helper

    from skinedge.card import PLACEHOLDER, ModelCard, seal
    from skinedge.targets.common import CARD_KEY

    out = tmp_path_factory.mktemp("artifacts")
    pte = Path(exported["executorch-int8"].path)
    assert pte.name == PTE
    shutil.copy(pte, out / PTE)
    shutil.copy(pte.with_name(PTE.replace(".pte", ".card.json")), out / PTE.replace(".pte", ".card.json"))
    base = ModelCard.load(out / PTE.replace(".pte", ".card.json"))  # the same model's card
    blank = dict(artifact_sha256="", artifact_hash_scope="", integrity_sha256=PLACEHOLDER)
    size = base.input_size
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["logits"])], "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, size, size])])
    m = helper.make_model(graph)
    entry = m.metadata_props.add()
    entry.key = CARD_KEY
    entry.value = base.with_(format="onnx", quantization="fp32", artifact_file=ONNX, **blank).to_json()
    onnx.save(m, str(out / ONNX))
    seal(out / ONNX)
    return out


class Phone:
    """The fake tools on PATH; ``use(name)`` picks the transcript; ``calls()`` reads the log."""

    def __init__(self, tmp: Path, monkeypatch):
        self.bin, self.log = tmp / "bin", tmp / "adb_calls.jsonl"
        self.bin.mkdir()
        script = (FIXTURES / "fake_adb.py").read_text().split("\n", 1)[1]
        for tool in ("adb", "xcrun"):
            exe = self.bin / tool
            exe.write_text(f"#!{sys.executable} -S\n{script}")
            exe.chmod(0o755)
        self.log.touch()
        monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.delenv("ANDROID_HOME", raising=False)
        monkeypatch.delenv("ANDROID_SDK_ROOT", raising=False)
        monkeypatch.setenv("FAKE_ADB_LOG", str(self.log))
        self.monkeypatch = monkeypatch

    def use(self, transcript: str) -> None:
        self.monkeypatch.setenv("FAKE_ADB_TRANSCRIPT", str(FIXTURES / "transcripts" / f"{transcript}.json"))

    def calls(self, tool: str = "adb") -> list[str]:
        lines = [json.loads(x) for x in self.log.read_text().splitlines()]
        return [" ".join(c["argv"]) for c in lines if c["tool"] == tool]


@pytest.fixture
def phone(tmp_path, monkeypatch) -> Phone:
    return Phone(tmp_path, monkeypatch)


def bench(capsys, *args) -> tuple[int, str, str]:
    rc = main(["bench", *map(str, args)])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def run_android(capsys, artifacts, out, *extra, models=(PTE, ONNX)):
    return bench(capsys, *(artifacts / m for m in models), "--device", "android", "--out", out,
                 "--warmup", 2, "--runs", 5, "--rounds", 2, "--timeout", 5, *extra)


def test_success_rows_follow_the_host_schema_with_the_device(phone, artifacts, tmp_path, capsys):
    phone.use("success")
    rc, out, err = run_android(capsys, artifacts, tmp_path / "res")
    assert rc == 0, err
    doc = json.loads((tmp_path / "res" / "phone-latest.json").read_text())
    assert doc["schema"] == "skinedge.bench/2" and doc["batches"] == [1]
    pte, ort = (next(r for r in doc["rows"] if r["name"] == n) for n in (PTE, ONNX))
    # executor_runner: iterations 3..7 of each round (2 warm-up dropped), two rounds
    lat = pte["latency_ms"]["1"]
    assert lat["n"] == 10 and lat["median"] == pytest.approx(1.187) and lat["min"] == 1.164
    assert pte["load_s"] == pytest.approx(0.012274) and pte["peak_rss_mb"] == pytest.approx(38.0)
    assert pte["runner"] == "executor_runner" and pte["quantization"] == "int8-static"
    assert pte["architecture"] == "mobilenetv4_conv_small" and pte["size_bytes"] > 0
    assert pte["throughput_img_s"]["1"] == pytest.approx(1e3 / 1.187)
    # onnxruntime_perf_test: per-run seconds from its result file, load = session + first run
    assert ort["latency_ms"]["1"]["n"] == 10
    assert ort["latency_ms"]["1"]["median"] == pytest.approx(1.7)
    assert ort["load_s"] == pytest.approx(0.0412 + 0.006) and ort["peak_rss_mb"] == 45.0
    assert ort["role"] == "baseline" and pte["ratios"]["onnxruntime_fp32"]["1"] == pytest.approx(1.187 / 1.7)
    for r in (pte, ort):
        assert r["status"] == "ok" and r["device"] == doc["device"]
        assert {"name", "kind", "target", "quantization", "path", "role", "status", "error",
                "load_s", "latency_ms", "throughput_img_s", "peak_rss_mb", "size_bytes"} <= set(r)
    assert doc["device"] == {"platform": "android", "serial": SERIAL, "manufacturer": "Google",
                             "model": "Pixel 8", "soc": "Google Tensor G3",
                             "os": "Android 14 (SDK 34)", "abi": "arm64-v8a",
                             "governor": "schedutil", "cores": 9}
    assert f"| {PTE} | Google Pixel 8 (Android 14) | executor_runner | ok | 0.012 | 1.19 |" in out
    assert (tmp_path / "res" / "phone-latest.md").read_text() == out[:-1]  # print adds one \n


def test_adb_calls_push_run_pull_and_clean_up(phone, artifacts, tmp_path, capsys):
    phone.use("success")
    run_android(capsys, artifacts, tmp_path / "res")
    calls = phone.calls()
    assert calls[0] == "devices -l" and all(c.startswith(f"-s {SERIAL} ") for c in calls[1:])
    work = re.search(r"mkdir -p (/data/local/tmp/skinedge-bench-\S+);", calls[2])[1]
    assert any(c.endswith(f"push {artifacts / PTE} {work}/{PTE}") for c in calls)
    assert any(c.endswith(f"push {artifacts / ONNX} {work}/{ONNX}") for c in calls)
    runs = [c for c in calls if f"shell cd {work} && toybox time -v" in c]
    assert len(runs) == 4  # two artifacts, two rounds
    assert f"--model_path={work}/{PTE} --num_executions=7" in runs[0]
    assert f"-I -m times -r 7 -x 0 {work}/{ONNX}" in runs[1]
    assert sum(" pull " in f" {c}" for c in calls) == 6  # a log per run, a csv per ort run
    assert calls[-1] == f"-s {SERIAL} shell rm -rf {work}; echo skinedge-exit:$?"
    assert not any(w in c for c in calls for w in ("start-server", "kill-server", "pkill"))


def test_runner_binary_is_pushed_and_made_executable(phone, artifacts, tmp_path, capsys):
    phone.use("success")
    binary = tmp_path / "xnn_executor_runner"
    binary.write_bytes(b"\x7fELF")
    rc, out, err = run_android(capsys, artifacts, tmp_path / "res", "--runner", "executor_runner",
                               "--runner-bin", binary)
    assert rc == 0, err
    calls = phone.calls()
    work = re.search(r"mkdir -p (\S+);", calls[2])[1]
    assert f"-s {SERIAL} push {binary} {work}/xnn_executor_runner" in calls
    assert f"-s {SERIAL} shell chmod 755 {work}/xnn_executor_runner; echo skinedge-exit:$?" in calls
    assert any(f"toybox time -v {work}/xnn_executor_runner --model_path" in c for c in calls)
    doc = json.loads((tmp_path / "res" / "phone-latest.json").read_text())
    skipped = next(r for r in doc["rows"] if r["name"] == ONNX)  # the .pte runner skips .onnx
    assert skipped["status"] == "skipped" and "runs .pte files, not .onnx" in skipped["error"]


def test_minibench_app_results(phone, artifacts, tmp_path, capsys):
    phone.use("app_minibench")
    rc, out, err = run_android(capsys, artifacts, tmp_path / "res", "--runner", "app", models=(PTE,))
    assert rc == 0, err
    row = json.loads((tmp_path / "res" / "phone-latest.json").read_text())["rows"][0]
    lat = row["latency_ms"]["1"]
    assert lat["mean"] == 1.4213 and lat["trimmed_mean"] == 1.3655 and lat["median"] is None
    assert row["load_s"] == pytest.approx(0.01842) and row["peak_rss_mb"] == 21.7
    start = next(c for c in phone.calls() if " am start " in c)
    assert "--ei num_iter 5 --ei num_warm_up_iter 2" in start
    assert sum(" am start " in c for c in phone.calls()) == 1  # one launch, not one per round


ANDROID_CORE = Path(__file__).resolve().parents[1] / "android_demo" / "core" / "src"
ORG_JSON = ("/usr/share/java/android-json.jar", "/usr/share/java/com.android.json.jar")
DEMO_APP = "org.skinedge.demo/.BenchmarkActivity"


@pytest.fixture(scope="module")
def demo_app_side(tmp_path_factory) -> str:
    """The Android demo's core (javac) with AppBenchFixture: the app's side of a launch on the
    JVM, as a command line the fake adb runs for `am start`."""
    import shutil
    import subprocess

    jar = next((j for j in ORG_JSON if Path(j).is_file()), None)
    if not (shutil.which("java") and shutil.which("javac") and jar):
        pytest.skip("the Android demo's core needs java, javac and org.json "
                    "(tests/tools.sh installs openjdk-17-jdk-headless and libandroid-json-java)")
    out = tmp_path_factory.mktemp("android_core")
    sources = [*map(str, (ANDROID_CORE / "main").rglob("*.java")),
               str(next((ANDROID_CORE / "test").rglob("AppBenchFixture.java")))]
    done = subprocess.run(["javac", "--release", "17", "-encoding", "UTF-8", "-d", str(out),
                           "-cp", jar, *sources], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return f"java -Xshare:auto -XX:TieredStopAtLevel=1 -cp {out}:{jar} org.skinedge.core.AppBenchFixture"


def _demo_app(phone, monkeypatch, app_side, models: Path, tmp_path: Path) -> Path:
    """The fake phone answers `am start` with the demo app's JVM side, timing the .pte in
    `models`; returns the app's files folder (where it writes benchmark_results.json)."""
    files = tmp_path / "app_files"
    monkeypatch.setenv("FAKE_ADB_APP", f"{app_side} {files} {models} "
                                       f"{models / PTE.replace('.pte', '.card.json')}")
    monkeypatch.setenv("FAKE_ADB_APP_FILES", str(files))
    phone.use("app_skinedge_demo")
    return files


def test_the_demo_app_is_driven_by_the_app_runner(phone, artifacts, demo_app_side, tmp_path,
                                                   capsys, monkeypatch):
    """`--runner app --app org.skinedge.demo/.BenchmarkActivity`: the launch's extras are read by
    the app's own core, which writes the result file the harness then reads (no hand-written
    JSON): the app's statistics, load time and memory land in the row, the phone as getprop saw
    it stays the row's device."""
    files = _demo_app(phone, monkeypatch, demo_app_side, artifacts, tmp_path)
    rc, out, err = run_android(capsys, artifacts, tmp_path / "res", "--runner", "app", "--app",
                               DEMO_APP, "--threads", 2, "--timeout", 60, models=(PTE,))
    assert rc == 0, err
    start = next(c for c in phone.calls() if " am start " in c)
    assert f"-n {DEMO_APP} --es model_dir /data/local/tmp/skinedge-bench-" in start
    assert "--ei num_iter 5 --ei num_warm_up_iter 2 --ei num_threads 2" in start
    written = json.loads((files / "benchmark_results.json").read_text())
    assert written["schema"] == "skinedge.bench/2" and written["host"]["threads"] == 2
    doc = json.loads((tmp_path / "res" / "phone-latest.json").read_text())
    (row,) = doc["rows"]
    assert row["name"] == PTE and row["status"] == "ok" and row["runner"] == "app"
    # five timed runs of 1, 1.25, 1.5, 1.75, 1 ms, the app's own statistics
    lat = row["latency_ms"]["1"]
    assert lat["n"] == 5 and lat["median"] == 1.25 and lat["min"] == 1.0
    assert lat == written["rows"][0]["latency_ms"]["1"]
    assert row["load_s"] == 0.0315 and row["peak_rss_mb"] == 61.5
    assert row["device"]["serial"] == SERIAL and row["device"]["governor"] == "schedutil"
    assert row["app_device"]["model"] == "Google Pixel 8 (shiba)"
    assert f"| {PTE} | Google Pixel 8 (Android 14) | app | ok | 0.032 | 1.25 |" in out


def test_the_demo_apps_refusal_reaches_the_table(phone, artifacts, demo_app_side, tmp_path,
                                                  capsys, monkeypatch):
    """A .pte the app refuses (a changed byte: its integrity hash fails) is a failed row with
    the app's own message, exit 1, not a timeout."""
    import shutil

    pushed = tmp_path / "pushed"
    pushed.mkdir()
    data = bytearray((artifacts / PTE).read_bytes())
    data[3] ^= 1
    (pushed / PTE).write_bytes(bytes(data))
    shutil.copy(artifacts / PTE.replace(".pte", ".card.json"), pushed)
    _demo_app(phone, monkeypatch, demo_app_side, pushed, tmp_path)
    rc, out, err = run_android(capsys, artifacts, tmp_path / "res", "--runner", "app", "--app",
                               DEMO_APP, "--timeout", 60, models=(PTE,))
    assert rc == 1 and f"row(s) failed: {PTE}" in err
    (row,) = json.loads((tmp_path / "res" / "phone-latest.json").read_text())["rows"]
    assert row["status"] == "failed" and row["latency_ms"] == {}
    assert row["error"] == (f"the app says: failed: {PTE}: integrity sha256 does not match the "
                            "model card embedded in it: the file was changed, corrupted or "
                            "truncated after export; export it again")

@pytest.mark.parametrize("transcript, reason", [
    ("runner_crash", "executor_runner crashed (SIGSEGV)"),
    ("cannot_load", "executor_runner crashed (SIGABRT): In function main(), assert failed "
                    "(method.ok()): Loading of method forward failed with status 0x14"),
    ("unparseable", "cannot parse the output: no 'Iteration i of n: X ms' lines"),
    ("missing_binary", "executor_runner or xnn_executor_runner not found in /data/local/tmp"),
])
def test_a_failing_runner_fails_its_row_exit_1(phone, artifacts, tmp_path, capsys, transcript,
                                               reason):
    phone.use(transcript)
    rc, out, err = run_android(capsys, artifacts, tmp_path / "res")
    assert rc == 1 and f"row(s) failed: {PTE}" in err
    doc = json.loads((tmp_path / "res" / "phone-latest.json").read_text())
    row = next(r for r in doc["rows"] if r["name"] == PTE)
    assert row["status"] == "failed" and reason in row["error"], row["error"]
    assert row["latency_ms"] == {} and f"| {PTE} | Google Pixel 8 (Android 14) |" in out
    assert "rm -rf /data/local/tmp/skinedge-bench-" in phone.calls()[-1]
    if transcript == "missing_binary":
        assert not any("--model_path" in c for c in phone.calls())


def test_a_hanging_runner_is_killed_at_the_time_limit(phone, artifacts, tmp_path, capsys):
    phone.use("timeout")
    t0 = time.monotonic()
    rc, out, err = bench(capsys, artifacts / PTE, "--device", f"android:{SERIAL}", "--out",
                         tmp_path / "res", "--runs", 3, "--rounds", 1, "--timeout", 0.5)
    assert rc == 1 and time.monotonic() - t0 < 10
    row = json.loads((tmp_path / "res" / "phone-latest.json").read_text())["rows"][0]
    assert row["status"] == "failed" and row["error"] == "timed out after 0.5 s (--timeout)"
    calls = phone.calls()
    assert re.search(r"shell pkill -f '/data/local/tmp/skinedge-bench-\S+\[.\]'", calls[-2])
    assert "shell rm -rf " in calls[-1]


@pytest.mark.parametrize("transcript, message", [
    ("offline", f"Android device {SERIAL} is offline: reconnect the cable or run `adb reconnect`"),
    ("unauthorized", f"Android device {SERIAL} is unauthorized: unlock the phone and accept its "
                     "'Allow USB debugging?' prompt"),
    ("several", f"2 devices connected: {SERIAL} (Pixel_8, device), emulator-5554 "
                "(sdk_gphone64_x86_64, device); choose one with --device android:SERIAL"),
    ("none", "no Android device: `adb devices` lists none"),
])
def test_no_usable_phone_fails_every_row_and_writes_nothing(phone, artifacts, tmp_path, capsys,
                                                            transcript, message):
    phone.use(transcript)
    out_dir = tmp_path / "res"
    out_dir.mkdir()
    (out_dir / "phone-latest.json").write_text("earlier results")
    rc, out, err = run_android(capsys, artifacts, out_dir)
    assert rc == 1 and message in err and "nothing written" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["phone-latest.json"]
    assert (out_dir / "phone-latest.json").read_text() == "earlier results"
    assert out.count(f"| failed: {message[:40]}") == 2  # the table says why, row by row
    assert phone.calls() == ["devices -l"]


def test_a_serial_not_connected_is_named(phone, artifacts, tmp_path, capsys):
    phone.use("several")
    rc, out, err = bench(capsys, artifacts / PTE, "--device", "android:XYZ", "--out", tmp_path)
    assert rc == 1 and "device XYZ is not connected (adb lists: 3A281FDJH00C2P (Pixel_8, device)" in err


def test_no_adb_says_how_to_get_it(artifacts, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb anywhere
    monkeypatch.delenv("ANDROID_HOME", raising=False)
    monkeypatch.delenv("ANDROID_SDK_ROOT", raising=False)
    rc, out, err = bench(capsys, artifacts / PTE, "--device", "android", "--out", tmp_path / "r")
    assert rc == 1 and "adb not found: install Android SDK platform-tools" in err
    assert not (tmp_path / "r" / "phone-latest.json").exists()


def test_ios_needs_macos(artifacts, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    package = tmp_path / "mobilenetv4_conv_small_coreml_fp16.mlpackage"
    package.mkdir()
    rc, out, err = bench(capsys, package, "--device", "ios", "--out", tmp_path / "r")
    assert rc == 1 and "--device ios needs macOS with Xcode 15 or later (xcrun devicectl)" in err
    assert "skinedge bench --import FILE" in err


def test_ios_devicectl_round_trip(phone, tmp_path):
    """The devicectl steps, with the fake xcrun, on planned rows (no CoreML package is read:
    coremltools takes seconds to import)."""
    from skinedge.bench.device import DeviceOptions, Planned
    from skinedge.bench.ios import IosAppRunner, connect_ios, measure_ios
    from skinedge.bench.runner import BenchConfig

    phone.use("ios_success")
    cfg = BenchConfig(warmup=3, runs=10, timeout_s=5)
    opts = DeviceOptions(device="ios")
    session, device = connect_ios(cfg, opts, tmp_path)
    assert device["model"] == "iPhone 15 Pro" and device["os"] == "iOS 17.5"
    names = ("mobilenetv4_conv_small_coreml_fp16.mlpackage", "other_coreml_fp32.mlpackage")
    rows = [Planned(n, str(tmp_path / n), "coreml", runner=IosAppRunner) for n in names]
    measure_ios(session, rows, cfg, opts, tmp_path)
    assert rows[0].status == "ok" and rows[0].summary["median"] == 2.31
    assert rows[1].status == "failed" and "no row for other_coreml_fp32" in rows[1].error
    calls = phone.calls("xcrun")
    launch = next(c for c in calls if "process launch" in c)
    assert "--terminate-existing org.skinedge.demo -skinedgeBenchmark skinedge-bench -warmup 3 " \
           "-runs 10 -resultFile results-" in launch
    assert sum("device copy to" in c for c in calls) == 2


def test_import_merges_app_files_into_one_table(tmp_path, capsys):
    rc, out, err = bench(capsys, "--import", FIXTURES / "recorded" / "web_demo_results.json",
                         FIXTURES / "recorded" / "ios_app_results.json", "--out", tmp_path)
    assert rc == 0, err
    doc = json.loads((tmp_path / "imported-latest.json").read_text())
    assert [r["source"] for r in doc["rows"]] == ["web_demo_results.json", "ios_app_results.json"]
    assert doc["rows"][0]["device"]["model"].startswith("Chrome")
    assert "| mobilenetv4_conv_small_onnx_fp32.onnx |" in out and "Imported" in out


def test_import_of_the_android_demo_file_places_its_phone(tmp_path, capsys):
    """The Android demo files the phone under host (device, cpu = SoC, os, machine = ABI)."""
    rc, out, err = bench(capsys, "--import", FIXTURES / "recorded" / "android_app_results.json",
                         "--device", "android", "--out", tmp_path)
    assert rc == 0, err
    row = json.loads((tmp_path / "imported-latest.json").read_text())["rows"][0]
    assert row["device"] == {"platform": "android", "model": "Google Pixel 8", "soc": "Tensor G3",
                             "os": "Android 14 (API 34)", "abi": "arm64-v8a", "cores": 9}
    assert "| mobilenetv4_conv_small_xnnpack_int8.pte | Google Pixel 8 (Android 14) | import " \
           "android_app_results.json | ok | 0.031 | 1.50 |" in out


@pytest.mark.parametrize("content, message", [
    ('{"schema": "skinedge.bench/1", "rows": []}', "schema is 'skinedge.bench/1', expected "
                                                     "'skinedge.bench/2'"),
    ('{"schema": "skinedge.bench/2", "rows": [{"name": "a', "not valid JSON"),
    ('{"schema": "skinedge.bench/2", "rows": [{"name": "a", "status": "ok", "latency_ms": '
     '{"1": {"median": -3}}}]}', "rows[0].latency_ms['1'].median must be a finite number >= 0"),
    ('{"schema": "skinedge.bench/2", "rows": [{"name": "a", "status": "done", "latency_ms": {}}]}',
     "rows[0].status must be one of ok, failed, skipped"),
])
def test_import_refuses_a_bad_file_naming_it(tmp_path, capsys, content, message):
    bad = tmp_path / "phone.json"
    bad.write_text(content)
    rc, out, err = bench(capsys, "--import", FIXTURES / "recorded" / "ios_app_results.json", bad,
                         "--out", tmp_path / "res")
    assert rc == 2 and f"{bad}: " in err and message in err and "Traceback" not in err
    assert not (tmp_path / "res" / "imported-latest.json").exists()


def test_import_of_binary_garbage(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match=f"{re.escape(str(bad))}: not UTF-8"):
        import_docs([str(bad)], {})


@pytest.mark.parametrize("args, message", [
    (("--device", "androidx"), "expected android, android:SERIAL, ios or ios:UDID"),
    (("--device", "ios", "--runner", "app"), "--runner applies to --device android only"),
    (("--device", "android", "--runner-bin", "x"), "--runner-bin needs --runner"),
    (("--device", "android", "--runner", "executor_runner", "--runner-bin", "/no/such"),
     "--runner-bin /no/such: no such file"),
])
def test_usage_errors_exit_2(tmp_path, capsys, args, message):
    rc, out, err = bench(capsys, tmp_path, *args)
    assert rc == 2 and message in err


def test_nothing_to_run_on_the_device_is_a_usage_error(artifacts, tmp_path, capsys):
    rc, out, err = bench(capsys, "--device", "android", "--out", tmp_path)
    assert rc == 2 and "--device needs the artifacts to run" in err
    rc, out, err = bench(capsys, artifacts / PTE, "--device", "ios", "--out", tmp_path)
    assert rc == 2 and f"nothing to run on ios: {PTE}: ios_app on ios runs .mlpackage files, " \
                       "not .pte" in err


def test_parsers_drop_warm_up_and_read_units():
    log = (FIXTURES / "recorded" / "executor_runner.log").read_text()
    timed, load = android.parse_executor_runner(log, warmup=5)
    assert timed == [1.230, 1.175] and load == pytest.approx(0.012274)
    assert android.parse_max_rss_mb(log) == 38.0
    ns = "\n".join(f"m,{v},100,50,{i}" for i, v in enumerate((3_000_000, 2_000_000, 1_500_000)))
    assert android.parse_ort_perf_test("", ns, warmup=1)[0] == [2.0, 1.5]  # old: nanoseconds
    failed = android.parse_app_results('[{"metric": "load_status", "actualValue": 20}]', "m.pte")
    assert not failed.ok and "error 0x14" in failed.error
    with pytest.raises(android.ParseError, match="not JSON"):
        android.parse_app_results("{", "m.pte")


def test_adb_device_states_are_parsed():
    listed = parse_devices("* daemon not running; starting now at tcp:5037\n"
                           "List of devices attached\n"
                           "ABC  no permissions (user in plugdev group); see [http://x]\n")
    assert listed == [Listed("ABC", "no permissions", "(user in plugdev group); see [http://x]")]
    with pytest.raises(Exception, match="no permissions: this user may not open the USB device"):
        choose(listed, None)


def test_etdump_is_pulled_kept_and_profiled(phone, artifacts, tmp_path, capsys, monkeypatch):
    import skinedge.bench.device as device

    seen = []
    monkeypatch.setattr(device, "etdump_profile", lambda p: seen.append(p.read_bytes()) or
                        {"median_ms_per_event": {"DELEGATE_CALL": 0.9}})
    phone.use("etdump")
    rc, out, err = run_android(capsys, artifacts, tmp_path / "res", "--etdump", models=(PTE,))
    assert rc == 0, err
    recorded = (FIXTURES / "recorded" / "tiny_conv.etdp").read_bytes()
    assert seen == [recorded]
    row = json.loads((tmp_path / "res" / "phone-latest.json").read_text())["rows"][0]
    assert row["etdump"] == f"etdump/{PTE}.etdp" and row["profile"]["median_ms_per_event"]
    assert (tmp_path / "res" / row["etdump"]).read_bytes() == recorded
    assert any(f"--etdump_path={PTE}.r2.etdp" in c for c in phone.calls())
    assert f"- {PTE} ETDump (etdump/{PTE}.etdp): DELEGATE_CALL 0.900 ms" in out


@pytest.mark.slow
def test_a_recorded_etdump_reads_into_the_per_op_profile():
    pytest.importorskip("executorch.devtools")
    from skinedge.bench.device import etdump_profile

    prof = etdump_profile(FIXTURES / "recorded" / "tiny_conv.etdp")["median_ms_per_event"]
    assert "DELEGATE_CALL" in prof and "Method::execute" in prof
    assert "error" in etdump_profile(FIXTURES / "recorded" / "executor_runner.log")
