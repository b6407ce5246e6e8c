"""Issue 11, the predict side: bounded work per image, float images read in their documented
range, finite outputs, one bad item failing alone in a batch, and a bounded, documented
decoded-image cache. Each test is named for the probe it answers."""
from __future__ import annotations

import errno
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import skinedge
from skinedge.api import SAMPLE_DATA, Classifier
from skinedge.data.ham10000 import Record
from skinedge.errors import ConfigError, DataError, ModelOutputError
from skinedge.preprocess import MAX_ASPECT_RATIO, load_image, model_image, resize_center_crop

from helpers import run_cli

IMGS = sorted((SAMPLE_DATA / "images").iterdir())
IMG = IMGS[0]
EIO_FILE = "/proc/self/mem"  # Linux: reading it at offset 0 fails with EIO
needs_eio_file = pytest.mark.skipif(not Path(EIO_FILE).exists(), reason=f"no {EIO_FILE}")
needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(),
                                reason="measures memory through /proc/self/status")


# ---------------------------------------------------------------- fixtures and helpers

def _tiny_checkpoint(dest: Path, bias=None) -> Path:
    """An untrained 32 px checkpoint (seconds to build); ``bias`` overwrites the head's bias."""
    import torch

    from skinedge.card import ModelCard
    from skinedge.checkpoint import save_checkpoint
    from skinedge.models import create_model

    model = create_model("mobilenetv4_conv_small", 32, (0.5,) * 3, (0.2,) * 3).eval()
    if bias is not None:
        with torch.no_grad():
            model.backbone.get_classifier().bias.copy_(torch.tensor(bias))
    card = ModelCard(architecture="mobilenetv4_conv_small", input_size=32, mean=(0.5,) * 3,
                     std=(0.2,) * 3, params=1, flops=1)
    save_checkpoint(dest, model, card)
    return dest


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return _tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture(scope="module")
def clf(tiny_model):
    return skinedge.load(tiny_model)


def _png_with_size(path: Path, w: int, h: int) -> Path:
    """A PNG of a few bytes whose header claims w x h (one zlib stream of zero rows)."""
    raw = zlib.compress(b"\x00" * ((w + 1) * h), 9)  # filter byte + w grey pixels per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0,
                                                                          0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


def _bounded(code: str, headroom_mb: int = 400) -> dict:
    """Run ``code`` in a fresh process whose address space may grow by at most
    ``headroom_mb`` past what the imports took; it sets ``result`` (a dict). Returns it with
    ``grew_mb``: how far the peak resident memory rose while ``code`` ran."""
    prelude = textwrap.dedent(f"""
        import json, resource
        from skinedge.errors import DataError
        from skinedge.preprocess import load_image, model_image
        vm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmSize')][0]
        cap = (vm + {headroom_mb} * 1024) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = {{}}
    """)
    coda = ("\nresult['grew_mb'] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss "
            "- before) / 1024\nprint(json.dumps(result))\n")
    r = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code) + coda],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- bounded work per image

@needs_proc
def test_a_200000x8_png_is_refused_before_the_resize_allocates(tmp_path):
    # Probe: a 4.7 KB PNG of 200000x8 took 1.8 GB: the short side was scaled up to the input
    # size before the crop, though the source passed the pixel limit.
    path = _png_with_size(tmp_path / "strip.png", 200_000, 8)
    assert path.stat().st_size < 10_000
    out = _bounded(f"""
        try:
            model_image({str(path)!r}, 224)
        except DataError as exc:
            result['error'] = str(exc)
    """)
    assert "strip.png" in out["error"] and "200000x8" in out["error"]
    assert f"{MAX_ASPECT_RATIO}:1" in out["error"]  # the limit, named
    assert out["grew_mb"] < 100


def test_a_1000000x8_png_fails_alone_in_a_batch(clf, tmp_path):
    # Probe: 1000000x8 ended in MemoryError and the rest of the batch was lost.
    wide = _png_with_size(tmp_path / "wide.png", 1_000_000, 8)
    res = clf.predict([str(IMG), str(wide), str(IMGS[1])])
    assert res[0].label and res[2].label
    assert res[1].label is None and "wide.png" in res[1].error and "1000000x8" in res[1].error


