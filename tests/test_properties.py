"""The predict contract as properties (issue 11, item 6): whatever image, array or artifact a
user hands over, the answer is a result or a clear skinedge error, never another exception,
never a NaN probability, never a silently different label, and bounded memory.

- images: every PIL mode Pillow can write, in every format it writes, of many sizes and aspect
  ratios, and the same files truncated or with bytes flipped, spliced or zeroed;
- arrays: dtypes, shapes and value ranges (NaN and inf included); representations of one
  image (uint8, uint16, float, HxW / HxWx1 / HxWx3 / HxWx4, PIL) give one prediction;
- batches: one bad item fails alone, the others answer as they would alone;
- artifacts: random byte flips in a .onnx, a .pte (with and without its sidecar) and a
  checkpoint's model.safetensors / card.json, and card field edits (permuted or duplicate
  labels, wrong types, other mean/std/input_size...) either are refused with a
  CheckpointError naming the file, or predict exactly what the original did;
- inspect never passes an artifact that load refuses;
- non-finite weights never become a label; huge or elongated images are refused before the
  resize allocates (measured in a child process under an address-space limit).

Reproducible: examples are derandomized (the same on every run and machine) and no example
database is written.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from PIL import Image

import skinedge
from skinedge.api import SAMPLE_DATA
from skinedge.card import ModelCard
from skinedge.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    ModelOutputError,
    SkinedgeError,
)
from skinedge.preprocess import FLOAT_SLACK, MAX_ASPECT_RATIO, MIN_SIDE

IMAGES = sorted((SAMPLE_DATA / "images").iterdir())[:3]


def few(n: int):
    """Hypothesis settings: ``n`` derandomized examples, no deadline, no example database, and
    no shrinking (a failure reports the example as generated: a failing run costs what a
    passing one does)."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=list(HealthCheck))


class Named(dict):
    """A fixture's dict that prints as its name in a falsifying example, not as its arrays."""

    def __init__(self, name: str, *args):
        super().__init__(*args)
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


# ------------------------------------------------------------------------- the contract

def attempt(fn, *args, **kw):
    """("ok", value) or ("refused", the SkinedgeError); any other exception fails the test."""
    try:
        return "ok", fn(*args, **kw)
    except SkinedgeError as exc:
        return "refused", exc
    except Exception as exc:  # noqa: BLE001 - the contract: nothing but SkinedgeError escapes
        pytest.fail(f"{type(exc).__name__} instead of a SkinedgeError: {exc}")


def assert_clear(exc: BaseException, *names: str) -> None:
    """A clear error: a SkinedgeError, one line, naming each of ``names``."""
    msg = str(exc)
    assert isinstance(exc, SkinedgeError), f"{type(exc).__name__}: {msg}"
    assert msg.strip() and "\n" not in msg.strip(), f"not one line: {msg!r}"
    for name in names:
        assert name in msg, f"{name!r} not named in: {msg}"


def assert_valid(p, labels) -> np.ndarray:
    """A prediction as documented: a label of the card, finite probabilities over every class
    summing to 1, the label their argmax, top-k best first. Returns the probabilities."""
    assert p.error is None and p.label in labels, p
    assert list(p.probabilities) == list(labels)
    probs = np.array([p.probabilities[c] for c in labels])
    assert np.isfinite(probs).all() and (probs >= 0).all() and abs(probs.sum() - 1) < 1e-6, probs
    assert p.top_k and p.top_k[0][0] == p.label
    if not getattr(p, "calibrated", False):  # calibrated probabilities may reorder near-ties
        assert p.label == labels[int(np.argmax(probs))]
        ps = [q for _, q in p.top_k]
        assert ps == sorted(ps, reverse=True)
    return probs


def outputs(clf, images) -> tuple[tuple[str, ...], np.ndarray]:
    """(labels, probabilities [N, K]) of a batch, every item checked by ``assert_valid``."""
    preds = clf.predict(list(images))
    return tuple(p.label for p in preds), np.stack([assert_valid(p, clf.labels) for p in preds])


def flip_bytes(path: Path, flips) -> None:
    data = bytearray(path.read_bytes())
    for pos, mask in flips:
        data[pos % len(data)] ^= mask
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread while these properties run thousands of tiny inferences: on a busy
    machine a second intra-op thread only waits for a core (0.68 s against 0.004 s per 64 px
    image, measured with both cores taken by a training run)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clf(small_model):
    return skinedge.load(small_model)


