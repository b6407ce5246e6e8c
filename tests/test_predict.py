"""The predict API: every input kind, every bad input, batches that survive a bad item."""
import io
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

import skinedge
from skinedge.api import SAMPLE_DATA
from skinedge.errors import DataError
from skinedge.preprocess import load_image, resize_center_crop

IMG = sorted((SAMPLE_DATA / "images").iterdir())[0]


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


def test_inspect_prints_the_card(small_model):
    r = subprocess.run([sys.executable, "-m", "skinedge.cli", "inspect", str(small_model)],
                       capture_output=True, text=True)
    assert r.returncode == 0
    card = json.loads(r.stdout)
    assert card["labels"] == list(skinedge.CLASSES) and card["input_size"] == 64