def test_aspect_ratio_limit_applies_to_arrays_and_pil_images():
    for src in (np.zeros((8, 8 * (MAX_ASPECT_RATIO + 1)), np.uint8),
                Image.new("RGB", (8, 8 * (MAX_ASPECT_RATIO + 1)))):
        with pytest.raises(DataError, match="aspect ratio"):
            load_image(src)
    edge = Image.new("RGB", (8 * MAX_ASPECT_RATIO, 8))  # exactly at the limit: accepted
    assert resize_center_crop(load_image(edge), 16).shape == (16, 16, 3)


def test_the_resized_size_is_checked_before_the_resize():
    # Within the aspect limit, a large input size still makes a large resize: 100x10 at
    # 2000 px would be 20000x2000 (40 MP, 120 MB) before the crop.
    with pytest.raises(DataError, match=r"strip: .*100x10.*20000x2000.*limit") as exc:
        model_image(Image.new("RGB", (100, 10)), 2000, "strip")
    assert "MP" in str(exc.value)


@needs_proc
def test_a_1gb_file_is_not_read_whole_to_identify_it(tmp_path):
    # Probe: a 1 GB file was read into memory before its format was checked.
    junk = tmp_path / "junk.jpg"
    with open(junk, "wb") as f:
        f.truncate(2**30)  # sparse: no disk used
    png = tmp_path / "trailing.png"
    Image.open(IMG).save(png)
    with open(png, "ab") as f:
        f.truncate(png.stat().st_size + 2**30)  # a real image followed by 1 GB of zeros
    out = _bounded(f"""
        try:
            load_image({str(junk)!r})
        except DataError as exc:
            result['junk'] = str(exc)
        result['trailing'] = load_image({str(png)!r}).size
    """, headroom_mb=300)
    assert "junk.jpg" in out["junk"] and "not a readable image" in out["junk"]
    assert tuple(out["trailing"]) == Image.open(IMG).size
    assert out["grew_mb"] < 64


# ---------------------------------------------------------------- float images

def test_a_float_pil_image_in_0_1_is_not_read_as_black(tmp_path):
    # Probe: a float TIFF (mode F) in [0, 1] was divided by 255 and classified as black.
    grey = np.asarray(Image.open(IMG).convert("L"), dtype=np.float32) / 255.0
    img = Image.fromarray(grey, mode="F")
    path = tmp_path / "float.tiff"
    img.save(path)
    want = np.asarray(load_image(Image.open(IMG).convert("L")), dtype=int)
    for src in (img, path):
        got = np.asarray(load_image(src), dtype=int)
        assert np.abs(got - want).max() <= 1, src


@pytest.mark.parametrize("values, found", [
    (np.full((16, 16, 3), 200.0), "[200, 200]"),           # 0..255 floats: was clipped to white
    (np.linspace(0, 255, 16 * 16 * 3).reshape(16, 16, 3), "[0, 255]"),
    (np.full((16, 16), -0.5), "[-0.5, -0.5]"),
])
def test_a_float_array_outside_0_1_is_refused_with_the_range_found(values, found):
    # Probe: a float array in 0..255 was clipped to [0, 1] without a word.
    for dtype in (np.float32, np.float64):
        with pytest.raises(DataError, match=r"\[0, 1\]") as exc:
            load_image(values.astype(dtype), "arr")
        assert found in str(exc.value) and str(exc.value).startswith("arr: ")


@pytest.mark.parametrize("arr, message", [
    (np.full((16, 16), 40.0, np.float32), r"\[40, 40\].*\[0, 1\]"),
    (np.full((16, 16), np.nan, np.float32), "NaN"),
    (np.full((16, 16), 300, np.int32), r"\[300, 300\].*0\.\.255"),
])
def test_pil_float_and_int_images_outside_their_range_are_refused(arr, message, tmp_path):
    img = Image.fromarray(arr, mode="F" if arr.dtype == np.float32 else "I")
    with pytest.raises(DataError, match=message):
        load_image(img)
    path = tmp_path / "x.tiff"
    img.save(path)
    with pytest.raises(DataError, match=message) as exc:
        load_image(path)
    assert "x.tiff" in str(exc.value)


def test_float_arrays_at_the_ends_of_0_1_are_accepted():
    arr = np.zeros((16, 16, 3))
    arr[:, 8:] = 1.0
    arr[0, 0] = -1e-9  # rounding noise at the ends is not an error
    px = np.asarray(load_image(arr))
    assert px[:, :8].max() == 0 and px[:, 8:].min() == 255


# ---------------------------------------------------------------- one bad item fails alone