@pytest.fixture(scope="module")
def alone(clf) -> dict:
    """Each sample image's prediction on its own: what every other path must reproduce."""
    return Named("alone", {str(p): assert_valid(clf.predict(p), clf.labels) for p in IMAGES})


@pytest.fixture(scope="module")
def artifacts(request, small_model, tmp_path_factory) -> dict[str, Path]:
    """The small model as a checkpoint, an fp32 .onnx and an fp32 .pte (with its sidecar): the
    session's ``exported`` when another module builds it anyway (the whole suite), else only
    these two recipes, exported the same way (minutes less when this file runs alone)."""
    others = any("exported" in getattr(item, "fixturenames", ()) and item.module is not
                 request.module for item in request.session.items)
    if others:
        exported = request.getfixturevalue("exported")
        paths = {r: exported[r].path for r in ("onnx-fp32", "executorch-fp32")}
    else:
        from skinedge.exporting import ExportConfig, run_export

        out = tmp_path_factory.mktemp("property_artifacts")
        paths = {}
        for target in ("onnx", "executorch"):
            for r in run_export(ExportConfig(model=str(small_model), target=target, quant="fp32",
                                             out=str(out), progress=False)):
                assert r.status == "ok", r
                paths[r.recipe] = r.path
    return Named("artifacts", {"checkpoint": Path(small_model), "onnx": Path(paths["onnx-fp32"]),
                               "executorch": Path(paths["executorch-fp32"])})


@pytest.fixture(scope="module")
def originals(artifacts) -> dict[str, tuple]:
    """What each untouched artifact predicts for the sample images."""
    return Named("originals", {k: outputs(skinedge.load(p), IMAGES) for k, p in artifacts.items()})


def copy_artifact(src: Path, dest_dir: Path, sidecar: bool = True) -> Path:
    """A copy of a checkpoint folder or an artifact file (and a .pte's sidecar)."""
    dest = dest_dir / src.name
    if src.is_dir():
        shutil.copytree(src, dest)
        return dest
    shutil.copy(src, dest)
    side = src.with_name(src.name.removesuffix(".pte") + ".card.json")
    if sidecar and src.suffix == ".pte" and side.is_file():
        shutil.copy(side, dest_dir / side.name)
    return dest


def refused_or_identical(path: Path, original: tuple, name: str) -> str:
    """The artifact contract: a tampered artifact is refused (a CheckpointError naming it), or
    it predicts exactly what the original did; ``inspect`` never passes what load refuses."""
    from skinedge.targets.summary import inspect_artifact

    verdict, out = attempt(skinedge.load, path)
    if verdict == "ok":
        verdict, out = attempt(outputs, out, IMAGES)
    if verdict == "ok":
        assert out[0] == original[0], f"labels changed: {original[0]} -> {out[0]}"
        np.testing.assert_array_equal(out[1], original[1])
        return "identical"
    assert isinstance(out, CheckpointError), f"{type(out).__name__}: {out}"
    assert_clear(out, name)
    state, inspection = attempt(inspect_artifact, path)
    assert state == "refused" or not inspection.ok, "inspect passes what load refuses"
    return "refused"


# ------------------------------------------------------------------------- image files

def _writable() -> list[tuple[str, str]]:
    """(mode, format) pairs Pillow can write and read back here."""
    def round_trips(mode: str, fmt: str) -> bool:
        buf = io.BytesIO()
        try:
            _image(mode, 12, 10, 0, 1.0).save(buf, fmt)
            buf.seek(0)
            Image.open(buf).load()
        except Exception:  # noqa: BLE001 - a pair Pillow cannot write is left out
            return False
        return True

    pairs = []
    for mode in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB",
                 "HSV", "I", "I;16", "F"):
        for fmt in ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP", "PPM", "TGA", "PCX", "SGI",
                    "JPEG2000", "ICO", "IM", "SPIDER", "DDS", "QOI"):
            if round_trips(mode, fmt):
                pairs.append((mode, fmt))
    return pairs


def _image(mode: str, w: int, h: int, seed: int, scale: float) -> Image.Image:
    """A random w x h image in ``mode``; F and I images hold values in [0, scale]."""
    rng = np.random.default_rng(seed)
    if mode == "F":
        return Image.fromarray((rng.random((h, w)) * scale).astype(np.float32), mode="F")
    if mode == "I":
        return Image.fromarray((rng.random((h, w)) * scale).astype(np.int32), mode="I")
    if mode == "LAB":
        return Image.frombytes("LAB", (w, h), rng.integers(0, 256, w * h * 3, np.uint8).tobytes())
    rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8))
    return rgb.convert(mode)


