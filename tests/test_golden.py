"""Golden vectors (skinedge/golden.py): what `skinedge export` writes for the apps' tests
matches the preprocessing and the runtimes here, is byte-for-byte reproducible, and a
changed preprocessing is caught."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import skinedge
from skinedge.errors import OutputError
from skinedge.exporting import ExportConfig, run_export
from skinedge.golden import CHECKPOINT, GOLDEN, IMAGES, verify_golden, write_golden
from skinedge.layout import DEFAULT_MODEL
from skinedge.preprocess import to_model_input


@pytest.fixture(scope="module")
def golden(exported) -> Path:
    roots = {Path(r.path).parent for r in exported.values() if r.path}
    assert len(roots) == 1
    return roots.pop() / GOLDEN


def _models(small_model, exported) -> dict[str, Path]:
    return {CHECKPOINT: small_model, **{Path(r.path).name: Path(r.path)
                                        for r in exported.values() if r.status == "ok"}}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_export_writes_golden_with_a_manifest_of_every_file(golden, small_model, exported):
    index = json.loads((golden / "index.json").read_text())
    manifest = json.loads((golden / "manifest.json").read_text())
    assert [e["name"] for e in index["images"]] == [g.name for g in IMAGES]
    assert {m["name"] for m in index["models"]} == set(_models(small_model, exported))
    assert any(m["quantization"] == "int8" for m in index["models"])  # quantized artifacts too
    listed = {f["path"] for f in manifest["files"]}
    assert listed == set(_tree(golden)) - {"manifest.json"}
    assert "HAM10000" in (golden / "README.md").read_text()
    for e in index["images"]:  # the odd shapes and modes the apps must handle
        with Image.open(golden / e["file"]) as im:
            assert [*im.size, im.mode] == [*e["stored_size"], e["mode"]]
    assert {e["mode"] for e in index["images"]} >= {"RGB", "RGBA", "L", "I;16"}


def test_golden_inputs_equal_classifier_preprocess(golden, small_model, exported):
    index = json.loads((golden / "index.json").read_text())
    s = index["input_size"]
    floats = 0
    for path in _models(small_model, exported).values():
        clf = skinedge.load(path)
        for e in index["images"]:
            want = np.fromfile(golden / e["model_image"]["file"], np.uint8).reshape(s, s, 3)
            np.testing.assert_array_equal(clf.preprocess(golden / e["file"]), want)
            if "model_input" in e:
                f = np.fromfile(golden / e["model_input"]["file"], "<f4").reshape(1, 3, s, s)
                np.testing.assert_array_equal(to_model_input(want[None]), f)
                floats += 1
    assert floats


def test_recorded_probabilities_equal_what_each_runtime_returns_now(golden, small_model,
                                                                      exported):
    # Float kernels may round the last bit differently with another thread count (seen:
    # 1.1e-7 between two runs of one suite), so "now" means within 1e-6, far below the
    # tolerances the apps get.
    assert verify_golden(golden, _models(small_model, exported), atol=1e-6) == []


def test_rerun_gives_identical_bytes(golden, small_model, exported, tmp_path):
    artifacts = [p for n, p in _models(small_model, exported).items() if n != CHECKPOINT]
    again = write_golden(tmp_path / GOLDEN, small_model, artifacts)
    a, b = _tree(again), _tree(golden)
    assert a.keys() == b.keys()
    # images, model inputs, cards, index: the same bytes; recorded outputs: the same to 1e-6
    # (see above); the manifest lists their sha256, so it may differ with them
    floats = {k for k in a if k.startswith("expected/")} | {"manifest.json"}
    assert {k: a[k] for k in a.keys() - floats} == {k: b[k] for k in b.keys() - floats}
    for k in floats - {"manifest.json"}:
        np.testing.assert_allclose(_numbers(json.loads(a[k])), _numbers(json.loads(b[k])),
                                   atol=1e-6)


def _numbers(doc) -> list[float]:
    """Every number in a JSON document, in order."""
    if isinstance(doc, dict):
        return [x for k in sorted(doc) for x in _numbers(doc[k])]
    if isinstance(doc, list):
        return [x for v in doc for x in _numbers(v)]
    return [float(doc)] if isinstance(doc, (int, float)) and not isinstance(doc, bool) else []


@pytest.mark.parametrize("change", ["resize filter", "float input rule"])
def test_a_changed_preprocessing_fails_the_check(golden, small_model, monkeypatch, change):
    models = {CHECKPOINT: small_model}
    assert verify_golden(golden, models) == []
    if change == "resize filter":
        monkeypatch.setattr(Image, "BILINEAR", Image.BICUBIC)
    else:
        monkeypatch.setattr("skinedge.preprocess.to_model_input",
                            lambda b: np.ascontiguousarray(b.transpose(0, 3, 1, 2),
                                                           dtype=np.float32) / 256.0)
    problems = verify_golden(golden, models)
    print("\n".join(problems))  # shown with pytest -s: what an app or a refactor would see
    what = "model image of" if change == "resize filter" else "model input of"
    assert any(p.startswith(what) for p in problems), problems


def test_default_model_golden_is_small(tmp_path):
    if not (DEFAULT_MODEL / "card.json").is_file():
        pytest.skip("no shipped default model in this checkout")
    root = write_golden(tmp_path / GOLDEN, DEFAULT_MODEL)
    assert sum(len(b) for b in _tree(root).values()) < 1_000_000


def test_export_refuses_a_golden_folder_it_did_not_write(small_model, tmp_path):
    (tmp_path / GOLDEN).mkdir()
    (tmp_path / GOLDEN / "mine.txt").write_text("not from skinedge")
    with pytest.raises(OutputError, match="--no-golden"):
        run_export(ExportConfig(model=str(small_model), target="onnx", quant="fp32",
                                out=str(tmp_path), progress=False))
    assert (tmp_path / GOLDEN / "mine.txt").read_text() == "not from skinedge"
    assert not list(tmp_path.glob("*.onnx"))