def _denied(monkeypatch, name: str):
    """Reading ``name`` fails with EACCES (real chmod does not bind root, who runs CI)."""
    real = Path.open

    def fake(self, *a, **k):
        if self.name == name:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "open", fake)


def _closed_image():
    img = Image.open(IMG)
    img.close()
    return img


@pytest.mark.parametrize("kind, needle", [
    ("name too long", "File name too long"),
    pytest.param("I/O error", "Input/output error", marks=needs_eio_file),
    ("permission denied", "Permission denied"),
    ("closed PIL image", "closed"),
    ("a folder", "is a folder"),
])
def test_an_os_error_or_closed_image_fails_only_its_item(kind, needle, clf, tmp_path,
                                                         monkeypatch):
    # Probe: these aborted the whole predict batch with a traceback.
    bad = {"name too long": str(tmp_path / ("n" * 300 + ".jpg")),
           "I/O error": EIO_FILE,
           "permission denied": str(tmp_path / "secret.jpg"),
           "closed PIL image": _closed_image(),
           "a folder": str(tmp_path)}[kind]
    if kind == "permission denied":
        Path(bad).write_bytes(IMG.read_bytes())
        _denied(monkeypatch, "secret.jpg")
    res = clf.predict([str(IMG), bad, str(IMGS[1])])
    assert res[0].label and res[2].label and res[1].label is None
    assert needle in res[1].error and "corrupt" not in res[1].error
    if isinstance(bad, str):
        assert res[1].error.startswith(bad)
    with pytest.raises(DataError, match=needle):
        clf.predict(bad)


@needs_eio_file
def test_predict_cli_prints_one_line_per_bad_item_and_exits_1(tiny_model, tmp_path):
    long_name = str(tmp_path / ("n" * 300 + ".jpg"))
    r = run_cli("predict", "--model", str(tiny_model), str(IMG), long_name, EIO_FILE)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3 and "ERROR" not in lines[0]
    assert "ERROR" in lines[1] and "File name too long" in lines[1]
    assert "ERROR" in lines[2] and "Input/output error" in lines[2]
    assert "Traceback" not in r.stderr and "2 of 3" in r.stderr
    r = run_cli("predict", "--model", str(tiny_model), str(IMG), "--top-k", "0")
    assert r.returncode == 2 and "--top-k" in r.stderr  # a usage error is 2


# ---------------------------------------------------------------- finite outputs

class _ScriptedRuntime:
    """Returns fixed logits per call: row i of ``logits`` for the i-th image of the batch."""

    name = "scripted"

    def __init__(self, card, logits):
        self.card, self.logits = card, np.asarray(logits, dtype=np.float32)

    def run(self, x):
        return self.logits[:len(x)]


def test_a_non_finite_output_gives_that_item_an_error_never_a_label(clf):
    k = len(clf.labels)
    rows = [np.zeros(k), np.full(k, np.nan), np.r_[np.inf, np.zeros(k - 1)],
            np.r_[-np.inf, np.zeros(k - 1)], np.arange(k)]
    scripted = Classifier(_ScriptedRuntime(clf.card, rows), Path("scripted.onnx"))
    res = scripted.predict([str(IMG)] * 5)
    assert [r.label is None for r in res] == [False, True, True, True, False]
    for r in res[1:4]:
        assert "not finite" in r.error and r.probabilities == {} and r.top_k == []
        json.dumps(r.to_dict(), allow_nan=False)
    assert res[4].label == clf.labels[-1]
    with pytest.raises(ModelOutputError, match="3 of 5"):
        scripted.predict_batch_array(np.stack([scripted.preprocess(IMG)] * 5))
    with pytest.raises(ModelOutputError, match="not finite"):
        Classifier(_ScriptedRuntime(clf.card, rows[1:2]), Path("s.onnx")).predict(IMG)


def test_a_checkpoint_with_nan_weights_gives_an_error_not_a_label(tmp_path):
    # Probe: NaN weights with a matching sha256 printed a label, exit 0, and invalid JSON.
    ckpt = _tiny_checkpoint(tmp_path / "nan", bias=[float("nan")] * 7)
    r = run_cli("predict", "--model", str(ckpt), str(IMG), str(IMGS[1]), "--json")
    assert r.returncode in (1, 2), r.stderr  # per item (1) or refused at load (2)
    assert "Traceback" not in r.stderr
    if r.returncode == 1:
        def no_nan(c):
            raise AssertionError(f"{c} in --json output")

        out = json.loads(r.stdout, parse_constant=no_nan)
        assert all(o["label"] is None and "not finite" in o["error"] for o in out)