WRITABLE = _writable()
sizes = st.tuples(st.integers(1, 120), st.integers(1, 120))
elongated = st.tuples(st.integers(1, 12), st.integers(60, 400)).flatmap(
    lambda s: st.sampled_from([s, s[::-1]]))


@few(80)
@given(pair=st.sampled_from(WRITABLE), size=st.one_of(sizes, elongated),
       seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 255.0, 65535.0]))
def test_any_image_file_gives_a_result_or_a_data_error_naming_it(clf, tmp_path, pair, size,
                                                                  seed, scale):
    mode, fmt = pair
    w, h = size
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / f"img.{fmt.lower()}"
    try:
        _image(mode, w, h, seed, scale).save(path, fmt)
    except (OSError, ValueError):  # e.g. a 1-px JPEG2000, an ICO over 256 px
        assume(False)
    verdict, out = attempt(clf.predict, path)
    if verdict == "refused":
        assert isinstance(out, DataError)
        assert_clear(out, str(path))
    else:
        assert_valid(out, clf.labels)
    read = Image.open(path).size  # some formats pad or drop rows; judge by what is in the file
    if min(read) < MIN_SIDE or max(read) > MAX_ASPECT_RATIO * min(read):
        assert verdict == "refused", f"a {read[0]}x{read[1]} image was classified"


def _mutated(data: bytes, how: str, at: float, n: int, mask: int) -> bytes:
    i = int(at * len(data))
    if how == "truncate":
        return data[:i]
    if how == "flip":
        out = bytearray(data)
        for k in range(n):
            out[(i + 7919 * k) % len(out)] ^= mask
        return bytes(out)
    if how == "splice":
        return data[:i] + bytes([mask]) * n + data[i:]
    if how == "zero":
        return data[:i] + b"\0" * n + data[i + n:]
    return data[:i] + data[i + n:]  # "cut"


@few(150)
@given(fmt=st.sampled_from(["PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP", "PPM", "TGA", "PCX",
                            "SGI", "JPEG2000", "ICO", "IM", "QOI"]),
       how=st.sampled_from(["truncate", "flip", "splice", "zero", "cut"]),
       at=st.floats(0, 1, exclude_max=True), n=st.integers(1, 64), mask=st.integers(1, 255))
def test_truncated_or_corrupted_encodings_give_a_result_or_a_data_error(clf, alone, tmp_path,
                                                                        fmt, how, at, n, mask):
    buf = io.BytesIO()
    Image.open(IMAGES[0]).convert("RGB").resize((40, 30)).save(buf, fmt)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    bad = folder / f"bad.{fmt.lower()}"
    bad.write_bytes(_mutated(buf.getvalue(), how, at, n, mask))
    verdict, out = attempt(clf.predict, bad)
    if verdict == "refused":
        assert isinstance(out, DataError)
        assert_clear(out, str(bad))
    else:
        assert_valid(out, clf.labels)
    # in a batch the bad file fails alone: the good one answers as it does alone
    good = str(IMAGES[1])
    preds = clf.predict([bad, good])
    assert len(preds) == 2
    np.testing.assert_allclose(assert_valid(preds[1], clf.labels), alone[good], atol=1e-6)
    if preds[0].error is not None:
        assert preds[0].label is None and not preds[0].probabilities
        assert str(bad) in preds[0].error and "\n" not in preds[0].error.strip()
    else:
        assert_valid(preds[0], clf.labels)


@few(40)
@given(magic=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\0", b"MM\0*",
                              b"GIF89a", b"BM", b"RIFF\0\0\0\0WEBP", b"P6\n", b"qoif"]),
       body=st.binary(max_size=300))
def test_random_bytes_under_any_image_name_are_a_data_error(clf, tmp_path, magic, body):
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "lesion.jpg"
    path.write_bytes(magic + body)
    verdict, out = attempt(clf.predict, path)
    assert verdict == "refused", "random bytes were classified"
    assert isinstance(out, DataError)
    assert_clear(out, str(path))


# ------------------------------------------------------------------------- in-memory images

@few(80)
@given(mode=st.sampled_from(["1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr",
                             "LAB", "HSV", "I", "I;16", "F"]),
       size=st.one_of(sizes, elongated), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1.0, 1.0 + FLOAT_SLACK / 2, 1.01, 255.0, 256.0, 65535.0]))
