"""native/skinedge_runner: a .pte runner on ExecuTorch's C++ runtime, built here against the
pinned executorch wheel's libraries and headers (cmake -Dexecutorch_DIR=...), as a phone runs it.

- It reproduces golden/'s probabilities of every .pte there (fp32 to 1e-4, int8 to 1e-2, the
  tolerances index.json gives), on the golden model images, and prints the card it embeds.
- `skinedge bench --device android --runner executor_runner --runner-bin` drives it end to end
  through a fake adb whose phone is this host (tests/fixtures/host_adb.py): the runner is pushed,
  executed there and its output parsed; no transcript is replayed.
- `skinedge bench --native-runner` gives a native row beside each .pte's Python-binding row.
- Bad input: a file ExecuTorch cannot load, a card that does not fit the model, a sidecar of
  another export, a wrong-sized input: one line saying what failed, exit 1.
Skips with the reason when cmake, g++ or the executorch wheel's C++ package is missing.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skinedge.cli import main

ROOT = Path(__file__).resolve().parents[1]
NATIVE = ROOT / "native"
HOST_ADB = Path(__file__).parent / "fixtures" / "host_adb.py"
OUTPUT = re.compile(r"^Output 0: tensor\(sizes=\[1, (\d+)\], \[(.*)\]\)$", re.M)
ERROR_LINE = re.compile(r"^E \d\d:\d\d:\d\d\.\d{6} executorch:skinedge_runner\.cpp:\d+\] (.+)$", re.M)


def sidecar(pte: Path) -> Path:
    return pte.parent / f"{pte.stem}.card.json"


def _executorch_cmake_dir() -> Path:
    spec = importlib.util.find_spec("executorch")
    roots = list(spec.submodule_search_locations or []) if spec else []
    found = [Path(r) / "lib" / "cmake" / "executorch" for r in roots]
    found = [d for d in found if (d / "executorch-config.cmake").is_file()]
    if not found:
        pytest.skip("the executorch wheel's C++ package (executorch/lib/cmake/executorch) is not "
                    "installed: pip install -e '.[export]'")
    return found[0]


@pytest.fixture(scope="session")
def runner(tmp_path_factory) -> Path:
    """native/ configured and built with cmake into a temporary folder."""
    missing = [t for t in ("cmake", "g++") if not shutil.which(t)]
    if missing:
        pytest.skip(f"the native runner needs {', '.join(missing)} (bash tests/tools.sh native)")
    cmake_dir = _executorch_cmake_dir()
    build = tmp_path_factory.mktemp("native_build")
    for argv in (["cmake", "-S", NATIVE, "-B", build, f"-Dexecutorch_DIR={cmake_dir}"],
                 ["cmake", "--build", build, "-j", "2"]):
        done = subprocess.run(["nice", "-n", "10", *map(str, argv)], capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
    exe = build / "skinedge_runner"
    assert exe.is_file() and os.access(exe, os.X_OK)
    return exe


def run(exe: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=300)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _golden_folders(request) -> list[Path]:
    exported = request.getfixturevalue("exported")
    small = Path(next(r.path for r in exported.values() if r.path)).parent / "golden"
    return [small, request.getfixturevalue("shipped_export") / "golden"]


def _inputs(golden: Path, tmp: Path) -> list[tuple[str, Path]]:
    """Each golden image's model input, float32 NCHW (model_image / 255, the index's rule)."""
    index = json.loads((golden / "index.json").read_text())
    s, out = index["input_size"], []
    for e in index["images"]:
        hwc = np.fromfile(golden / e["model_image"]["file"], np.uint8).reshape(s, s, 3)
        nchw = (hwc.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1)[None]
        if "model_input" in e:  # the one golden keeps: the same bytes
            assert nchw.astype("<f4").tobytes() == (golden / e["model_input"]["file"]).read_bytes()
        path = tmp / f"{e['name']}.f32"
        np.ascontiguousarray(nchw, "<f4").tofile(path)
        out.append((e["name"], path))
    return out


def test_native_runner_reproduces_golden_probabilities_of_every_pte(runner, request, tmp_path):
    checked = {}
    for golden in _golden_folders(request):
        index = json.loads((golden / "index.json").read_text())
        inputs = _inputs(golden, tmp_path)
        for m in (m for m in index["models"] if m["name"].endswith(".pte")):
            pte = golden.parent / m["name"]
            done = run(runner, f"--model_path={pte}", "--num_executions=1", "--print_card",
                       f"--card_path={sidecar(pte)}",
                       *(f"--input_path={p}" for _, p in inputs))
            assert done.returncode == 0, done.stderr[-3000:]
            card = json.loads(re.search(r"^Model card: (.*)$", done.stdout, re.M)[1])
            assert card == json.loads((golden / m["card"]).read_text())  # the embedded card
            outputs = OUTPUT.findall(done.stdout)
            assert len(outputs) == len(inputs) and all(int(k) == len(index["labels"]) for k, _ in outputs)
            expected = json.loads((golden / m["expected"]).read_text())
            worst = max(np.abs(softmax(np.array([float(v) for v in values.split(", ")]))
                               - np.array(expected[name]["probabilities"])).max()
                        for (name, _), (_, values) in zip(inputs, outputs))
            tol = m["tolerance"]["probabilities_atol"]
            assert worst <= tol, f"{m['name']}: max |Δprob| {worst:.2e} > {tol}"
            checked[f"{golden.parent.name}/{m['name']}"] = (m["quantization"], worst)
    print("native runner vs golden, max |Δprob|:", checked)
    quants = {q for q, _ in checked.values()}
    assert "fp32" in quants and any(q.startswith("int8") for q in quants), checked


def _pte(exported, quant: str) -> Path:
    return next(Path(r.path) for r in exported.values()
                if r.path and r.path.endswith(".pte") and r.quantization.startswith(quant))


def _fails_with(done: subprocess.CompletedProcess, pattern: str) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    ours = ERROR_LINE.findall(done.stderr)
    assert len(ours) == 1 and re.search(pattern, ours[0]), done.stderr[-2000:]
    assert "Iteration" not in done.stdout
    return ours[0]


def test_a_file_executorch_cannot_load_is_one_line(runner, exported, tmp_path):
    pte = _pte(exported, "fp32")
    cut = tmp_path / "truncated.pte"
    cut.write_bytes(pte.read_bytes()[: pte.stat().st_size // 2])
    notes = tmp_path / "notes.pte"
    notes.write_text("not a program\n")
    for bad in (cut, notes):
        _fails_with(run(runner, f"--model_path={bad}"), rf"{bad}: ExecuTorch cannot load it .*export it again")
    _fails_with(run(runner, f"--model_path={tmp_path / 'missing.pte'}"), "no such file")
    _fails_with(run(runner, "--num_executions=3"), "no model: pass --model_path")
    _fails_with(run(runner, f"--model_path={pte}", "--num_executions=0"), "expected an integer >= 1")


def test_a_card_that_is_not_the_models_is_refused(runner, exported, tmp_path):
    fp32, int8 = _pte(exported, "fp32"), _pte(exported, "int8")
    other = sidecar(int8)
    said = _fails_with(run(runner, f"--model_path={fp32}", f"--card_path={other}"), "card mismatch")
    assert str(other) in said and "byte copy" in said
    s = json.loads(other.read_text())["input_size"]
    wrong = tmp_path / "wrong.f32"
    np.zeros((1, 3, s, s - 1), "<f4").tofile(wrong)
    _fails_with(run(runner, f"--model_path={fp32}", f"--input_path={wrong}"),
                rf"wrong.f32: {12 * s * (s - 1)} bytes, but the model takes a float32 \[1, 3, {s}, {s}\]")


@pytest.fixture
def resized_card_pte(exported, tmp_path) -> Path:
    """The int8 .pte with its embedded card's input_size changed and the file sealed again: a
    card skinedge accepts (its hash is right) that does not belong to the model in the file."""
    from skinedge.card import PLACEHOLDER, ModelCard, seal

    src = _pte(exported, "int8")
    card = ModelCard.load(sidecar(src))
    s, other = card.input_size, card.input_size + 32
    data = src.read_bytes()
    old = f'"input_size": {s},'.encode()
    assert data.count(old) == 1 and len(str(s)) == len(str(other))
    dest = tmp_path / src.name
    dest.write_bytes(data.replace(card.integrity_sha256.encode(), PLACEHOLDER.encode())
                     .replace(old, f'"input_size": {other},'.encode()))
    seal(dest)
    return dest


def test_an_embedded_card_of_another_input_size_is_refused(runner, resized_card_pte):
    said = _fails_with(run(runner, f"--model_path={resized_card_pte}"), "card mismatch")
    assert "the card belongs to another model" in said and "input_size" in said


class HostPhone:
    """tests/fixtures/host_adb.py first on PATH as `adb`; the phone's files in ``root``."""

    def __init__(self, tmp: Path, monkeypatch):
        self.root, self.log = tmp / "phone", tmp / "adb.jsonl"
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (self.root / "data" / "local" / "tmp").mkdir(parents=True)
        adb = bin_dir / "adb"
        adb.write_text(f"#!{sys.executable} -S\n" + HOST_ADB.read_text().split("\n", 1)[1])
        adb.chmod(0o755)
        self.log.touch()
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_PHONE_ROOT", str(self.root))
        monkeypatch.setenv("FAKE_ADB_LOG", str(self.log))
        for var in ("ANDROID_HOME", "ANDROID_SDK_ROOT"):
            monkeypatch.delenv(var, raising=False)

    def calls(self) -> list[list[str]]:
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]


