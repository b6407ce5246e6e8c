"""Hostile input, round two (issue 24): what the integrity hash must cover (ONNX external data,
a .pte's sidecar), card text that would forge output lines, a gate that must never say
"usable" on NaN, commands that must not delete what they did not write, and a corrupted cache
entry that must not be used. Each of the issue's seven problems has a test here that failed
before its fix; the weak cases follow."""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_cli

import skinedge
from skinedge.api import DEFAULT_MODEL, SAMPLE_DATA
from skinedge.card import PLACEHOLDER, ModelCard, seal
from skinedge.checkpoint import CARD, WEIGHTS, save_checkpoint
from skinedge.errors import CheckpointError, DataError, OutputError
from skinedge.models import create_model
from skinedge.recipes import Recipe
from skinedge.targets import TARGETS
from skinedge.targets.common import CARD_KEY

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
IMAGES = sorted((SAMPLE_DATA / "images").iterdir())
IMAGE = IMAGES[0]
SIZE = 64


def _model_and_card():
    torch.manual_seed(0)
    m = create_model("mobilenetv4_conv_small", SIZE, (0.6,) * 3, (0.2,) * 3).eval()
    torch.nn.init.normal_(m.backbone.get_classifier().weight, std=0.05)
    card = ModelCard(architecture="mobilenetv4_conv_small", input_size=SIZE, mean=(0.6,) * 3,
                     std=(0.2,) * 3, params=1, flops=1)
    return m, card


def _swap(doc: dict, a: str, b: str) -> dict:
    labels, names = list(doc["labels"]), list(doc["label_names"])
    i, j = labels.index(a), labels.index(b)
    labels[i], labels[j], names[i], names[j] = labels[j], labels[i], names[j], names[i]
    return {**doc, "labels": labels, "label_names": names}