def test_any_pil_image_gives_a_result_or_a_data_error_never_a_clipped_one(clf, mode, size, seed,
                                                                         scale):
    img = _image(mode, *size, seed, scale)
    verdict, out = attempt(clf.predict, img)
    if verdict == "refused":
        assert isinstance(out, DataError)
        assert_clear(out)
    else:
        assert_valid(out, clf.labels)
    w, h = size
    top = float(np.asarray(img).max()) if mode in ("F", "I") else 0.0
    outside = (mode == "F" and top > 1 + FLOAT_SLACK) or (mode == "I" and top > 255)
    bad_size = min(w, h) < MIN_SIDE or max(w, h) > MAX_ASPECT_RATIO * min(w, h)
    if bad_size or outside:
        assert verdict == "refused", f"{mode} {w}x{h} (max {top:g}) was classified"
    if outside and not bad_size:  # the size is checked first
        assert f"{top:g}" in str(out), f"the range found is not named: {out}"


def test_a_closed_pil_image_is_a_data_error(clf):
    img = Image.open(IMAGES[0])
    img.close()
    verdict, out = attempt(clf.predict, img)
    assert verdict == "refused" and isinstance(out, DataError)


# ------------------------------------------------------------------------- arrays

DTYPES = [np.uint8, np.uint16, np.int8, np.int16, np.int32, np.int64, np.uint32, np.float16,
          np.float32, np.float64, np.bool_, np.complex64]
SLACK = FLOAT_SLACK * 0.9  # inside the documented tolerance, whatever the dtype rounds to