def _bench(capsys, *args) -> tuple[int, str]:
    rc = main(["bench", *map(str, args)])
    return rc, capsys.readouterr().err


def test_bench_on_android_runs_the_pushed_native_runner(runner, exported, tmp_path, monkeypatch,
                                                         capsys):
    phone = HostPhone(tmp_path, monkeypatch)
    ptes = [_pte(exported, "fp32"), _pte(exported, "int8")]
    rc, err = _bench(capsys, *ptes, "--device", "android", "--runner", "executor_runner",
                     "--runner-bin", runner, "--warmup", 2, "--runs", 5, "--rounds", 2,
                     "--threads", 1, "--out", tmp_path / "res")
    assert rc == 0, err
    doc = json.loads((tmp_path / "res" / "phone-latest.json").read_text())
    assert [r["name"] for r in doc["rows"]] == [p.name for p in ptes]
    for row in doc["rows"]:
        assert row["status"] == "ok" and row["runner"] == "executor_runner", row
        assert row["latency_ms"]["1"]["n"] == 10 and 0 < row["latency_ms"]["1"]["median"] < 1e3
        assert row["load_s"] > 0 and row["peak_rss_mb"] > 1  # "Model loaded in", "Max RSS"
        assert row["device"]["model"] == "this host" and row["device"]["abi"] == "x86_64"
    calls = phone.calls()
    calls = [c for c in calls if len(c) > 3]  # -s SERIAL what args...
    pushed = [c for c in calls if c[2] == "push"]
    assert pushed[0][3] == str(runner) and {Path(c[3]).name for c in pushed[1:]} == {p.name for p in ptes}
    ran = [c for c in calls if c[2] == "shell" and "--model_path=" in c[3]]
    assert len(ran) == 4 and all("skinedge_runner" in c[3] and "--cpu_threads=1" in c[3] for c in ran)
    assert not any((phone.root / "data" / "local" / "tmp").iterdir())  # the work folder is gone