# ---------------------------------------------------------------- the decoded-image cache

def _records(n: int, start: int = 0) -> list[Record]:
    return [Record(p.stem, p.stem, "nv", p) for p in IMGS[start:start + n]]


def _entries(root: Path) -> list[Path]:
    return sorted(root.glob("images_*.npy"))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SKINEDGE_CACHE", str(root))
    return root


def test_the_cache_lives_where_skinedge_cache_says_and_defaults_to_the_home_cache(
        cache_dir, monkeypatch):
    from skinedge.data.cache import cache_root, cached_images

    cached_images(_records(2), 16, progress=False)
    assert cache_root() == cache_dir and len(_entries(cache_dir)) == 1
    monkeypatch.delenv("SKINEDGE_CACHE")
    assert cache_root() == Path.home() / ".cache" / "skinedge"


def test_the_cache_evicts_the_least_recently_used_entries_beyond_its_cap(cache_dir,
                                                                         monkeypatch):
    # Probe: the cache under ~/.cache/skinedge grew without bound.
    from skinedge.data.cache import cached_images

    one = 16 * 16 * 3 * 2 + 128  # an entry of 2 images at 16 px, with its .npy header
    monkeypatch.setenv("SKINEDGE_CACHE_MAX", str(2 * one + 10))  # room for two entries
    a, b, c = _records(2), _records(2, 2), _records(2, 4)
    cached_images(a, 16, progress=False)
    cached_images(b, 16, progress=False)
    for i, e in enumerate(_entries(cache_dir)):
        os.utime(e, ns=(10**18 + i, 10**18 + i))  # both long unused
    first = np.array(cached_images(a, 16, progress=False))  # a hit: a is now the most recent
    used = max(_entries(cache_dir), key=lambda e: e.stat().st_mtime_ns)
    cached_images(c, 16, progress=False)  # needs room: the least recently used one goes
    left = _entries(cache_dir)
    assert len(left) == 2 and used in left
    assert sum(e.stat().st_size for e in left) <= 2 * one + 10
    assert np.array_equal(first, cached_images(a, 16, progress=False))
    assert not list(cache_dir.glob(".*"))  # no temporary file left behind


def test_an_entry_over_the_cap_is_not_written_and_says_so(cache_dir, monkeypatch):
    from skinedge.data.cache import cached_images

    monkeypatch.setenv("SKINEDGE_CACHE_MAX", "100")
    with pytest.warns(UserWarning, match="SKINEDGE_CACHE_MAX"):
        arr = cached_images(_records(2), 16, progress=False)
    assert arr.shape == (2, 16, 16, 3) and not _entries(cache_dir)


@pytest.mark.parametrize("value, parsed", [("1000", 1000), ("500M", 500 * 2**20),
                                           ("1.5G", int(1.5 * 2**30)), ("2GiB", 2 * 2**30),
                                           ("0", 0)])
def test_the_cache_cap_reads_sizes_with_units(value, parsed, monkeypatch):
    from skinedge.data.cache import DEFAULT_MAX_BYTES, cache_limit

    monkeypatch.delenv("SKINEDGE_CACHE_MAX", raising=False)
    assert cache_limit() == DEFAULT_MAX_BYTES
    monkeypatch.setenv("SKINEDGE_CACHE_MAX", value)
    assert cache_limit() == parsed


def test_a_bad_cache_cap_is_a_clear_error(monkeypatch):
    from skinedge.data.cache import cache_limit

    monkeypatch.setenv("SKINEDGE_CACHE_MAX", "lots")
    with pytest.raises(ConfigError, match="SKINEDGE_CACHE_MAX=lots"):
        cache_limit()


