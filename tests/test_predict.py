"""The predict API: every input kind, every bad input, batches that survive a bad item."""
import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import skinedge
from skinedge.api import SAMPLE_DATA
from skinedge.data.cache import cached_images
from skinedge.data.ham10000 import Record
from skinedge.errors import DataError
from skinedge.preprocess import load_image, resize_center_crop

IMG = sorted((SAMPLE_DATA / "images").iterdir())[0]
FULLRES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ham10000" / "fullres"


@pytest.fixture(scope="module")
def clf(small_model):
    return skinedge.load(small_model)


def _png_with_size(path, w, h):
    """A tiny PNG file whose header claims w x h (a decompression bomb)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", w, h)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17]))
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


def test_path_pil_and_array_give_the_same_prediction(clf):
    pil = Image.open(IMG)
    arr = np.asarray(pil.convert("RGB"))
    a, b, c = clf.predict(str(IMG)), clf.predict(pil), clf.predict(arr)
    assert a.label == b.label == c.label
    assert a.probabilities == pytest.approx(b.probabilities) == c.probabilities
    assert len(a.top_k) == 3 and a.top_k[0][0] == a.label
    assert a.top_k[0][1] >= a.top_k[1][1] >= a.top_k[2][1]
    # float and uint16 arrays are rescaled, not clipped
    f = clf.predict(arr.astype(np.float32) / 255.0)
    u16 = clf.predict(arr.astype(np.uint16) * 257)
    assert f.probabilities == pytest.approx(a.probabilities, abs=1e-4)
    assert u16.probabilities == pytest.approx(a.probabilities, abs=1e-4)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16"])
def test_every_pil_mode_becomes_rgb(mode, tmp_path):
    rgb = Image.open(IMG).convert("RGB")
    img = rgb.convert("I;16") if mode == "I;16" else rgb.convert(mode)
    ext = "tiff" if mode in ("CMYK", "I;16") else "png"
    path = tmp_path / f"x.{ext}"
    img.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == rgb.size
    if mode in ("RGBA", "CMYK"):
        diff = np.abs(np.asarray(out, dtype=int) - np.asarray(rgb, dtype=int)).mean()
        assert diff < 3


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif.tobytes())
    assert load_image(path).size == (20, 40)


def test_resize_policy_is_shorter_side_then_center_crop():
    img = Image.new("RGB", (200, 100))
    img.paste((255, 255, 255), (0, 0, 40, 100))  # white left strip: cropped away
    out = resize_center_crop(img, 32)
    assert out.shape == (32, 32, 3) and out.max() == 0


@pytest.mark.parametrize("kind, message", [
    ("zero", "empty"), ("text", "not a readable image"), ("truncated", "corrupt or truncated"),
    ("tiny", "too small"), ("bomb", "decompression bomb"), ("missing", "not found"),
])
def test_bad_images_get_clear_errors(kind, message, tmp_path, clf):
    path = tmp_path / f"{kind}.png"
    if kind == "zero":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello")
    elif kind == "truncated":
        path = tmp_path / "t.jpg"
        path.write_bytes(IMG.read_bytes()[:600])
    elif kind == "tiny":
        Image.new("RGB", (1, 1)).save(path)
    elif kind == "bomb":
        _png_with_size(path, 20000, 20000)
    with pytest.raises(DataError, match=message) as exc:
        clf.predict(path)
    assert path.name in str(exc.value)


def test_a_bad_image_in_a_batch_keeps_the_others(clf, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    res = clf.predict([str(IMG), str(bad), np.asarray(Image.open(IMG))])
    assert res[0].label and res[2].label and res[1].label is None
    assert "bad.jpg" in res[1].error
    assert res[0].probabilities == pytest.approx(res[2].probabilities)


def test_predict_cli_json_and_exit_code(small_model, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "skinedge.cli", "predict", "--model", str(small_model),
                        str(IMG), str(bad), "--json"], capture_output=True, text=True)
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out[0]["label"] in skinedge.CLASSES and out[1]["error"]
    assert "1 of 2" in r.stderr


def test_inspect_summarises_and_checks(exported, tmp_path):
    pte = exported["executorch-int8"].path
    r = subprocess.run([sys.executable, "-m", "skinedge.cli", "inspect", pte],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for needle in ("sha256        ok", "Melanoma", "64x64 RGB", "int8", "M parameters",
                   "balanced accuracy", "delegates", "structure as the card says"):
        assert needle in r.stdout, needle
    card = json.loads(subprocess.run([sys.executable, "-m", "skinedge.cli", "inspect", pte, "--json"],
                                     capture_output=True, text=True).stdout)
    assert card["labels"] == list(skinedge.CLASSES) and card["input_size"] == 64
    bad = tmp_path / "bad.onnx"
    import onnx
    m = onnx.load(exported["onnx-fp32"].path)
    m.graph.initializer[0].raw_data = bytes(len(m.graph.initializer[0].raw_data))
    onnx.save(m, str(bad))
    r = subprocess.run([sys.executable, "-m", "skinedge.cli", "inspect", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "sha256        FAILED" in r.stdout and "sha256" in r.stderr


def _eval_and_predict_inputs(clf, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """What ``skinedge eval`` feeds the model (the image cache) and what ``predict`` does."""
    records = [Record(p.stem, p.stem, "nv", p) for p in paths]
    cached_images(records, clf.card.input_size, progress=False)  # builds the cache file
    from_cache = np.asarray(cached_images(records, clf.card.input_size, progress=False))
    return from_cache, np.stack([clf.preprocess(p) for p in paths])


@pytest.mark.parametrize("source", ["sample", "fullres"])
def test_eval_and_predict_give_the_model_the_same_bytes(source, exported):
    if source == "sample":
        paths = sorted((SAMPLE_DATA / "images").iterdir())[:8]
    else:
        if not FULLRES.is_dir():
            pytest.skip(f"{FULLRES} not present")
        paths = sorted(FULLRES.rglob("*.jpg"))[:3]
        assert Image.open(paths[0]).size == (600, 450)
    clf = skinedge.load(exported["executorch-int8"].path)
    evaluated, predicted = _eval_and_predict_inputs(clf, paths)
    assert evaluated.tobytes() == predicted.tobytes()
    probs = clf.predict_batch_array(evaluated)
    results = clf.predict([str(p) for p in paths])
    assert [r.label for r in results] == [clf.labels[i] for i in probs.argmax(1)]
    assert np.array_equal(probs, [[r.probabilities[c] for c in clf.labels] for r in results])


def test_a_preprocessing_change_invalidates_the_image_cache(monkeypatch):
    import skinedge.data.cache as cache

    def mirrored(src, size, name=None):  # another preprocessing, its version left unbumped
        return resize_center_crop(load_image(src, name).transpose(Image.FLIP_LEFT_RIGHT), size)

    paths = sorted((SAMPLE_DATA / "images").iterdir())[:3]
    before = cache._key(paths, 32)
    with monkeypatch.context() as m:
        m.setattr(cache, "PREPROCESS_VERSION", cache.PREPROCESS_VERSION + 1)
        assert cache._key(paths, 32) != before
    with monkeypatch.context() as m:
        m.setattr(cache, "model_image", mirrored)
        cache.preprocessing_fingerprint.cache_clear()
        try:
            assert cache._key(paths, 32) != before
        finally:
            cache.preprocessing_fingerprint.cache_clear()


def test_tied_classes_get_the_same_label_from_predict_and_eval(tmp_path):
    # An int8 artifact's logits sit on a grid, so two classes can tie exactly: 9 of the 1,274
    # dev test images under the shipped model's int8 .pte, mel against nv among them.
    from skinedge.card import ModelCard
    from skinedge.checkpoint import save_checkpoint
    from skinedge.metrics import classification_metrics
    from skinedge.models import create_model

    model = create_model("mobilenetv4_conv_small", 32, (0.5,) * 3, (0.2,) * 3).eval()
    with torch.no_grad():  # the head starts at zero: every image's logits are its bias
        model.backbone.get_classifier().bias.copy_(torch.tensor([0, 0, 0, 0, 1.0, 1.0, 0]))
    card = ModelCard(architecture="mobilenetv4_conv_small", input_size=32, mean=(0.5,) * 3,
                     std=(0.2,) * 3, params=1, flops=1)
    save_checkpoint(tmp_path / "tie", model, card)
    clf = skinedge.load(tmp_path / "tie")
    probs = clf.predict_batch_array(clf.preprocess(IMG)[None])
    assert probs[0, 4] == probs[0, 5]  # mel and nv tie exactly
    scored = classification_metrics(np.array([4]), probs, clf.labels)["per_class"]["mel"]["recall"]
    assert (clf.predict(IMG).label == "mel") == (scored == 1.0)