def test_bench_on_android_reports_the_runners_own_refusal(runner, resized_card_pte, tmp_path,
                                                          monkeypatch, capsys):
    HostPhone(tmp_path, monkeypatch)
    rc, err = _bench(capsys, resized_card_pte, "--device", "android", "--runner-bin", runner,
                     "--runner", "executor_runner", "--warmup", 0, "--runs", 1, "--rounds", 1,
                     "--out", tmp_path / "res")
    assert rc == 1
    row = json.loads((tmp_path / "res" / "phone-latest.json").read_text())["rows"][0]
    assert row["status"] == "failed"
    assert row["error"].startswith("skinedge_runner exited 1: card mismatch:"), row["error"]


def test_host_bench_gives_native_rows_beside_the_python_rows(runner, exported, tmp_path, capsys):
    pte = _pte(exported, "int8")
    rc, err = _bench(capsys, pte, "--native-runner", runner, "--batch-sizes", 1, "--warmup", 1,
                     "--runs", 5, "--rounds", 1, "--threads", 1, "--out", tmp_path / "res")
    assert rc == 0, err
    doc = json.loads((tmp_path / "res" / "latest.json").read_text())
    python, native = doc["rows"]
    assert (python["name"], native["name"]) == (pte.name, f"{pte.name} (native)")
    assert python["kind"] == "artifact" and native["kind"] == "native" and native["path"] == str(pte)
    assert native["status"] == "ok" and native["latency_ms"]["1"]["n"] == 5
    assert native["quantization"] == python["quantization"] and native["size_bytes"] == python["size_bytes"]
    assert native["peak_rss_mb"] > 0 and native["load_s"] > 0
    assert python["accuracy"] and native["accuracy"] is None and "native runner" in native["accuracy_error"]
    assert f"| {pte.name} (native) | ok |" in (tmp_path / "res" / "latest.md").read_text()


def test_native_runner_flag_is_checked(runner, tmp_path, capsys):
    rc = main(["bench", "--native-runner", str(tmp_path / "nope")])
    assert rc == 2 and "no such executable" in capsys.readouterr().err
    rc = main(["bench", str(tmp_path), "--device", "android", "--native-runner", str(runner)])
    assert rc == 2 and "--runner-bin" in capsys.readouterr().err