@st.composite
def arrays(draw):
    """(array, documented verdict: True when the API must classify it)."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    side = st.sampled_from([0, 1, 7, 8, 9, 16, 33, 81, 200])
    shape = draw(st.one_of(
        st.tuples(side, side),
        st.tuples(side, side, st.integers(0, 5)),
        st.tuples(st.integers(0, 600)),
        st.tuples(st.integers(1, 3), side, side, st.sampled_from([1, 3])),
        st.just(())))
    lo, hi = draw(st.sampled_from([(0.0, 1.0), (-SLACK, 1 + SLACK), (0.0, 255.0), (-1.0, 1.0),
                                   (0.0, 65535.0), (-1e4, 1e6)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.asarray(lo + rng.random(shape) * (hi - lo)).astype(dtype)
        if dtype.kind == "f" and arr.size and draw(st.booleans()):
            arr.flat[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from(
                [np.nan, np.inf, -np.inf]))
    squeezed = shape[:2] if len(shape) == 3 and shape[2] == 1 else shape
    good_shape = len(squeezed) == 2 or (len(squeezed) == 3 and squeezed[2] in (3, 4))
    good_size = good_shape and min(shape[:2]) >= MIN_SIDE and \
        max(shape[:2]) <= MAX_ASPECT_RATIO * min(shape[:2])
    if dtype in (np.uint8, np.uint16):
        good_values = True
    elif dtype.kind == "f":
        good_values = bool(arr.size) and bool(np.isfinite(arr).all()) and \
            -FLOAT_SLACK <= float(arr.min()) and float(arr.max()) <= 1 + FLOAT_SLACK
    else:
        good_values = False
    return arr, good_size and good_values


@few(150)
@given(case=arrays())
def test_arrays_are_classified_exactly_when_documented(clf, case):
    arr, documented = case
    verdict, out = attempt(clf.predict, arr)
    if verdict == "refused":
        assert isinstance(out, DataError)
        assert_clear(out)
    else:
        assert_valid(out, clf.labels)
    assert (verdict == "ok") == documented, \
        f"{arr.dtype} {arr.shape} in [{np.nanmin(arr) if arr.size else None}, " \
        f"{np.nanmax(arr) if arr.size else None}]: {verdict} ({out})"


@few(15)
@given(seed=st.integers(0, 2**16), h=st.integers(8, 60), w=st.integers(8, 60))
def test_one_image_in_any_representation_gives_one_prediction(clf, seed, h, w):
    assume(max(h, w) <= MAX_ASPECT_RATIO * min(h, w))
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)
    grey = rgb[:, :, 0]
    same = {
        "rgb": [rgb, rgb.astype(np.uint16) * 257, rgb / 255.0, (rgb / 255.0).astype(np.float32),
                np.dstack([rgb, np.full((h, w), 255, np.uint8)]), Image.fromarray(rgb),
                np.asfortranarray(rgb), np.pad(rgb, ((0, 0), (0, 0), (0, 1)))[:, :, :3]],
        "grey": [grey, grey[:, :, None], np.dstack([grey] * 3), grey / 255.0,
                 Image.fromarray(grey), grey.astype(np.uint16) * 257],
    }
    for kind, reps in same.items():
        got = [assert_valid(clf.predict(r), clf.labels) for r in reps]
        for i, p in enumerate(got[1:], 1):
            np.testing.assert_allclose(p, got[0], atol=1e-6, err_msg=f"{kind} representation {i}")


# ------------------------------------------------------------------------- batches

def _bad_items(tmp: Path) -> dict:
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "text.jpg").write_text("not an image")
    (tmp / "folder.png").mkdir()
    buf = io.BytesIO()
    Image.open(IMAGES[0]).save(buf, "PNG")
    (tmp / "cut.png").write_bytes(buf.getvalue()[:200])
    closed = Image.open(IMAGES[0])
    closed.close()
    return {"missing": tmp / "missing.jpg", "empty": tmp / "empty.png", "text": tmp / "text.jpg",
            "folder": tmp / "folder.png", "truncated": tmp / "cut.png",
            "long name": tmp / ("x" * 300 + ".jpg"), "device": Path("/dev/null"),
            "nan": np.full((32, 32, 3), np.nan), "0..255 float": np.full((32, 32, 3), 200.0),
            "1-d": np.zeros(100, np.uint8), "tiny": np.zeros((4, 4), np.uint8),
            "strip": np.zeros((8, 400), np.uint8), "int": 42, "none": None, "bytes": b"\xff\xd8",
            "closed": closed}


@few(30)
@given(picks=st.lists(st.one_of(st.integers(0, 2).map(lambda i: ("good", i)),
                                st.sampled_from(["missing", "empty", "text", "folder",
                                                 "truncated", "long name", "device", "nan",
                                                 "0..255 float", "1-d", "tiny", "strip", "int",
                                                 "none", "bytes", "closed"]).map(
                                    lambda k: ("bad", k))),
                      min_size=1, max_size=6),
       as_path=st.booleans())
def test_in_a_batch_only_the_bad_items_fail(clf, alone, tmp_path, picks, as_path):
    bad = _bad_items(Path(tempfile.mkdtemp(dir=tmp_path)))
    items = [(IMAGES[v] if as_path else str(IMAGES[v])) if kind == "good" else bad[v]
             for kind, v in picks]
    verdict, preds = attempt(clf.predict, items)
    assert verdict == "ok", f"the whole batch was lost: {preds}"
    assert len(preds) == len(items)
    for i, ((kind, v), item, p) in enumerate(zip(picks, items, preds)):
        if kind == "good":
            np.testing.assert_allclose(assert_valid(p, clf.labels), alone[str(IMAGES[v])],
                                       atol=1e-6)
            continue
        assert p.error and p.label is None and not p.probabilities and not p.top_k, (v, p)
        assert "\n" not in p.error.strip()
        name = str(item) if isinstance(item, (str, Path)) else f"[{i}]"
        assert name in p.error, f"{v}: {p.error}"


@few(8)
@given(k=st.integers(-5, 12))
def test_top_k_is_checked_and_bounded(clf, k):
    verdict, out = attempt(clf.predict, np.zeros((16, 16, 3), np.uint8), top_k=k)
    if k < 1:
        assert verdict == "refused" and isinstance(out, ConfigError)
        assert_clear(out, "top_k")
    else:
        assert len(assert_valid(out, clf.labels).tolist()) == len(clf.labels)
        assert len(out.top_k) == min(k, len(clf.labels))


# ------------------------------------------------------------------------- bounded memory

def _png_header_only(path: Path, w: int, h: int) -> None:
    """A small grey PNG whose header says w x h (all-zero rows, deflated)."""
    z, row = zlib.compressobj(9), b"\0" * (w + 1)
    per = max(1, (1 << 22) // len(row))  # rows per 4 MB block
    raw = b"".join(z.compress(row * min(per, h - i)) for i in range(0, h, per)) + z.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0,
                                                                      0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


_MEASURE = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from skinedge.errors import SkinedgeError
    from skinedge.preprocess import model_image
    vm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmSize')][0]
    cap = (vm + HEADROOM_MB * 1024) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    out = []
    for kind, what, size in json.loads(sys.argv[1]):
        src = what if kind == "file" else np.zeros(what, np.uint8)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            model_image(src, size)
            verdict = "ok"
        except SkinedgeError as exc:
            verdict = "refused: " + str(exc)
        except BaseException as exc:
            verdict = f"{type(exc).__name__}: {exc}"
        del src
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        out.append([verdict, grew])
    print(json.dumps(out))
""")
HEADROOM_MB = 700  # a 50 MP grey file decodes to 50 MB, 150 MB as RGB: the largest allowed
REFUSED_MB = 40  # what a refused input may cost: its header, not its pixels