def _one_line(r: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    """fp32 .onnx and .pte (+ sidecar) of one small random model, written by the target
    modules' own export (no parity run)."""
    out = tmp_path_factory.mktemp("hostile_artifacts")
    model, card = _model_and_card()
    paths = {}
    for name, file in (("onnx", "m.onnx"), ("executorch", "m.pte")):
        TARGETS[name].load_module().export(model, card, out / file,
                                           Recipe(f"{name}-fp32", name, "fp32"), None)
        paths[name] = out / file
    return paths


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    model, card = _model_and_card()
    save_checkpoint(tmp_path / "ck", model, card)
    return tmp_path / "ck"


# -- 1. ONNX external data escapes the integrity hash -----------------------------------------

def test_an_onnx_with_external_data_is_refused(artifacts, tmp_path):
    """The probe sealed an .onnx whose initializers live in weights.bin, then changed only
    weights.bin: inspect said "sha256 ok" and predict changed its answer with exit 0."""
    import onnx

    m = onnx.load(str(artifacts["onnx"]))
    for p in m.metadata_props:
        if p.key == CARD_KEY:
            p.value = json.dumps({**json.loads(p.value), "integrity_sha256": PLACEHOLDER},
                                 indent=2, sort_keys=True)
    dest = tmp_path / "ext.onnx"
    onnx.save_model(m, str(dest), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin")
    seal(dest)
    assert (tmp_path / "weights.bin").stat().st_size > 100_000
    with pytest.raises(CheckpointError, match="external data.*weights.bin"):
        skinedge.load(dest)
    r = run_cli("inspect", str(dest))
    assert r.returncode != 0 and "sha256        ok" not in r.stdout
    assert "weights.bin" in r.stdout + r.stderr and "Traceback" not in r.stderr


# -- 2. a .pte sidecar that is not the embedded card ------------------------------------------

def test_a_pte_sidecar_that_is_not_its_embedded_card_is_refused(artifacts, tmp_path):
    """The probe appended a second card (mel and nv swapped), re-sealed both digests and used
    it as the sidecar: predict answered with the swapped labels. The sidecar must be the
    model_card method's constant, byte for byte."""
    from skinedge.targets.executorch import sidecar

    pte = artifacts["executorch"]
    side = json.loads(sidecar(pte).read_text())
    evil = json.dumps({**_swap(side, "mel", "nv"), "integrity_sha256": PLACEHOLDER}, indent=2,
                      sort_keys=True)
    dest = tmp_path / "m.pte"
    dest.write_bytes(pte.read_bytes().replace(side["integrity_sha256"].encode(),
                                              PLACEHOLDER.encode()) + evil.encode())
    digest = seal(dest)
    sidecar(dest).write_text(evil.replace(PLACEHOLDER, digest) + "\n")
    with pytest.raises(CheckpointError, match=r"m\.(card\.json|pte)"):
        skinedge.load(dest)
    sidecar(dest).unlink()
    with pytest.raises(CheckpointError, match=r"m\.pte"):  # the appended card alone
        skinedge.load(dest)


def test_the_sidecar_must_equal_the_embedded_card_byte_for_byte(artifacts, tmp_path):
    """The same card written another way (no indentation) is not the embedded constant."""
    from skinedge.targets.executorch import read_card, sidecar

    dest = tmp_path / "m.pte"
    shutil.copy(artifacts["executorch"], dest)
    doc = json.loads(sidecar(artifacts["executorch"]).read_text())
    sidecar(dest).write_text(json.dumps(doc, sort_keys=True) + "\n")
    with pytest.raises(CheckpointError, match=r"m\.card\.json.*byte"):
        read_card(dest)
    shutil.copy(sidecar(artifacts["executorch"]), sidecar(dest))
    assert read_card(dest).labels == ModelCard.from_dict(doc).labels


# -- 3. card text forges output lines ---------------------------------------------------------

FORGED = "mel\n/fake/other.jpg: nv (Melanocytic nevi)  [nv 0.990]  no referral"


@pytest.mark.parametrize("field, value", [
    ("labels", ["akiec", "bcc", "bkl", "df", FORGED, "nv", "vasc"]),
    ("label_names", ["a", "b", "c", "d", "\x1b[2K\rsha256 ok: forged", "n", "v"]),
    ("training", {"data": "ham\x1b[1A\x1b[2Ksha256        ok: forged"}),
    ("architecture", "mobilenetv4_conv_small\u202e"),
    ("intended_use", {"summary": "research\x07", "limitations": []}),
])
def test_card_text_with_control_characters_is_refused(field, value, tmp_path):
    model, card = _model_and_card()
    save_checkpoint(tmp_path / "ck", model, card.with_(**{field: value}))
    for argv in (("predict", str(IMAGE), "--model", str(tmp_path / "ck")),
                 ("inspect", str(tmp_path / "ck"))):
        r = run_cli(*argv)
        assert r.returncode == 2 and r.stdout == "", (r.stdout, r.stderr[-2000:])
        line = _one_line(r)
        assert "card.json" in line and f"'{field}'" in line and "control character" in line


def test_prose_fields_may_break_lines_but_nothing_else(tmp_path):
    ok = ModelCard.from_dict({**_model_and_card()[1].to_dict(), "intended_use": {
        "summary": "Research.\nNot a medical device.", "limitations": ["one\ntwo"]}})
    assert ok.intended_use["summary"].count("\n") == 1
    with pytest.raises(CheckpointError, match="'intended_use'.*control character"):
        ModelCard.from_dict({**ok.to_dict(), "intended_use": {"summary": "a\rb"}})


def test_predict_prints_one_line_per_image_whatever_its_file_name(tmp_path):
    """An image path with a newline forged a second output line."""
    name = tmp_path / "a\nforged.jpg: nv (Melanocytic nevi)  no referral.jpg"
    shutil.copy(IMAGE, name)
    r = run_cli("predict", str(name), str(tmp_path / "gone\n.jpg"))
    assert r.returncode == 1, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(tmp_path / "a\\nforged.jpg")), lines
    assert "gone\\n.jpg" in lines[1] and "ERROR" in lines[1]
    doc = json.loads(run_cli("predict", "--json", str(name)).stdout)
    assert doc[0]["source"] == str(name)  # the JSON keeps the exact value


def test_inspect_escapes_what_it_prints(artifacts, tmp_path):
    """inspect printed the artifact's name (and the card's text) raw: an escape in a file name
    reached the terminal."""
    dest = tmp_path / "m\x1b[2K\nsha256 ok.onnx"
    shutil.copy(artifacts["onnx"], dest)
    r = run_cli("inspect", str(dest))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "\x1b" not in r.stdout and r.stdout.splitlines()[0].startswith("m\\x1b[2K\\nsha256")


# -- 4. the gate says "usable" on NaN; gate ranges unchecked (Python side; the apps below) ----

def _hostile_gates() -> list[dict]:
    return json.loads((FIXTURES / "hostile_cards.json").read_text())["gates"]


@pytest.mark.parametrize("case", _hostile_gates(), ids=lambda c: c["name"])
def test_a_hostile_gate_field_is_refused(case):
    from skinedge.gate import check_gate

    gate = json.loads((DEFAULT_MODEL / "card.json").read_text())["gate"]
    bad = _apply(gate, case["edit"])
    assert check_gate(gate) == "" and check_gate(bad) != "", case
    with pytest.raises(CheckpointError, match="'gate'"):
        ModelCard.from_dict({**_model_and_card()[1].to_dict(), "gate": bad})


def _apply(gate: dict, edit: dict) -> dict:
    """``edit``: {"a.b": value} sets gate["a"]["b"]; a value {"fill": x} fills a matrix."""
    out = json.loads(json.dumps(gate))
    for path, value in edit.items():
        *parents, key = path.split(".")
        d = out
        for p in parents:
            d = d[p]
        if isinstance(value, dict) and "fill" in value:
            value = [[value["fill"]] * len(row) for row in d[key]]
        d[key] = value
    return out


def test_a_non_finite_ood_score_is_not_usable():
    from skinedge.gate import assess

    gate = json.loads((DEFAULT_MODEL / "card.json").read_text())["gate"]
    image = np.asarray(skinedge.load().preprocess(IMAGE))
    assert assess(image, (600, 450), gate).usable
    nan = _apply(gate, json.loads((FIXTURES / "hostile_cards.json").read_text())["nan_gate"])
    v = assess(image, (600, 450), nan)
    assert not v.usable and any("not finite" in r for r in v.reasons), v


# -- 5. calibrate --out deletes a user's folder -----------------------------------------------

@pytest.fixture
def model_copy(tmp_path) -> Path:
    shutil.copytree(DEFAULT_MODEL, tmp_path / "model")
    return tmp_path / "model"


def test_calibrate_out_refuses_a_folder_that_is_not_its_checkpoint(model_copy, tmp_path):
    """A folder with any card.json was swapped out and deleted (thesis.docx, photos/ gone)."""
    user = tmp_path / "mine"
    (user / "photos").mkdir(parents=True)
    (user / "photos" / "a.jpg").write_bytes(b"jpeg")
    (user / "thesis.docx").write_text("years of work")
    (user / "card.json").write_text('{"not": "a model card"}')
    r = run_cli("calibrate", str(model_copy), "--data", str(SAMPLE_DATA), "--out", str(user))
    assert r.returncode == 2 and str(user) in _one_line(r), r.stderr[-2000:]
    assert (user / "thesis.docx").read_text() == "years of work"
    assert sorted(p.name for p in user.rglob("*")) == ["a.jpg", "card.json", "photos",
                                                       "thesis.docx"]


def test_calibrate_out_refuses_a_checkpoint_with_files_it_would_lose(model_copy, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(DEFAULT_MODEL, other)
    (other / "notes.txt").write_text("mine")
    r = run_cli("calibrate", str(model_copy), "--data", str(SAMPLE_DATA), "--out", str(other))
    line = _one_line(r)
    assert r.returncode == 2 and "notes.txt" in line and str(other) in line
    assert (other / "notes.txt").read_text() == "mine"


def test_calibrate_in_place_keeps_every_file_and_folder_and_warns_on_a_thin_split(
        model_copy, tmp_path):
    (model_copy / "notes").mkdir()
    (model_copy / "notes" / "n.txt").write_text("mine")
    (model_copy / "optimizer.safetensors").write_bytes(b"state")
    link = tmp_path / "link"
    link.symlink_to(model_copy)
    r = run_cli("calibrate", str(link), "--data", str(SAMPLE_DATA))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (model_copy / "notes" / "n.txt").read_text() == "mine"
    assert (model_copy / "optimizer.safetensors").read_bytes() == b"state"
    assert link.is_symlink() and ModelCard.load(model_copy / CARD).calibration
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no stray .old link
    warning = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    assert warning and "fewer than" in warning[0] and "validation images" in warning[0]


# -- 6. cache clear and LRU eviction delete user files ----------------------------------------

def _records(n: int, start: int = 0):
    from skinedge.data.ham10000 import Record

    return [Record(p.stem, p.stem, "nv", p) for p in IMAGES[start:start + n]]


def _user_files(root: Path) -> dict[Path, bytes]:
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "images_224px_train.npy", np.ones((4, 8, 8, 3), np.uint8))
    np.save(root / ".images_64px_holiday.tmp1.npy", np.ones((40, 8, 8, 3), np.uint8))
    np.save(root / "images_16px_0123456789abcdef01234567.npy", np.ones((2, 16, 16, 3), np.uint8))
    old = time.time() - 86_400
    for p in root.iterdir():
        os.utime(p, (old, old))
    return {p: p.read_bytes() for p in root.iterdir()}


def test_cache_clear_deletes_only_its_own_entries(tmp_path):
    root = tmp_path / "cache"
    mine = _user_files(root)
    env = {**os.environ, "SKINEDGE_CACHE": str(root)}
    subprocess.run([*_python(), "-c", "from skinedge.data.cache import cached_images;"
                    "from test_hostile import _records; cached_images(_records(2), 16, False)"],
                   env={**env, "PYTHONPATH": str(Path(__file__).parent)}, check=True)
    r = run_cli("cache", "clear", env=env)
    assert r.returncode == 0 and "removed 1 entry" in r.stdout, (r.stdout, r.stderr)
    assert {p: p.read_bytes() for p in root.iterdir()} == mine


def _python() -> list[str]:
    import sys

    return [sys.executable]


def test_cache_eviction_deletes_only_its_own_entries(tmp_path, monkeypatch):
    from skinedge.data.cache import cached_images

    root = tmp_path / "cache"
    mine = _user_files(root)
    monkeypatch.setenv("SKINEDGE_CACHE", str(root))
    monkeypatch.setenv("SKINEDGE_CACHE_MAX", str(2 * (16 * 16 * 3 * 2 + 128) + 10))
    for start in (0, 2, 4):  # the cap holds two entries: the first is evicted
        cached_images(_records(2, start), 16, progress=False)
    assert {p: p.read_bytes() for p in mine} == mine
    assert len([p for p in root.glob("images_16px_*.npy") if p not in mine]) == 2


# -- 7. a corrupted cache entry is used silently ----------------------------------------------

def test_a_corrupted_cache_entry_is_rebuilt_with_a_warning_never_used(tmp_path, monkeypatch,
                                                                     capfd):
    """The probe overwrote the cached array with zeros, keeping its shape: eval's balanced
    accuracy fell from 0.571 to 0.143 with exit 0 and no warning."""
    from skinedge.data.cache import cached_images

    monkeypatch.setenv("SKINEDGE_CACHE", str(tmp_path / "cache"))
    fresh = np.array(cached_images(_records(3), 16, progress=False))
    entry = next((tmp_path / "cache").glob("images_16px_*.npy"))
    np.save(entry, np.zeros_like(fresh))
    capfd.readouterr()
    again = np.array(cached_images(_records(3), 16, progress=False))
    assert re.search(r"skinedge: warning: .*images_16px_.*checksum.*decoding them again",
                     capfd.readouterr().err)
    assert np.array_equal(again, fresh)
    assert np.array_equal(np.load(entry), fresh)  # rebuilt on disk too


# -- the apps: the same hostile cards in the web demo, the Android core (and the iOS core's
# sources, which need a Mac to run) --------------------------------------------------------

def test_the_web_demo_refuses_the_same_hostile_cards():
    """web_demo/test/units.test.js reads tests/fixtures/hostile_cards.json too."""
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed (Node 20+ runs web_demo's JS tests)")
    r = subprocess.run([node, "--test", "--test-name-pattern",
                        "hostile|non-finite|prototype|control characters|image limits",
                        "test/units.test.js"], cwd=ROOT / "web_demo", capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "# pass 5" in r.stdout, r.stdout[-4000:] + r.stderr[-2000:]


def test_the_android_core_refuses_the_same_hostile_cards(tmp_path):
    """HostileCardTest (JUnit) over the same fixture, on the app's pure-JVM core."""
    from test_android_demo import CORE, _classpath

    jars = _classpath()
    sources = [*map(str, sorted((CORE / "main").rglob("*.java"))),
               str(CORE / "test" / "java" / "org" / "skinedge" / "core" / "HostileCardTest.java")]
    done = subprocess.run(["javac", "--release", "17", "-encoding", "UTF-8", "-d", str(tmp_path),
                           "-cp", ":".join(jars), *sources], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    r = subprocess.run(["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                        f"-Dskinedge.fixtures={FIXTURES}", "-cp", ":".join([str(tmp_path), *jars]),
                        "org.junit.runner.JUnitCore", "org.skinedge.core.HostileCardTest"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "OK (5 tests)" in r.stdout, r.stdout[-6000:] + r.stderr[-2000:]


def test_the_ios_core_tests_the_same_hostile_cards():
    """HostileCardTests.swift carries the fixture's cases (its package is built and tested in
    a chroot without the repository beside it): they must be the fixture's, unchanged."""
    text = (ROOT / "ios_demo" / "SkinedgeCore" / "Tests" / "SkinedgeCoreTests"
            / "HostileCardTests.swift").read_text()
    copy = json.loads(text.split('static let fixtureJSON = """', 1)[1].split('"""', 1)[0])
    fixture = json.loads((FIXTURES / "hostile_cards.json").read_text())
    assert copy == {k: fixture[k] for k in ("gates", "nan_gate", "referrals")}


# -- weak cases: the real cause, in one line, exit 2 ------------------------------------------

def test_a_card_nested_absurdly_deep_is_one_line(checkpoint):
    """100,000 levels gave a raw RecursionError (exit 1)."""
    doc = json.loads((checkpoint / CARD).read_text())
    for depth, why in ((100_000, "nests too deeply"), (40, "nests deeper than 32 levels")):
        (checkpoint / CARD).write_text(json.dumps({**doc, "training": {"x": 0}})
                                       .replace('{"x": 0}', "[" * depth + "]" * depth))
        with pytest.raises(CheckpointError, match=why):
            ModelCard.load(checkpoint / CARD)
    r = run_cli("predict", str(IMAGE), "--model", str(checkpoint))
    assert r.returncode == 2 and "card.json" in _one_line(r) and "nests" in r.stderr


def test_an_absurd_cache_cap_is_one_line(tmp_path):
    """SKINEDGE_CACHE_MAX with 400 digits gave an OverflowError traceback."""
    env = {**os.environ, "SKINEDGE_CACHE": str(tmp_path), "SKINEDGE_CACHE_MAX": "9" * 400}
    r = run_cli("cache", "info", env=env)
    assert r.returncode == 2 and "SKINEDGE_CACHE_MAX=" in _one_line(r) and "too large" in r.stderr


def test_a_device_where_a_file_goes_is_named_as_such(checkpoint):
    """model.safetensors linked to /dev/zero: "weights file not found" (predict), "header too
    small" (inspect)."""
    (checkpoint / WEIGHTS).unlink()
    (checkpoint / WEIGHTS).symlink_to("/dev/zero")
    for argv in (("predict", str(IMAGE), "--model", str(checkpoint)), ("inspect", str(checkpoint))):
        r = run_cli(*argv, timeout=120)
        assert r.returncode == 2, (argv, r.stdout[-2000:], r.stderr[-2000:])
        assert "model.safetensors: not a regular file (a device" in _one_line(r)


def test_a_full_disk_is_called_disk_full_at_the_path(tmp_path, monkeypatch):
    """export onto a full disk ended with "failed their parity check"."""
    import onnx

    from skinedge.atomic import write_text

    with pytest.raises(OutputError, match="disk full at /dev/full"):
        write_text("/dev/full", "x" * 100_000)

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(onnx, "save", full)
    model, card = _model_and_card()
    with pytest.raises(OutputError, match=f"disk full at {tmp_path / 'm.onnx'}"):
        TARGETS["onnx"].load_module().export(model, card, tmp_path / "m.onnx",
                                             Recipe("onnx-fp32", "onnx", "fp32"), None)


def test_the_aspect_ratio_is_given_exactly():
    """A 1001x100 image was refused as "aspect ratio 10:1, over the 10:1 limit"."""
    from skinedge.preprocess import load_image

    with pytest.raises(DataError, match="aspect ratio 1001:100, over the 10:1 limit"):
        load_image(np.zeros((100, 1001), np.uint8))
    assert load_image(np.zeros((100, 1000), np.uint8)).size == (1000, 100)


def test_the_card_image_limits_are_applied_by_the_api(checkpoint, tmp_path):
    model, card = _model_and_card()
    save_checkpoint(tmp_path / "strict", model, card.with_(image_limits={"min_side": 500}))
    clf = skinedge.load(tmp_path / "strict")
    with pytest.raises(DataError, match="min side 500 px"):
        clf.predict(IMAGE)  # 600x450: within the SDK's limits, not this card's
    assert skinedge.load(checkpoint).predict(IMAGE).label
    with pytest.raises(CheckpointError, match="'image_limits' must have max_pixels"):
        ModelCard.from_dict({**card.to_dict(), "image_limits": {"max_pixels": 10**12}})


def test_an_error_naming_a_file_with_a_line_break_is_one_line(tmp_path):
    """The top-level error printer escapes what it prints, like predict's own lines."""
    import sys as _sys

    model = tmp_path / "a\nfake.jpg: nv (no referral)"
    r = subprocess.run([_sys.executable, "-m", "skinedge.cli", "predict", "--model", str(model),
                        str(tmp_path / "x.jpg")], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "a\\nfake.jpg" in r.stderr