def test_an_interrupted_cache_write_leaves_no_entry(cache_dir, monkeypatch):
    import skinedge.data.cache as cache

    def half_then_fail(path, arr):
        Path(path).write_bytes(b"\x93NUMPY half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache.np, "save", half_then_fail)
    arr = cache.cached_images(_records(2), 16, progress=False)
    assert arr.shape == (2, 16, 16, 3)
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_cache_info_and_clear(cache_dir):
    from skinedge.data.cache import cached_images

    (cache_dir).mkdir()
    keep = cache_dir / "notes.txt"  # not ours: never deleted
    keep.write_text("mine")
    cached_images(_records(2), 16, progress=False)
    cached_images(_records(3), 8, progress=False)
    env = {**os.environ, "SKINEDGE_CACHE": str(cache_dir)}
    r = run_cli("cache", "info", env=env)
    assert r.returncode == 0, r.stderr
    assert str(cache_dir) in r.stdout and "2 entries" in r.stdout and "16 px" in r.stdout
    info = json.loads(run_cli("cache", "info", "--json", env=env).stdout)
    assert info["location"] == str(cache_dir) and len(info["entries"]) == 2
    assert info["bytes"] == sum(e.stat().st_size for e in _entries(cache_dir))
    r = run_cli("cache", "clear", env=env)
    assert r.returncode == 0 and "2 entries" in r.stdout
    assert not _entries(cache_dir) and keep.read_text() == "mine"


def test_cache_help_does_not_import_torch():
    code = ("import sys\nfrom skinedge.cli import main\ntry:\n    main(['cache', '--help'])\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "clear" in out.stdout and out.stdout.strip().splitlines()[-1] == "False"


# ---------------------------------------------------------------- probe campaign, second round

@pytest.mark.parametrize("batch, needle", [
    (np.zeros((2, 10, 10, 3), np.uint8), "shape [2, 10, 10, 3]"),  # was classified silently
    (np.zeros((2, 32, 32, 3), np.float32), "dtype float32"),        # was read as 0..255
    (np.zeros((32, 32, 3), np.uint8), "shape [32, 32, 3]"),
    ([[0]], "not list"),
])
def test_predict_batch_array_refuses_another_size_or_dtype(clf, batch, needle):
    with pytest.raises(DataError, match=re.escape(needle)) as exc:
        clf.predict_batch_array(batch)
    assert "a uint8 array [N, 32, 32, 3]" in str(exc.value)
    assert clf.predict_batch_array(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2, 7)


@pytest.mark.parametrize("top_k, kind", [(1.5, "float"), ("3", "str"), (True, "bool"),
                                         (None, "NoneType")])
def test_a_top_k_of_the_wrong_type_is_a_config_error_naming_it(clf, top_k, kind):
    with pytest.raises(ConfigError, match=rf"top_k=.*integer of at least 1, not {kind}"):
        clf.predict(str(IMG), top_k=top_k)
    assert len(clf.predict(str(IMG), top_k=np.int64(2)).top_k) == 2


def test_load_of_something_not_a_path_is_a_config_error():
    with pytest.raises(ConfigError, match="skinedge.load: path .* not int 123"):
        skinedge.load(123)


def test_a_16_bit_pgm_is_read_like_its_8_bit_grey(tmp_path):
    # Probe: Pillow opens a 16-bit PGM as mode I (0..65535), which was refused as over 255.
    grey = np.asarray(Image.open(IMG).convert("L"))
    path = tmp_path / "grey16.pgm"
    Image.fromarray(grey.astype(np.uint16) * 257).save(path)
    assert Image.open(path).mode == "I"
    want = np.asarray(load_image(Image.fromarray(grey)), dtype=int)
    for src in (path, Image.open(path)):
        assert np.array_equal(np.asarray(load_image(src), dtype=int), want), src
    ten_bit = tmp_path / "grey10.pgm"  # maxval 1023: Pillow rescales it to 0..65535 too
    h, w = grey.shape
    ten_bit.write_bytes(f"P5 {w} {h} 1023\n".encode()
                        + (grey.astype(np.int64) * 1023 // 255).astype(">u2").tobytes())
    assert np.abs(np.asarray(load_image(ten_bit), dtype=int) - want).max() <= 1


@pytest.mark.parametrize("command", [["train"], ["pretrain", "--preset", "smoke"],
                                     ["synth", "train"], ["pipeline", "--preset", "smoke"]])
def test_a_missing_data_folder_leaves_no_run_folder_behind(command, tmp_path, capsys):
    """Bad input found before anything is written: exit 2, the folder named, and no empty
    --out folder (or pipeline.json) left for the next attempt to trip over."""
    from skinedge.cli import main

    out, data = tmp_path / "run", tmp_path / "no_such_data"
    assert main([*command, "--data", str(data), "--out", str(out)]) == 2
    assert f"{data}: data folder does not exist" in capsys.readouterr().err
    assert not out.exists()


def test_a_failed_command_keeps_an_out_folder_that_existed(tmp_path, capsys):
    from skinedge.cli import main

    out = tmp_path / "mine"
    out.mkdir()
    assert main(["train", "--data", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert out.is_dir()