dims = st.one_of(st.integers(1, 64), st.integers(65, 4000),
                 st.integers(4001, 2_000_000))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status")
@few(4)
@given(cases=st.lists(st.tuples(st.sampled_from(["file", "array"]), dims, dims,
                                st.sampled_from([32, 224, 1024])), min_size=6, max_size=6))
@example(cases=[("file", 200_000, 8, 224), ("file", 1_000_000, 8, 224),  # the probes
                ("array", 200_000, 8, 224), ("file", 8, 200_000, 32), ("file", 7000, 7000, 224),
                ("array", 8, 8, 1024)])
def test_huge_or_elongated_images_cost_bounded_memory(tmp_path, cases):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    jobs = []
    for i, (kind, w, h, size) in enumerate(cases):
        if kind == "array":
            w, h = min(w, 200_000), min(h, 200_000)
            assume(w * h <= 2_000_000)  # the array itself is the caller's memory, not ours
            jobs.append(["array", [h, w], size])
        else:
            assume(min(w, h) <= 64 or w * h <= 60_000_000)
            path = folder / f"{i}.png"
            _png_header_only(path, w, h)
            jobs.append(["file", str(path), size])
    r = subprocess.run([sys.executable, "-c", _MEASURE.replace("HEADROOM_MB", str(HEADROOM_MB)),
                        json.dumps(jobs)], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    for job, (verdict, grew) in zip(jobs, json.loads(r.stdout.splitlines()[-1])):
        assert verdict == "ok" or verdict.startswith("refused: "), (job, verdict)
        if verdict.startswith("refused: "):
            assert grew < REFUSED_MB, f"{job}: refused only after taking {grew:.0f} MB"


# ------------------------------------------------------------------------- artifacts: bytes

def _card_span(data: bytes) -> tuple[int, int]:
    """Where the (first) model card's JSON sits in an artifact's bytes."""
    start = data.find(b'"architecture"')
    end = data.find(b'"schema"', start)
    return (max(start - 4, 0), end + 40) if start >= 0 and end >= 0 else (0, len(data))


def _positions(data: bytes, where: str, at: float) -> int:
    lo, hi = {"anywhere": (0, len(data)), "head": (0, min(4096, len(data))),
              "tail": (max(0, len(data) - 4096), len(data)), "card": _card_span(data)}[where]
    return lo + int(at * (hi - lo))


flips = st.lists(st.tuples(st.sampled_from(["anywhere", "head", "tail", "card"]),
                           st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                 min_size=1, max_size=3)


@few(25)
@pytest.mark.parametrize("kind, part", [("onnx", ""), ("executorch", ""),
                                        ("executorch", "no sidecar"),
                                        ("executorch", "sidecar"),
                                        ("checkpoint", "model.safetensors"),
                                        ("checkpoint", "card.json")])
@given(edits=flips)
@example(edits=[("head", 0.01, 0x80)])  # the .pte flatbuffer / safetensors / protobuf header
@example(edits=[("head", 0.49, 0x80)])  # a .pte's tables: still a readable card, a bad program
@example(edits=[("card", 0.01, 0x80)])  # a card byte made invalid UTF-8
def test_a_byte_flipped_artifact_is_refused_or_predicts_exactly_as_before(
        artifacts, originals, tmp_path, kind, part, edits):
    copy = copy_artifact(artifacts[kind], Path(tempfile.mkdtemp(dir=tmp_path)),
                         sidecar=part != "no sidecar")
    target = {"model.safetensors": copy / "model.safetensors", "card.json": copy / "card.json",
              "sidecar": copy.with_name(copy.stem + ".card.json")}.get(part, copy)
    data = target.read_bytes()
    flip_bytes(target, [(_positions(data, where, at), mask) for where, at, mask in edits])
    refused_or_identical(copy, originals[kind], copy.stem)


# ------------------------------------------------------------------------- artifacts: cards

json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6)
                           | st.floats(allow_nan=True) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=6)
