"""Golden vectors: a small folder every app's tests read (DESIGN.md, contract 6).

``skinedge export`` writes ``golden/`` beside the artifacts (``--no-golden`` skips it): a few
odd-shaped images made from the shipped HAM10000 sample, the exact model images the card's
preprocessing makes of them, the float input of one, the probabilities and the API's
calibrated outputs from each model that runs here, the cards, tolerances, and a manifest of
every file with its sha256. The format is written down in ``GOLDEN_README`` (copied into the
folder as README.md). Everything is deterministic: the same model, software and machine give
the same bytes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .atomic import write_folder
from .errors import OutputError
from .layout import SAMPLE_DATA

SCHEMA = "skinedge.golden/1"
GOLDEN = "golden"
CHECKPOINT = "checkpoint"  # the key of the eager checkpoint's expected outputs
FLOAT_INPUTS = ("landscape_200x150",)  # images whose float NCHW input is stored as well
EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class GoldenImage:
    name: str
    source: str  # ISIC image id in the shipped sample
    how: str
    make: Callable[[Image.Image], Image.Image]  # decoded RGB sample image -> the golden image


def _ellipse_alpha(w: int, h: int) -> np.ndarray:
    """uint8 [h, w]: opaque inside an ellipse, 96 in a ring, transparent outside (integers
    only, so the bytes never depend on floating point)."""
    u = 2 * np.arange(w, dtype=np.int64)[None, :] + 1 - w
    v = 2 * np.arange(h, dtype=np.int64)[:, None] + 1 - h
    e, r = 25 * (u * u * h * h + v * v * w * w), (w * h) ** 2
    return np.where(e <= 16 * r, 255, np.where(e <= 25 * r, 96, 0)).astype(np.uint8)


def _with_alpha(img: Image.Image) -> Image.Image:
    rgb = np.asarray(img.crop((20, 9, 177, 140)))
    alpha = _ellipse_alpha(rgb.shape[1], rgb.shape[0])
    return Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")


def _grey16(img: Image.Image) -> Image.Image:
    """16-bit luma (I;16) with the low byte used, not 8-bit values times 257."""
    a = np.asarray(img.transpose(Image.Transpose.ROTATE_270)).astype(np.int64)
    luma = a[..., 0] * 19595 + a[..., 1] * 38470 + a[..., 2] * 7471  # 0..255 * 65536
    return Image.fromarray(((luma * 257) >> 16).astype(np.uint16))


def _exif_rotated(img: Image.Image) -> Image.Image:
    """Stored 200x150 with EXIF orientation 6: shown (and classified) as 150x200."""
    img = img.copy()
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    img.info["exif"] = exif.tobytes()
    return img


IMAGES = (
    GoldenImage("landscape_200x150", "ISIC_0024675", "the sample image as decoded (RGB)",
                lambda im: im),
    GoldenImage("portrait_113x199", "ISIC_0024329", "rotated 90 degrees, cropped to 113x199",
                lambda im: im.transpose(Image.Transpose.ROTATE_90).crop((0, 0, 113, 199))),
    GoldenImage("tiny_13x9", "ISIC_0024393", "box-downscaled to 13x9 (upscaled by the model)",
                lambda im: im.resize((13, 9), Image.BOX)),
    GoldenImage("large_801x601", "ISIC_0024332", "nearest-upscaled to 801x601",
                lambda im: im.resize((801, 601), Image.NEAREST)),
    GoldenImage("alpha_157x131", "ISIC_0024330", "cropped to 157x131, RGBA with an elliptical "
                "alpha (255 inside, 96 in a ring, 0 outside): composited on white", _with_alpha),
    GoldenImage("grey8_180x135", "ISIC_0024337", "8-bit greyscale (L), box-downscaled",
                lambda im: im.convert("L").resize((180, 135), Image.BOX)),
    GoldenImage("grey16_150x200", "ISIC_0024375", "rotated 270 degrees, 16-bit greyscale "
                "(I;16, luma of RGB x 257 in integers)", _grey16),
    GoldenImage("exif_rotated_200x150", "ISIC_0024393", "stored 200x150 with EXIF orientation "
                "6 (rotate 90 degrees clockwise to display): the model sees 150x200",
                _exif_rotated),
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dump(path: Path, doc) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def probability_atol(card) -> float:
    """How far another build of the same runtime (another CPU, the app's runtime) may be
    from the recorded probabilities: float models 1e-4; quantized (int8, fp16) 1e-2, where
    other kernels may round differently."""
    return 1e-4 if card.quantization in ("none", "fp32") else 1e-2


def check_free(dest: Path) -> None:
    """Refuse (before any work) to replace a ``golden/`` that export did not write."""
    manifest = Path(dest) / "manifest.json"
    try:
        ours = json.loads(manifest.read_text()).get("schema") == SCHEMA
    except (OSError, ValueError, AttributeError):
        ours = False
    if Path(dest).exists() and not ours:
        raise OutputError(f"{dest}: exists and was not written by skinedge export (no "
                          f"{SCHEMA} manifest.json in it); move it away, choose another --out, "
                          "or pass --no-golden")


def _write_images(root: Path) -> list[dict]:
    """images/<name>.png from the shipped sample; their index entries."""
    (root / "images").mkdir()
    entries = []
    for g in IMAGES:
        with Image.open(SAMPLE_DATA / "images" / f"{g.source}.jpg") as src:
            img = g.make(src.convert("RGB"))
        file = f"images/{g.name}.png"
        img.save(root / file, "PNG", exif=img.info.get("exif", b""))
        entries.append({"name": g.name, "file": file, "source": f"{g.source}.jpg (HAM10000)",
                        "how": g.how, "stored_size": list(img.size), "mode": img.mode})
    return entries


def _write_inputs(root: Path, clf, entries: list[dict]) -> np.ndarray:
    """model_image/<name>.u8 (uint8 [S, S, 3]) for every image, model_input/<name>.f32
    (float32 little-endian [1, 3, S, S]) for FLOAT_INPUTS; returns the model images stacked."""
    from .preprocess import to_model_input

    s, stacked = clf.card.input_size, []
    for e in entries:
        arr = clf.preprocess(root / e["file"])
        e["model_image"] = {"file": f"model_image/{e['name']}.u8", "dtype": "uint8",
                            "shape": [s, s, 3], "layout": "HWC", "order": "RGB"}
        _raw(root / e["model_image"]["file"], arr)
        if e["name"] in FLOAT_INPUTS:
            e["model_input"] = {"file": f"model_input/{e['name']}.f32", "dtype": "float32",
                                "byte_order": "little", "shape": [1, 3, s, s], "layout": "NCHW"}
            _raw(root / e["model_input"]["file"], to_model_input(arr[None]).astype("<f4"))
        stacked.append(arr)
    return np.stack(stacked)


def _raw(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.ascontiguousarray(arr).tobytes())


def expected_outputs(clf, root: Path, entries: list[dict], images: np.ndarray) -> dict:
    """Per image: the model's softmax in label order, and the API's prediction (calibrated
    probabilities, top-k of every class, referral, gate) as ``Prediction.to_dict``."""
    raw = clf.predict_batch_array(images)
    preds = clf.predict([root / e["file"] for e in entries], top_k=len(clf.labels))
    out = {}
    for e, p, pred in zip(entries, raw, preds):
        if pred.error:
            raise OutputError(f"golden image {e['file']}: {pred.error}")
        out[e["name"]] = {"probabilities": [float(x) for x in p],
                          "prediction": {**pred.to_dict(), "source": e["file"]}}
    return out


def _model_entry(name: str, clf) -> dict:
    c = clf.card
    return {"name": name, "runtime": clf.target, "format": c.format,
            "quantization": c.quantization, "views": c.views,
            "integrity_sha256": c.integrity_sha256, "card": f"cards/{name}.json",
            "expected": f"expected/{name}.json",
            "tolerance": {"probabilities_atol": probability_atol(c)}}


def _describe(path: str) -> str:
    folder = path.split("/")[0]
    return {"images": "input image (PNG) made from the shipped HAM10000 sample",
            "model_image": "uint8 [S, S, 3] RGB model image after the card's preprocessing",
            "model_input": "float32 little-endian [1, 3, S, S]: the model image / 255, NCHW",
            "expected": "softmax probabilities and API prediction per image for one model",
            "cards": "the model card embedded in one model",
            "index.json": "what each file holds: images, arrays (shape, dtype), models, "
                          "tolerances",
            "README.md": "the format of this folder (HAM10000 attribution included)"}[folder]


def _write_manifest(root: Path) -> None:
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    _dump(root / "manifest.json", {"schema": SCHEMA, "files": [
        {"path": f, "bytes": (root / f).stat().st_size, "sha256": _sha256(root / f),
         "description": _describe(f)} for f in files]})


def _write(root: Path, models: dict[str, Path]) -> None:
    from .api import load

    clfs = {name: load(path) for name, path in models.items()}
    ref = clfs[CHECKPOINT]
    entries = _write_images(root)
    images = _write_inputs(root, ref, entries)
    for name, clf in clfs.items():
        if clf.card.input_size != ref.card.input_size:
            raise OutputError(f"{models[name]}: input size {clf.card.input_size} differs from "
                              f"the checkpoint's {ref.card.input_size}: not the same model")
        _dump(root / "expected" / f"{name}.json", expected_outputs(clf, root, entries, images))
        (root / "cards").mkdir(exist_ok=True)
        (root / "cards" / f"{name}.json").write_text(clf.card.to_json() + "\n")
    _dump(root / "index.json", {
        "schema": SCHEMA, "labels": list(ref.labels), "input_size": ref.card.input_size,
        "images": entries, "models": [_model_entry(n, c) for n, c in clfs.items()],
        "tolerance": {"model_image_atol": 0, "model_input_atol": 0},
        "model_input_rule": "float32(model_image[y, x, c]) / 255.0f at [0, c, y, x]",
        "attribution": ATTRIBUTION})
    (root / "README.md").write_text(GOLDEN_README)
    _write_manifest(root)


def write_golden(dest: str | Path, checkpoint: str | Path, artifacts=()) -> Path:
    """Write ``dest`` (replacing it whole) for ``checkpoint`` and the ``artifacts`` that run
    here (paths; each keyed by its file name). Returns ``dest``."""
    models = {CHECKPOINT: Path(checkpoint), **{Path(a).name: Path(a) for a in artifacts}}
    write_folder(dest, lambda tmp: _write(tmp, models))
    return Path(dest)


def _compare(what: str, got: np.ndarray, want: np.ndarray, atol: float) -> list[str]:
    if got.shape != want.shape:
        return [f"{what}: shape {list(got.shape)}, golden {list(want.shape)}"]
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    if (diff > atol).any():
        return [f"{what}: {int((diff > atol).sum())} values differ from the golden ones by more "
                f"than {atol:g} (max {diff.max():.3g})"]
    return []


def _check_inputs(root: Path, index: dict, clf) -> list[str]:
    from .preprocess import to_model_input

    problems, s = [], index["input_size"]
    for e in index["images"]:
        got = clf.preprocess(root / e["file"])
        want = np.fromfile(root / e["model_image"]["file"], np.uint8).reshape(s, s, 3)
        problems += _compare(f"model image of {e['file']}", got, want, 0)
        if "model_input" in e:
            f = np.fromfile(root / e["model_input"]["file"], "<f4").reshape(1, 3, s, s)
            problems += _compare(f"model input of {e['file']}", to_model_input(want[None]), f, 0)
    return problems


def verify_golden(dest: str | Path, models: dict[str, str | Path],
                  atol: float | None = None) -> list[str]:
    """Problems found checking ``dest`` against the code and models here: the manifest's
    sha256s, every model image and float input (exactly), and the outputs of every model in
    ``models`` ({index name: path}) within ``atol`` (default: each model's own tolerance).
    Empty when everything matches."""
    from .api import load

    root = Path(dest)
    index = json.loads((root / "index.json").read_text())
    problems = [f"{f['path']}: sha256 differs from the manifest's" for f in json.loads(
        (root / "manifest.json").read_text())["files"] if _sha256(root / f["path"]) != f["sha256"]]
    entries, names = {m["name"]: m for m in index["models"]}, [e["name"] for e in index["images"]]
    for name, path in models.items():
        clf, m = load(path), entries[name]
        if name == CHECKPOINT:
            problems += _check_inputs(root, index, clf)
        s = index["input_size"]
        images = np.stack([np.fromfile(root / e["model_image"]["file"], np.uint8).reshape(s, s, 3)
                           for e in index["images"]])
        want = json.loads((root / m["expected"]).read_text())
        got = expected_outputs(clf, root, index["images"], images)
        tol = m["tolerance"]["probabilities_atol"] if atol is None else atol
        for key in ("probabilities", "calibrated"):
            pick = (lambda d: d["probabilities"]) if key == "probabilities" else \
                (lambda d: [d["prediction"]["probabilities"][c] for c in index["labels"]])
            problems += _compare(f"{key} of {name}", np.array([pick(got[n]) for n in names]),
                                 np.array([pick(want[n]) for n in names]), tol)
    return problems


ATTRIBUTION = (
    "Images derived from the HAM10000 dataset: Tschandl P., Rosendahl C., Kittler H., \"The "
    "HAM10000 dataset, a large collection of multi-source dermatoscopic images of common "
    "pigmented skin lesions\", Scientific Data 5, 180161 (2018), doi:10.1038/sdata.2018.161; "
    "Harvard Dataverse doi:10.7910/DVN/DBW86T. License: CC BY-NC 4.0 "
    "(https://creativecommons.org/licenses/by-nc/4.0/), non-commercial use only. Changes: "
    "downscaled, cropped, rotated, converted to greyscale, given an alpha channel or an EXIF "
    "orientation, as index.json says per image.")

GOLDEN_README = f"""# Golden vectors (`{SCHEMA}`)

Written by `skinedge export` beside the artifacts (skip with `--no-golden`); rewritten whole
by every export into the same folder. Python, the Android JVM core, the Swift core and the web
demo's JS are tested against these files, so no app can drift from the card's preprocessing or
from the models. Nothing here needs numpy: arrays are raw little-endian binary, described in
`index.json`.

## Files

| path | holds |
| --- | --- |
| `index.json` | labels (card order), `input_size` S, every image (source, how it was made, stored size, PIL mode), its arrays (file, dtype, shape, layout), every model (runtime, format, quantization, integrity_sha256, tolerance), `model_input_rule`, attribution |
| `images/<name>.png` | the input images (PNG, lossless, so every platform decodes the same pixels) |
| `model_image/<name>.u8` | uint8 [S, S, 3], HWC, RGB: the exact bytes the card's preprocessing makes of the image (EXIF orientation applied, alpha composited on white, 16-bit and grey to 8-bit RGB, shorter side resized to S with Pillow's antialiased bilinear filter, centre crop) |
| `model_input/<name>.f32` | float32 little-endian [1, 3, S, S], NCHW: `model_image[y, x, c] / 255.0f` at `[0, c, y, x]` (for the images `index.json` lists with `model_input`; the rule is the same for all) |
| `expected/<model>.json` | per image name: `probabilities` (the model's own softmax, label order) and `prediction` (what `skinedge.load(model).predict` returns: `label` = argmax of the softmax, `probabilities` calibrated per the card's `calibration`, `top_k` of every class, `malignant_probability`, `refer`, `threshold`, `gate` with `usable`, `reasons`, `scores`) |
| `cards/<model>.json` | the model card each model carries (`{CHECKPOINT}`: the eager checkpoint the artifacts were exported from) |
| `manifest.json` | every other file: path, bytes, sha256, description |

Models are keyed by artifact file name; `{CHECKPOINT}` is the eager checkpoint. Only models that
run on the exporting machine have expected outputs (a CoreML package off macOS does not: an iOS
test compares it with the `{CHECKPOINT}` entry within its recipe's parity tolerance,
`max_abs_diff` in `export/*.toml`).

`probabilities` are computed from the stored model images, so they check the model alone;
`prediction` is computed from the image files through the whole pipeline (decode,
preprocessing, model, calibration, gate), so it checks everything an app does.

## Tolerances

- model images and float inputs: exact (`model_image_atol` and `model_input_atol` 0). An app
  that resizes with its platform's scaler (`Bitmap.createScaledBitmap`, Vision's
  `.centerCrop`) will not match: port Pillow's fixed-point two-pass bilinear resize (support
  scaled by the downscale factor, round half to even).
- probabilities (raw and calibrated): each model's `tolerance.probabilities_atol`: 1e-4 for
  float models, 1e-2 for quantized ones, for the same artifact on another runtime build or CPU.
  On the exporting machine, Python reproduces them exactly.
- the label: must equal `prediction.label` wherever the top two raw probabilities differ by more
  than twice the tolerance.

## Determinism

The images are made from fixed images of the shipped sample with integer arithmetic; JSON is
written with sorted keys; nothing holds a path or a time. The same model, software versions and
machine give the same bytes (`manifest.json` included); other CPUs may change the last digits of
the probabilities.

## Data

{ATTRIBUTION}
"""