DECISIVE = ["labels", "label_names", "input_size", "mean", "std", "architecture", "color_order",
            "value_range", "layout", "normalization", "resize", "interpolation", "views",
            "quantization", "integrity_sha256", "artifact_sha256", "metrics", "schema"]


@st.composite
def card_edits(draw):
    """A function editing a card dict in place, and its name (for the failure report)."""
    what = draw(st.sampled_from(["permute labels", "duplicate label", "rename label",
                                 "other mean/std", "other input_size", "wrong type",
                                 "drop field", "unknown field", "other hash"]))
    n = 7
    if what == "permute labels":
        perm = draw(st.permutations(range(n)).filter(lambda p: list(p) != list(range(n))))

        def edit(d):
            for k in ("labels", "label_names"):
                d[k] = [d[k][i] for i in perm]
        return what, edit
    if what == "duplicate label":
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        return what, lambda d: d["labels"].__setitem__(j, d["labels"][i])
    if what == "rename label":
        i, name = draw(st.integers(0, n - 1)), draw(st.text(max_size=6))
        return what, lambda d: d["labels"].__setitem__(i, name)
    if what == "other mean/std":
        k, i = draw(st.sampled_from(["mean", "std"])), draw(st.integers(0, 2))
        v = draw(st.floats(-2, 2) | st.sampled_from([0.0, 1.0, float("nan")]))
        return what, lambda d: d[k].__setitem__(i, v)
    if what == "other input_size":
        v = draw(st.integers(-8, 4096) | st.sampled_from(["64", 64.0, None, True]))
        return what, lambda d: d.__setitem__("input_size", v)
    if what == "wrong type":
        k, v = draw(st.sampled_from(DECISIVE)), draw(json_values)
        return what, lambda d: d.__setitem__(k, v)
    if what == "drop field":
        k = draw(st.sampled_from(DECISIVE))
        return what, lambda d: d.pop(k, None)
    if what == "unknown field":
        k, v = "x_" + draw(st.text(max_size=5)), draw(json_values)
        return what, lambda d: d.__setitem__(k, v)
    v = draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    return what, lambda d: d.__setitem__("integrity_sha256", v)


def _write_card(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _edit_onnx_card(path: Path, edit) -> None:
    import onnx

    m = onnx.load(str(path))
    for p in m.metadata_props:
        if p.key == "skinedge.model_card":
            doc = json.loads(p.value)
            edit(doc)
            p.value = json.dumps(doc, indent=2, sort_keys=True)
    onnx.save(m, str(path))


@few(25)
@pytest.mark.parametrize("where", ["checkpoint card.json", "onnx metadata", "pte sidecar"])
@given(named=card_edits())
def test_an_edited_card_is_refused_or_predicts_exactly_as_before(artifacts, originals, tmp_path,
                                                                  where, named):
    _, edit = named
    kind = {"checkpoint card.json": "checkpoint", "onnx metadata": "onnx",
            "pte sidecar": "executorch"}[where]
    copy = copy_artifact(artifacts[kind], Path(tempfile.mkdtemp(dir=tmp_path)))
    if kind == "checkpoint":
        _write_card(copy / "card.json", edit)
    elif kind == "onnx":
        _edit_onnx_card(copy, edit)
    else:
        _write_card(copy.with_name(copy.stem + ".card.json"), edit)
    refused_or_identical(copy, originals[kind], copy.stem)


SAME_LENGTH = [(b'"bcc"', b'"bkl"'), (b'"df"', b'"nv"'), (b'"mel"', b'"bcc"'),
               (b'"nv"', b'"df"'), (b'"input_size": 64', b'"input_size": 32'),
               (b'"views": 1', b'"views": 8'), (b'"color_order": "RGB"', b'"color_order": "BGR"')]


@few(20)
@given(swap=st.sampled_from(SAME_LENGTH), digit=st.integers(0, 9), which=st.integers(0, 30),
       sidecar=st.booleans())
def test_an_edited_card_inside_a_pte_is_refused(artifacts, originals, tmp_path, swap, digit,
                                                 which, sidecar):
    copy = copy_artifact(artifacts["executorch"], Path(tempfile.mkdtemp(dir=tmp_path)),
                         sidecar=sidecar)
    data = copy.read_bytes()
    lo, hi = _card_span(data)
    card = data[lo:hi]
    a, b = swap
    if a in card and a != b:  # labels: swap two of the same length (offsets do not move)
        edited = card.replace(a, b"\0TMP\0"[:len(a)]).replace(b, a).replace(b"\0TMP\0"[:len(a)], b)
    else:
        digits = [m.start() for m in re.finditer(rb"\d", card)]
        pos = digits[which % len(digits)]
        edited = card[:pos] + str(digit).encode() + card[pos + 1:]
    assume(edited != card)
    copy.write_bytes(data[:lo] + edited + data[hi:])
    refused_or_identical(copy, originals["executorch"], copy.stem)


@few(15)
@pytest.mark.parametrize("kind", ["checkpoint", "onnx"])
@given(named=card_edits())
def test_a_card_stripped_of_its_hash_never_changes_a_label_silently(artifacts, originals,
                                                                    tmp_path, capfd, kind, named):
    """Deleting integrity_sha256 makes a card look older than the hash: it may load (the old
    way) only with the one-line warning, and never with other labels or predictions unless
    that warning was given."""
    _, edit = named
    copy = copy_artifact(artifacts[kind], Path(tempfile.mkdtemp(dir=tmp_path)))

    def strip(d):
        edit(d)
        d.pop("integrity_sha256", None)
    (_write_card(copy / "card.json", strip) if kind == "checkpoint"
     else _edit_onnx_card(copy, strip))
    capfd.readouterr()
    verdict, clf = attempt(skinedge.load, copy)
    if verdict == "ok":
        verdict, got = attempt(outputs, clf, IMAGES)
        warned = "written before integrity hashes" in capfd.readouterr().err
        if verdict == "ok" and (got[0] != originals[kind][0]
                                or not np.array_equal(got[1], originals[kind][1])):
            assert warned, "an edited card changed the predictions without a word"
    if verdict == "refused":
        assert_clear(clf if isinstance(clf, SkinedgeError) else got, copy.stem)


@few(300)
@given(field=st.sampled_from(DECISIVE + ["params", "flops", "training", "software",
                                         "weights_dtype", "format", "artifact_file",
                                         "artifact_hash_scope"]),
       value=json_values, drop=st.booleans())
def test_model_card_fields_are_checked_when_read(field, value, drop):
    doc = ModelCard(architecture="mobilenetv4_conv_small", input_size=64, mean=(0.5,) * 3,
                    std=(0.2,) * 3, params=1, flops=2).to_dict()
    if drop:
        doc.pop(field, None)
    else:
        doc[field] = value
    verdict, card = attempt(ModelCard.from_json, json.dumps(doc), "some/card.json")
    if verdict == "refused":
        assert isinstance(card, CheckpointError)
        assert_clear(card, "some/card.json")
        return
    again = ModelCard.from_json(card.to_json(), "again")  # what loads, saves and loads again
    assert again.to_json() == card.to_json()
    assert len(set(card.labels)) == len(card.labels) >= 2
    assert 16 <= card.input_size <= 2048 and all(0 < s <= 1 for s in card.std)


# ------------------------------------------------------------------------- finite outputs

@pytest.fixture(scope="module")
def small_eager(small_model):
    """The small model in memory, its weights kept aside to restore after each poisoning."""
    from skinedge.checkpoint import load_checkpoint

    model, card = load_checkpoint(small_model)
    return model, card, {k: v.clone() for k, v in model.state_dict().items()}


@few(6)
@given(which=st.integers(0, 10**6), count=st.integers(1, 8),
       value=st.sampled_from([np.nan, np.inf, -np.inf, 3e38, -3e38]))
def test_non_finite_weights_never_become_a_label(small_eager, tmp_path, which, count, value):
    import torch

    from skinedge.checkpoint import save_checkpoint

    model, card, clean = small_eager
    model.load_state_dict(clean)
    tensors = [v for v in model.state_dict().values() if v.is_floating_point()]
    with torch.no_grad():
        flat = tensors[which % len(tensors)].view(-1)
        for k in range(count):
            flat[(which + 7919 * k) % flat.numel()] = float(value)
    dest = Path(tempfile.mkdtemp(dir=tmp_path)) / "poisoned"
    save_checkpoint(dest, model, card)  # sealed: the integrity hash matches the poison
    clf = skinedge.load(dest)
    verdict, out = attempt(clf.predict, IMAGES[0])
    if verdict == "refused":
        assert isinstance(out, ModelOutputError), out
        assert_clear(out, str(IMAGES[0]))
    else:
        assert_valid(out, clf.labels)
    for p, image in zip(clf.predict(list(IMAGES)), IMAGES):
        if p.error:
            assert p.label is None and not p.probabilities and str(image) in p.error
        else:
            assert_valid(p, clf.labels)
