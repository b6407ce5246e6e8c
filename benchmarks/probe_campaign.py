"""Probe campaign (issue 11, "Done when"): bad inputs and faults across every subcommand of the
CLI and the Python API, each run and classified.

    python benchmarks/probe_campaign.py [--out benchmarks/results/probes] [--only TEXT]

Verdicts:
- ``clear``: the right answer. For a fault: non-zero exit, one error line naming the file or
  flag, no traceback (API: a SkinedgeError, one line, naming it); for a batch with one bad item:
  exit 1, that item's ERROR line, the others classified; for a valid edge case: a result
  (the same label as the equivalent plain input where one exists).
- ``weak``: a traceback or another exception type, a message that does not name the culprit or
  spans lines, a whole batch lost for one item, exit 0 with error text, a hang, or too much
  memory.
- ``silent``: exit 0 or a label where it should have failed, NaN in the output, a label
  other than the original model's, more output lines than images (forged by a file name or
  card text), a user's own file deleted, or exit 0 without the warning a probe expects
  (``warn``: e.g. a cache entry that fails its checksum).

Issue 24 added ``hostile_probes``: ONNX external data and a .pte with a second card appended
(what the hash must cover), card text with line breaks and terminal escapes, hostile gates,
``calibrate --out`` and ``cache clear`` on a user's own folders, a zeroed cache entry, and
absurd nesting, caps, device files and aspect ratios.

Fixtures are built once in a temporary folder from the shipped model and sample: fp32 .onnx and
.pte exports (``skinedge export``), tampered copies, broken images and data folders. CLI probes
run ``python -m skinedge.cli`` from this checkout with a timeout, in their own process group
(their peak memory is read from ``wait4``); API probes run in one worker process (restarted if
a probe kills it). Writes ``probes.json`` (every probe) and ``summary.md`` (counts and every
non-clear probe) under --out.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "probes"
MODEL = ROOT / "skinedge" / "assets" / "default_model"
SAMPLE = ROOT / "skinedge" / "assets" / "ham10000_sample"
TRAIN_SMALL = ["--epochs", "1", "--max-batches", "1", "--img-size", "32", "--no-progress"]
# The fp32 exports of the shipped model, named as `skinedge export` names them (architecture,
# backend, quantization): whichever architecture is shipped.
_ARCH = json.loads((MODEL / "card.json").read_text())["architecture"]
ONNX, PTE = f"{_ARCH}_onnx_fp32.onnx", f"{_ARCH}_xnnpack_fp32.pte"
TRACEBACK = "Traceback (most recent call last)"
# stderr lines that are not the command's answer: backend chatter, progress, warnings
NOISE = re.compile(r"^(WARNING:|W\d{4} |I\d{4} |\s*$)|[\d?.]+ ?\w*/s\]|\d+%\||"
                   r"skinedge: warning:|UserWarning|warnings\.warn|FutureWarning|"
                   r"^intended use: ")  # predict's fixed notice on every run


@dataclass
class Probe:
    """One bad input or fault. ``argv``: a CLI probe (``skinedge ARGV``; {W} is the fixture
    folder); ``api``: the name of an API probe function below. ``expect``: "error" (a clear
    refusal), "item" (a batch where only the bad item fails), "ok" (a valid input: a result),
    "same" (a result whose label is ``ref``'s), "refuse-or-same" (refused, or the original's
    label), "refuse-or-warn" (refused, or loaded with the one-line legacy warning). ``needle``:
    what the error must name."""

    name: str
    area: str
    argv: list[str] | None = None
    api: str | None = None
    expect: str = "error"
    needle: str = ""
    ref: str = ""
    env: dict = field(default_factory=dict)
    timeout: int = 240
    max_rss_mb: int = 3000
    isolated: bool = False  # run as its own process (memory measured, hangs contained)
    keeps: list = field(default_factory=list)  # files a user owns that must survive the probe
    lines: int = 0  # stdout lines a run that exits 0 must print (one per image)


@dataclass
class Result:
    name: str
    area: str
    command: str
    expect: str
    exit_code: int | None
    first_stderr_line: str
    verdict: str
    why: str
    seconds: float
    peak_rss_mb: float | None = None  # CLI: the probe process's peak; API: the worker's growth


# ============================================================================ fixtures

def _png(path: Path, w: int, h: int, rows: int | None = None) -> None:
    """A grey PNG whose header says w x h; ``rows`` of zeros are deflated (all by default)."""
    z = zlib.compressobj(9)
    row = b"\0" * (w + 1)
    n = h if rows is None else rows
    per = max(1, (1 << 22) // len(row))
    raw = b"".join(z.compress(row * min(per, n - i)) for i in range(0, n, per)) + z.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0,
                                                                      0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def _swap(doc: dict, a: str = "mel", b: str = "akiec") -> dict:
    labels, names = list(doc["labels"]), list(doc["label_names"])
    i, j = labels.index(a), labels.index(b)
    labels[i], labels[j] = labels[j], labels[i]
    names[i], names[j] = names[j], names[i]
    return {**doc, "labels": labels, "label_names": names}


def _edit_json(path: Path, edit) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text())), indent=2, sort_keys=True) + "\n")


def _flip(path: Path, positions, mask: int = 0xFF) -> None:
    data = bytearray(path.read_bytes())
    for p in positions:
        data[int(p * len(data)) if isinstance(p, float) else p] ^= mask
    path.write_bytes(bytes(data))


def _ck_copy(w: Path, name: str) -> Path:
    dest = w / "bad" / name
    shutil.copytree(MODEL, dest)
    return dest


def _pte_copy(w: Path, name: str, sidecar: bool = True) -> Path:
    folder = w / "bad" / name
    folder.mkdir(parents=True)
    shutil.copy(w / "art" / PTE, folder / PTE)
    if sidecar:
        side = PTE.removesuffix(".pte") + ".card.json"
        shutil.copy(w / "art" / side, folder / side)
    return folder / PTE


def _images(w: Path) -> dict[str, Path]:
    import numpy as np
    from PIL import Image

    d = w / "img"
    d.mkdir()
    samples = sorted((SAMPLE / "images").iterdir())
    f = {"good1": d / "good1.jpg", "good2": d / "good2.jpg"}
    shutil.copy(samples[0], f["good1"])
    shutil.copy(samples[1], f["good2"])
    rgb = Image.open(f["good1"]).convert("RGB")
    grey = rgb.convert("L")
    grey.save(d / "grey.png")
    a = np.asarray(grey)
    Image.fromarray(a.astype(np.float32) / 255.0, mode="F").save(d / "float01.tif")
    Image.fromarray(a.astype(np.float32), mode="F").save(d / "float255.tif")
    Image.fromarray(a.astype(np.uint16) * 257).save(d / "grey16.png")
    Image.fromarray(a.astype(np.uint16) * 257).save(d / "grey16.pgm")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.new("L", rgb.size, 255))
    rgba.save(d / "opaque_rgba.png")
    rgb.convert("CMYK").save(d / "cmyk.jpg")
    rgb.save(d / "rgb.png")
    rgb.convert("P").save(d / "anim.gif", save_all=True, append_images=[grey.convert("P")])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    rgb.save(d / "exif_rotated.jpg", exif=exif)
    Image.frombytes("LAB", rgb.size, rgb.tobytes()).save(d / "lab.tif")
    data = f["good1"].read_bytes()
    (d / "empty.jpg").write_bytes(b"")
    (d / "text.jpg").write_text("this is not an image\n")
    (d / "truncated.jpg").write_bytes(data[: len(data) * 2 // 5])
    png = (d / "rgb.png").read_bytes()
    (d / "truncated.png").write_bytes(png[:300])
    (d / "random.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    corrupt = bytearray(data)
    for i in range(600, len(corrupt), 97):
        corrupt[i] ^= 0x5A
    (d / "corrupt.jpg").write_bytes(bytes(corrupt))
    rgb.resize((4, 4)).save(d / "tiny.png")
    _png(d / "strip200k.png", 200_000, 8)
    _png(d / "strip1m.png", 1_000_000, 8)
    _png(d / "bomb.png", 20_000, 20_000, rows=4)  # 400 MP claimed, a few bytes of data
    (d / "folder.jpg").mkdir()
    os.mkfifo(d / "fifo.jpg")
    (d / "loop.jpg").symlink_to(d / "loop.jpg")
    f.update({p.name.replace(".", "_"): p for p in d.iterdir()})  # {truncated_png}, ...
    f.update(grey=d / "grey.png", rgb=d / "rgb.png", long=d / ("x" * 300 + ".jpg"))
    return f


def _artifacts(w: Path) -> dict[str, Path]:
    """Exports (through the CLI) and tampered copies of the shipped model and its exports."""
    for target in ("onnx", "executorch"):
        r = subprocess.run([sys.executable, "-m", "skinedge.cli", "export", str(MODEL), "--target",
                            target, "--quant", "fp32", "--out", str(w / "art")], cwd=ROOT,
                           capture_output=True, text=True, timeout=900, check=False,
                           env=_env(w))
        if r.returncode:
            sys.exit(f"fixture export --target {target} failed:\n{r.stdout}\n{r.stderr}")
    import onnx
    import torch

    from skinedge.checkpoint import load_checkpoint, save_checkpoint

    bad, f = w / "bad", {"onnx": w / "art" / ONNX, "pte": w / "art" / PTE}
    bad.mkdir()

    def onnx_copy(name: str, edit=None) -> Path:
        dest = bad / name
        shutil.copy(f["onnx"], dest)
        if edit:
            m = onnx.load(str(dest))
            for p in m.metadata_props:
                if p.key == "skinedge.model_card":
                    p.value = json.dumps(edit(json.loads(p.value)), indent=2, sort_keys=True)
            onnx.save(m, str(dest))
        return dest

    f["onnx_swapped"] = onnx_copy("swapped.onnx", _swap)
    f["onnx_stripped_swapped"] = onnx_copy(
        "stripped.onnx", lambda d: {k: v for k, v in _swap(d).items() if k != "integrity_sha256"})
    f["onnx_empty"] = bad / "empty.onnx"
    f["onnx_empty"].write_bytes(b"")
    f["onnx_truncated"] = onnx_copy("truncated.onnx")
    f["onnx_truncated"].write_bytes(f["onnx"].read_bytes()[: f["onnx"].stat().st_size // 2])
    f["onnx_flipped"] = onnx_copy("flipped.onnx")
    _flip(f["onnx_flipped"], [0.5, 0.6, 0.7])
    f["onnx_text"] = bad / "text.onnx"
    f["onnx_text"].write_text("not a model")
    f["onnx_card_utf8"] = onnx_copy("card_utf8.onnx")  # a byte of the card made invalid UTF-8
    data = bytearray(f["onnx_card_utf8"].read_bytes())
    data[data.find(b'"architecture"') + 20] ^= 0x80
    f["onnx_card_utf8"].write_bytes(bytes(data))
    f["onnx_stripped_size"] = onnx_copy(
        "stripped_size.onnx", lambda d: {**{k: v for k, v in d.items() if k != "integrity_sha256"},
                                         "input_size": 64})

    f["pte_side_swapped"] = _pte_copy(w, "pte_side_swapped")
    _edit_json(f["pte_side_swapped"].with_name(PTE.removesuffix(".pte") + ".card.json"), _swap)
    f["pte_noside_flipped"] = _pte_copy(w, "pte_noside_flipped", sidecar=False)
    _flip(f["pte_noside_flipped"], [0.3, 0.5, 0.7])
    f["pte_noside_sign"] = _pte_copy(w, "pte_noside_sign", sidecar=False)
    size = f["pte_noside_sign"].stat().st_size
    _flip(f["pte_noside_sign"], range(size // 4 + 3, size * 3 // 4, 4096), mask=0x80)
    f["pte_foreign_side"] = _pte_copy(w, "pte_foreign_side")
    shutil.copy(MODEL / "card.json", f["pte_foreign_side"].with_name(
        PTE.removesuffix(".pte") + ".card.json"))
    f["pte_noside_card_edit"] = _pte_copy(w, "pte_noside_card_edit", sidecar=False)
    data = f["pte_noside_card_edit"].read_bytes()
    f["pte_noside_card_edit"].write_bytes(
        data.replace(b'"bcc"', b'"@@@"').replace(b'"bkl"', b'"bcc"').replace(b'"@@@"', b'"bkl"'))
    f["pte_noside_header"] = _pte_copy(w, "pte_noside_header", sidecar=False)
    _flip(f["pte_noside_header"], [40, 2000], mask=0x80)
    f["pte_truncated"] = _pte_copy(w, "pte_truncated", sidecar=False)
    f["pte_truncated"].write_bytes(data[: len(data) // 3])
    f["pte_empty"] = bad / "empty.pte"
    f["pte_empty"].write_bytes(b"")

    for name, edit in (("ck_swapped", _swap),
                       ("ck_duplicate", lambda d: {**d, "labels": ["nv"] + d["labels"][1:]}),
                       ("ck_input_size_text", lambda d: {**d, "input_size": "abc"}),
                       ("ck_input_size_64", lambda d: {**d, "input_size": 64}),
                       ("ck_mean", lambda d: {**d, "mean": [0.5, 0.5, 0.5]}),
                       ("ck_stripped_swapped", lambda d: {k: v for k, v in _swap(d).items()
                                                          if k != "integrity_sha256"})):
        f[name] = _ck_copy(w, name)
        _edit_json(f[name] / "card.json", edit)
    f["ck_not_json"] = _ck_copy(w, "ck_not_json")
    (f["ck_not_json"] / "card.json").write_text("{ not json")
    f["ck_no_weights"] = _ck_copy(w, "ck_no_weights")
    (f["ck_no_weights"] / "model.safetensors").unlink()
    f["ck_truncated"] = _ck_copy(w, "ck_truncated")
    weights = f["ck_truncated"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100_000])
    f["ck_flipped"] = _ck_copy(w, "ck_flipped")
    _flip(f["ck_flipped"] / "model.safetensors", [0.5])
    f["ck_header_flipped"] = _ck_copy(w, "ck_header_flipped")
    _flip(f["ck_header_flipped"] / "model.safetensors", [3, 20, 40])

    model, card = load_checkpoint(MODEL)
    with torch.no_grad():
        next(p for p in model.parameters() if p.dim() == 4).view(-1)[:50] = float("nan")
    f["ck_nan"] = bad / "ck_nan"
    save_checkpoint(f["ck_nan"], model, card)
    model, card = load_checkpoint(MODEL)
    f["ck_other_labels"] = bad / "ck_other_labels"
    save_checkpoint(f["ck_other_labels"], model, card.with_(  # trust fields name the old labels
        labels=tuple(f"c{i}" for i in range(7)), label_names=tuple(f"class {i}" for i in range(7)),
        calibration={}, referral={}, gate={}))
    f["ck_plain"] = _ck_copy(w, "ck_plain")  # a copy: calibrate may write where it reads
    f["fake_mlpackage"] = bad / "fake.mlpackage"
    f["fake_mlpackage"].mkdir()
    f["no_card_dir"] = bad / "no_card"
    f["no_card_dir"].mkdir()
    return f


def _other_files(w: Path) -> dict[str, Path]:
    f = {}
    d = w / "misc"
    d.mkdir()
    recipe = (ROOT / "export" / "onnx-fp32.toml").read_text()
    f["recipe_badtype"] = d / "badtype.toml"
    f["recipe_badtype"].write_text(recipe.replace("images = 512", 'images = "many"'))
    f["recipe_unknown"] = d / "unknown.toml"
    f["recipe_unknown"].write_text(recipe + "\nflavour = 3\n")
    f["recipe_garbage"] = d / "garbage.toml"
    f["recipe_garbage"].write_text("[[[ not toml")
    f["recipe_binary"] = d / "binary.toml"
    f["recipe_binary"].write_bytes(bytes(range(256)) * 4)
    f["recipe_range"] = d / "range.toml"
    f["recipe_range"].write_text(recipe.replace("min_cosine = 0.9999", "min_cosine = 7"))
    f["data_empty"] = d / "data_empty"
    f["data_empty"].mkdir()
    f["data_baddx"] = d / "data_baddx"
    shutil.copytree(SAMPLE, f["data_baddx"])
    csv = f["data_baddx"] / "HAM10000_metadata.csv"
    csv.write_text(csv.read_text().replace(",bkl,", ",zzz,", 1))
    f["data_noimages"] = d / "data_noimages"
    f["data_noimages"].mkdir()
    shutil.copy(SAMPLE / "HAM10000_metadata.csv", f["data_noimages"])
    f["data_badcsv"] = d / "data_badcsv"
    f["data_badcsv"].mkdir()
    (f["data_badcsv"] / "HAM10000_metadata.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n")
    f["file"] = d / "a_file.txt"
    f["file"].write_text("a file, not a folder\n")
    f["split_garbage"] = d / "split.json"
    f["split_garbage"].write_text("[1, 2, ")
    f["labels_garbage"] = d / "teacher_labels.safetensors"
    f["labels_garbage"].write_bytes(os.urandom(4000))
    f["same_name"] = d / "same_name"
    (f["same_name"] / ONNX).mkdir(parents=True)
    (f["same_name"] / ONNX / "keep.txt").write_text("not skinedge's")
    f["cache_file"] = d / "cache_is_a_file"
    f["cache_file"].write_text("x")
    return f


def _env(w: Path, extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "SKINEDGE_CACHE": str(w / "cache"), "PYTHONWARNINGS": "ignore"}
    return {**env, **(extra or {})}


def build_fixtures(w: Path) -> dict[str, str]:
    f = {**_images(w), **_other_files(w)}
    f.update(_artifacts(w))
    f.update(_hostile(w, f))
    f.update({"W": w, "model": MODEL, "sample": SAMPLE})
    return {k: str(v) for k, v in f.items()}


def _sealed_ck(w: Path, name: str, edit) -> Path:
    """A checkpoint of the shipped model whose card is ``edit(card)``, sealed as skinedge seals
    (so only the card checks, not the hash, can refuse it)."""
    from skinedge.card import ModelCard
    from skinedge.checkpoint import load_checkpoint, save_checkpoint

    model, card = load_checkpoint(MODEL)
    dest = w / "bad" / name
    save_checkpoint(dest, model, ModelCard.from_dict(card.to_dict()).with_(**edit(card)))
    return dest


def _hostile(w: Path, f: dict) -> dict[str, Path]:
    """Issue 24's fixtures: what the hash must cover, card text that forges lines, hostile
    gates, folders of a user's own that calibrate and the cache must not delete."""
    import onnx
    from PIL import Image

    from skinedge.card import PLACEHOLDER, seal

    out, bad = {}, w / "bad"
    m = onnx.load(f["onnx"])
    for p in m.metadata_props:
        if p.key == "skinedge.model_card":
            p.value = json.dumps({**json.loads(p.value), "integrity_sha256": PLACEHOLDER},
                                 indent=2, sort_keys=True)
    (bad / "external").mkdir()
    out["onnx_external"] = bad / "external" / "ext.onnx"
    onnx.save_model(m, str(out["onnx_external"]), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin")
    seal(out["onnx_external"])
    _flip(bad / "external" / "weights.bin", [0.5, 0.7])  # changed after sealing
    out["pte_appended"] = _pte_copy(w, "pte_appended")
    side = out["pte_appended"].with_name(PTE.removesuffix(".pte") + ".card.json")
    doc = json.loads(side.read_text())
    evil = json.dumps({**_swap(doc, "mel", "nv"), "integrity_sha256": PLACEHOLDER}, indent=2,
                      sort_keys=True)
    data = out["pte_appended"].read_bytes().replace(doc["integrity_sha256"].encode(),
                                                    PLACEHOLDER.encode())
    out["pte_appended"].write_bytes(data + evil.encode())
    side.write_text(evil.replace(PLACEHOLDER, seal(out["pte_appended"])) + "\n")
    forged = "mel\n/fake/other.jpg: nv (Melanocytic nevi)  [nv 0.990]  no referral"
    gate = json.loads((MODEL / "card.json").read_text())["gate"]
    n = len(gate["ood"]["mean"])
    for name, edit in (
            ("ck_forged_label", lambda c: {"labels": (*c.labels[:4], forged, *c.labels[5:])}),
            ("ck_ansi_names", lambda c: {"label_names": ("\x1b[2K\rsha256 ok: forged",
                                                         *c.label_names[1:])}),
            ("ck_ansi_training", lambda c: {"training": {**c.training,
                                                         "data": "\x1b[1Asha256 ok: forged"}}),
            ("ck_gate_1e308", lambda c: {"gate": {**gate, "ood": {**gate["ood"], "precision": [
                [1e308 * (-1) ** (i + j) for j in range(n)] for i in range(n)]}}}),
            ("ck_gate_min_side", lambda c: {"gate": {**gate, "min_side": -5}}),
            ("ck_gate_luminance", lambda c: {"gate": {**gate, "luminance": [0.9, 0.1]}}),
            ("ck_referral_constructor", lambda c: {"referral": {"score": "constructor",
                                                               "tasks": {}}})):
        out[name] = _sealed_ck(w, name, edit)
    out["ck_deep"] = _ck_copy(w, "ck_deep")
    deep = '"deep": ' + "[" * 100_000 + "]" * 100_000 + ', "training": {'
    text = (out["ck_deep"] / "card.json").read_text()
    (out["ck_deep"] / "card.json").write_text(text.replace('"training": {', deep, 1))
    out["onnx_deep"] = bad / "deep.onnx"
    m = onnx.load(f["onnx"])
    for p in m.metadata_props:
        if p.key == "skinedge.model_card":
            p.value = p.value.replace('"training": {', deep, 1)
    onnx.save(m, str(out["onnx_deep"]))
    out["ck_devzero"] = _ck_copy(w, "ck_devzero")
    (out["ck_devzero"] / "model.safetensors").unlink()
    (out["ck_devzero"] / "model.safetensors").symlink_to("/dev/zero")
    out["img_newline"] = w / "img" / "a\nforged.jpg: nv (Melanocytic nevi)  no referral.jpg"
    shutil.copy(f["good1"], out["img_newline"])
    Image.new("RGB", (1001, 100), (180, 120, 110)).save(w / "img" / "wide1001x100.png")
    out["wide1001"] = w / "img" / "wide1001x100.png"
    out.update(_user_folders(w))
    return out


def _user_folders(w: Path) -> dict[str, Path]:
    """Folders of a user's own: a thesis beside a card.json, a checkpoint with notes, a cache
    folder with the user's own .npy files, and a cache whose entry was zeroed."""
    import numpy as np

    out = {"user_thesis": w / "user" / "thesis"}
    (out["user_thesis"] / "photos").mkdir(parents=True)
    (out["user_thesis"] / "thesis.docx").write_text("years of work")
    (out["user_thesis"] / "photos" / "a.jpg").write_bytes(b"jpeg")
    (out["user_thesis"] / "card.json").write_text('{"not": "a model card"}')
    out["user_ck_notes"] = w / "user" / "ck_notes"
    shutil.copytree(MODEL, out["user_ck_notes"])
    (out["user_ck_notes"] / "notes.txt").write_text("mine")
    out["user_cache"] = w / "user" / "cache"
    out["user_cache"].mkdir()
    np.save(out["user_cache"] / "images_224px_train.npy", np.ones((4, 8, 8, 3), np.uint8))
    np.save(out["user_cache"] / ".images_64px_holiday.tmp1.npy", np.ones((4, 8, 8, 3), np.uint8))
    old = time.time() - 86_400
    for p in out["user_cache"].iterdir():
        os.utime(p, (old, old))
    out["corrupt_cache"] = w / "user" / "corrupt_cache"
    r = subprocess.run([sys.executable, "-m", "skinedge.cli", "eval", "--json", "--bootstrap",
                        "0"], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
                       env=_env(w, {"SKINEDGE_CACHE": str(out["corrupt_cache"])}))
    if r.returncode:
        sys.exit(f"fixture eval for the corrupted cache failed:\n{r.stderr[-3000:]}")
    for entry in out["corrupt_cache"].glob("images_*px_*.npy"):
        np.save(entry, np.zeros_like(np.load(entry)))
    return out


# ============================================================================ CLI probes

def cli_probes() -> list[Probe]:
    P = Probe
    out = ["--out", "{W}/runs/x"]
    probes = [
        # --- global / parser
        P("no command", "cli", [], needle="COMMAND"),
        P("unknown command", "cli", ["frobnicate"], needle="frobnicate"),
        P("--version", "cli", ["--version"], expect="ok"),
        # --- predict: images
        P("predict missing image", "predict", ["predict", "{W}/img/missing.jpg"],
          needle="missing.jpg"),
        P("predict empty file", "predict", ["predict", "{empty_jpg}"], needle="empty.jpg"),
        P("predict text file named .jpg", "predict", ["predict", "{text_jpg}"], needle="text.jpg"),
        P("predict truncated jpeg", "predict", ["predict", "--json", "{truncated_jpg}", "{good2}"],
          expect="item", needle="truncated.jpg"),
        P("predict truncated png", "predict", ["predict", "{truncated_png}", "{good1}"],
          expect="item", needle="truncated.png"),
        P("predict random bytes with a PNG header", "predict", ["predict", "{random_png}"],
          needle="random.png"),
        P("predict 4x4 image", "predict", ["predict", "{tiny_png}"], needle="tiny.png"),
        P("predict 200000x8 png (memory)", "predict", ["predict", "{strip200k_png}", "{good1}"],
          expect="item", needle="strip200k.png", max_rss_mb=1500, isolated=True),
        P("predict 1000000x8 png (memory)", "predict", ["predict", "{strip1m_png}", "{good1}"],
          expect="item", needle="strip1m.png", max_rss_mb=1500, isolated=True),
        P("predict 20000x20000 png header (bomb)", "predict", ["predict", "{bomb_png}"],
          needle="bomb.png", max_rss_mb=1500, isolated=True),
        P("predict a folder", "predict", ["predict", "{folder_jpg}"], needle="folder.jpg"),
        P("predict a fifo (must not hang)", "predict", ["predict", "{fifo_jpg}"], needle="fifo.jpg",
          timeout=120, isolated=True),
        P("predict /dev/zero", "predict", ["predict", "/dev/zero"], needle="/dev/zero", timeout=120,
          isolated=True),
        P("predict /proc/self/mem (EIO)", "predict", ["predict", "/proc/self/mem", "{good1}"],
          expect="item", needle="/proc/self/mem"),
        P("predict name too long", "predict", ["predict", "{long}", "{good1}"], expect="item",
          needle="xxxxxxxx"),
        P("predict symlink loop", "predict", ["predict", "{loop_jpg}", "{good1}"], expect="item",
          needle="loop.jpg"),
        P("predict corrupt jpeg (bytes flipped)", "predict", ["predict", "--json", "{corrupt_jpg}",
                                                               "{good1}"],
          expect="item-or-ok", needle="corrupt.jpg"),
        P("predict float tiff in [0,1] = its 8-bit grey", "predict", ["predict", "--json",
                                                                      "{float01_tif}"],
          expect="same", ref="grey"),
        P("predict float tiff in 0..255 (refused, range named)", "predict",
          ["predict", "{float255_tif}"], needle="float255.tif"),
        P("predict 16-bit png = its 8-bit grey", "predict", ["predict", "--json", "{grey16_png}"],
          expect="same", ref="grey"),
        P("predict 16-bit pgm (Pillow mode I)", "predict", ["predict", "--json",
                                                             "{grey16_pgm}"],
          expect="same", ref="grey", needle="grey16.pgm"),
        P("predict opaque RGBA png = RGB", "predict", ["predict", "--json", "{opaque_rgba_png}"],
          expect="same", ref="rgb"),
        P("predict CMYK jpeg", "predict", ["predict", "{cmyk_jpg}"], expect="ok"),
        P("predict animated gif", "predict", ["predict", "{anim_gif}"], expect="ok"),
        P("predict EXIF-rotated jpeg", "predict", ["predict", "{exif_rotated_jpg}"], expect="ok"),
        P("predict LAB tiff", "predict", ["predict", "{lab_tif}"], expect="ok-or-error",
          needle="lab.tif"),
        P("predict good + missing in one batch", "predict", ["predict", "{good1}",
                                                             "{W}/img/nope.jpg", "{good2}"],
          expect="item", needle="nope.jpg"),
        P("predict no images", "predict", ["predict"], needle="images"),
        # --- predict: flags
        P("predict --top-k 0", "predict", ["predict", "--top-k", "0", "{good1}"], needle="--top-k"),
        P("predict --top-k -5", "predict", ["predict", "--top-k", "-5", "{good1}"],
          needle="--top-k"),
        P("predict --top-k abc", "predict", ["predict", "--top-k", "abc", "{good1}"],
          needle="--top-k"),
        P("predict --top-k 100 (clipped)", "predict", ["predict", "--top-k", "100", "{good1}"],
          expect="ok"),
        # --- predict: models
        P("predict --model missing", "predict", ["predict", "--model", "{W}/nope.onnx", "{good1}"],
          needle="nope.onnx"),
        P("predict --model folder without card", "predict", ["predict", "--model", "{no_card_dir}",
                                                             "{good1}"], needle="no_card"),
        P("predict --model a text file", "predict", ["predict", "--model", "{file}", "{good1}"],
          needle="a_file.txt"),
        P("predict --model 0-byte onnx", "predict", ["predict", "--model", "{onnx_empty}",
                                                     "{good1}"], needle="empty.onnx"),
        P("predict --model text .onnx", "predict", ["predict", "--model", "{onnx_text}",
                                                    "{good1}"], needle="text.onnx"),
        P("predict --model truncated onnx", "predict", ["predict", "--model", "{onnx_truncated}",
                                                        "{good1}"], needle="truncated.onnx"),
        P("predict --model byte-flipped onnx", "predict", ["predict", "--json", "--model",
                                                           "{onnx_flipped}", "{good1}"],
          expect="refuse-or-same", ref="onnx", needle="flipped.onnx"),
        P("predict --model onnx with mel/akiec swapped in metadata", "predict",
          ["predict", "--json", "--model", "{onnx_swapped}", "{good1}"], expect="refuse-or-same",
          ref="onnx", needle="swapped.onnx", isolated=True),
        P("predict --model onnx swapped, integrity field removed", "predict",
          ["predict", "--json", "--model", "{onnx_stripped_swapped}", "{good1}"],
          expect="refuse-or-warn", ref="onnx", needle="stripped.onnx"),
        P("predict --model onnx, a card byte made invalid UTF-8", "predict",
          ["predict", "--model", "{onnx_card_utf8}", "{good1}"], needle="card_utf8.onnx"),
        P("predict --model onnx, integrity removed and input_size edited", "predict",
          ["predict", "--json", "--model", "{onnx_stripped_size}", "{good1}"],
          expect="refuse-or-warn", ref="onnx", needle="stripped_size.onnx"),
        P("predict --model pte with swapped sidecar", "predict",
          ["predict", "--json", "--model", "{pte_side_swapped}", "{good1}"],
          expect="refuse-or-same", ref="pte", needle="pte_side_swapped"),
        P("predict --model corrupted pte without sidecar", "predict",
          ["predict", "--json", "--model", "{pte_noside_flipped}", "{good1}"],
          expect="refuse-or-same", ref="pte", needle="pte_noside_flipped"),
        P("predict --model sign-flipped pte without sidecar", "predict",
          ["predict", "--json", "--model", "{pte_noside_sign}", "{good1}"],
          expect="refuse-or-same", ref="pte", needle="pte_noside_sign"),
        P("predict --model pte with another model's sidecar", "predict",
          ["predict", "--json", "--model", "{pte_foreign_side}", "{good1}"],
          expect="refuse-or-same", ref="pte", needle="pte_foreign_side"),
        P("predict --model pte, embedded card labels swapped, no sidecar", "predict",
          ["predict", "--json", "--model", "{pte_noside_card_edit}", "{good1}"],
          expect="refuse-or-same", ref="pte", needle="pte_noside_card_edit"),
        P("predict --model truncated pte", "predict", ["predict", "--model", "{pte_truncated}",
                                                       "{good1}"], needle="pte_truncated"),
        P("predict --model 0-byte pte", "predict", ["predict", "--model", "{pte_empty}",
                                                    "{good1}"], needle="empty.pte"),
        P("predict --model checkpoint with swapped card labels", "predict",
          ["predict", "--json", "--model", "{ck_swapped}", "{good1}"], expect="refuse-or-same",
          ref="model", needle="ck_swapped"),
        P("predict --model checkpoint, duplicate labels", "predict",
          ["predict", "--model", "{ck_duplicate}", "{good1}"], needle="ck_duplicate"),
        P("predict --model checkpoint, input_size 'abc'", "predict",
          ["predict", "--model", "{ck_input_size_text}", "{good1}"], needle="input_size"),
        P("predict --model checkpoint, input_size edited to 64", "predict",
          ["predict", "--json", "--model", "{ck_input_size_64}", "{good1}"],
          expect="refuse-or-same", ref="model", needle="ck_input_size_64"),
        P("predict --model checkpoint, mean edited", "predict",
          ["predict", "--json", "--model", "{ck_mean}", "{good1}"], expect="refuse-or-same",
          ref="model", needle="ck_mean"),
        P("predict --model checkpoint swapped, integrity field removed", "predict",
          ["predict", "--json", "--model", "{ck_stripped_swapped}", "{good1}"],
          expect="refuse-or-warn", ref="model", needle="ck_stripped_swapped"),
        P("predict --model checkpoint card not JSON", "predict",
          ["predict", "--model", "{ck_not_json}", "{good1}"], needle="ck_not_json"),
        P("predict --model checkpoint without weights", "predict",
          ["predict", "--model", "{ck_no_weights}", "{good1}"], needle="ck_no_weights"),
        P("predict --model checkpoint, truncated weights", "predict",
          ["predict", "--model", "{ck_truncated}", "{good1}"], needle="ck_truncated"),
        P("predict --model checkpoint, a weight byte flipped", "predict",
          ["predict", "--json", "--model", "{ck_flipped}", "{good1}"], expect="refuse-or-same",
          ref="model", needle="ck_flipped"),
        P("predict --model checkpoint with NaN weights (sealed)", "predict",
          ["predict", "--json", "--model", "{ck_nan}", "{good1}"], needle="good1.jpg"),
        P("predict --model fake .mlpackage", "predict", ["predict", "--model", "{fake_mlpackage}",
                                                         "{good1}"], needle="fake.mlpackage"),
        # --- inspect
        P("inspect missing", "inspect", ["inspect", "{W}/nope.pte"], needle="nope.pte"),
        P("inspect good onnx", "inspect", ["inspect", "{onnx}"], expect="ok"),
        P("inspect onnx with swapped labels", "inspect", ["inspect", "{onnx_swapped}"],
          needle="swapped.onnx"),
        P("inspect pte with swapped sidecar", "inspect", ["inspect", "{pte_side_swapped}"],
          needle="pte_side_swapped"),
        P("inspect corrupted pte without sidecar", "inspect", ["inspect", "{pte_noside_flipped}"],
          needle="pte_noside_flipped"),
        P("inspect onnx, a card byte made invalid UTF-8", "inspect", ["inspect",
                                                                     "{onnx_card_utf8}"],
          needle="card_utf8.onnx"),
        P("inspect pte without sidecar, header bytes flipped", "inspect",
          ["inspect", "{pte_noside_header}"], needle="pte_noside_header"),
        P("inspect truncated pte", "inspect", ["inspect", "{pte_truncated}"],
          needle="pte_truncated"),
        P("inspect checkpoint with swapped card", "inspect", ["inspect", "{ck_swapped}"],
          needle="ck_swapped"),
        P("inspect checkpoint, a weight byte flipped", "inspect", ["inspect", "{ck_flipped}"],
          needle="ck_flipped"),
        P("inspect checkpoint, weights header flipped", "inspect", ["inspect",
                                                                    "{ck_header_flipped}"],
          needle="ck_header_flipped"),
        P("inspect checkpoint, truncated weights", "inspect", ["inspect", "{ck_truncated}"],
          needle="ck_truncated"),
        P("inspect 0-byte onnx", "inspect", ["inspect", "{onnx_empty}"], needle="empty.onnx"),
        P("inspect a text file", "inspect", ["inspect", "{file}"], needle="a_file.txt"),
        P("inspect --json of a tampered onnx", "inspect", ["inspect", "--json", "{onnx_swapped}"],
          needle="swapped.onnx"),
        # --- eval
        P("eval --data missing", "eval", ["eval", "--data", "{W}/nodata"], needle="nodata"),
        P("eval --data empty folder", "eval", ["eval", "--data", "{data_empty}"],
          needle="data_empty"),
        P("eval --data a file", "eval", ["eval", "--data", "{file}"], needle="a_file.txt"),
        P("eval --data with an unknown dx", "eval", ["eval", "--data", "{data_baddx}"],
          needle="zzz"),
        P("eval --data csv without images", "eval", ["eval", "--data", "{data_noimages}"],
          needle="data_noimages"),
        P("eval --data csv not text", "eval", ["eval", "--data", "{data_badcsv}"],
          needle="HAM10000_metadata.csv"),
        P("eval --split bogus", "eval", ["eval", "--split", "bogus"], needle="--split"),
        P("eval --plot into a missing folder", "eval", ["eval", "--plot", "{W}/no/dir/c.png"],
          needle="--plot"),
        P("eval --plot onto a folder", "eval", ["eval", "--plot", "{data_empty}"],
          needle="data_empty"),
        P("eval --plot into /proc", "eval", ["eval", "--plot", "/proc/probe.png"],
          needle="/proc/probe.png"),
        P("eval a tampered onnx", "eval", ["eval", "{onnx_swapped}"], needle="swapped.onnx"),
        P("eval a model with other labels", "eval", ["eval", "{ck_other_labels}", "--split",
                                                     "all"], needle="ck_other_labels"),
        P("eval a model with NaN weights", "eval", ["eval", "{ck_nan}", "--split", "all"],
          needle="ck_nan"),
        P("eval the shipped model on the sample's test split", "eval", ["eval"],
          expect="ok-or-error", needle="--split"),
        # --- export
        P("export --target bogus", "export", ["export", "--target", "bogus"], needle="--target"),
        P("export --quant int4", "export", ["export", "--quant", "int4"], needle="--quant"),
        P("export --target onnx --quant fp16", "export", ["export", "--target", "onnx", "--quant",
                                                          "fp16", "--out", "{W}/exp1"],
          needle="fp16"),
        P("export --split all (no such flag)", "export", ["export", "--split", "all"],
          needle="--split"),
        P("export --recipe missing", "export", ["export", "--recipe", "{W}/none.toml",
                                                "--out", "{W}/exp2"], needle="none.toml"),
        P("export --recipe with a wrong type", "export", ["export", "--recipe", "{recipe_badtype}",
                                                         "--out", "{W}/exp3"],
          needle="badtype.toml"),
        P("export --recipe with an unknown key", "export", ["export", "--recipe",
                                                           "{recipe_unknown}", "--out",
                                                           "{W}/exp4"], needle="flavour"),
        P("export --recipe not TOML", "export", ["export", "--recipe", "{recipe_garbage}",
                                                 "--out", "{W}/exp5"], needle="garbage.toml"),
        P("export --recipe binary file", "export", ["export", "--recipe", "{recipe_binary}",
                                                    "--out", "{W}/exp6"], needle="binary.toml"),
        P("export --recipe out-of-range tolerance", "export",
          ["export", "--recipe", "{recipe_range}", "--out", "{W}/exp7"], needle="range.toml"),
        P("export --recipe unknown name", "export", ["export", "--recipe", "onnx-fp64",
                                                    "--out", "{W}/exp8"], needle="onnx-fp64"),
        P("export missing model", "export", ["export", "{W}/nomodel", "--target", "onnx",
                                             "--out", "{W}/exp9"], needle="nomodel"),
        P("export a tampered checkpoint", "export", ["export", "{ck_swapped}", "--target", "onnx",
                                                     "--out", "{W}/exp10"], needle="ck_swapped"),
        P("export an .onnx as the model", "export", ["export", "{onnx}", "--target", "onnx",
                                                     "--out", "{W}/exp11"],
          needle="onnx_fp32.onnx"),
        P("export --out a file", "export", ["export", "--target", "onnx", "--out", "{file}"],
          needle="a_file.txt"),
        P("export --out under /proc", "export", ["export", "--target", "onnx", "--out",
                                                 "/proc/skinedge-probe"],
          needle="/proc/skinedge-probe"),
        P("export --out holds a folder with the artifact's name", "export",
          ["export", "--target", "onnx", "--out", "{same_name}"], needle=ONNX),
        P("export --data missing", "export", ["export", "--target", "onnx", "--data",
                                              "{W}/nodata", "--out", "{W}/exp12"],
          needle="nodata"),
        # --- train (parse-time refusals; anything that starts is capped to one batch)
        *[P(f"train {' '.join(a)}", "train", ["train", *out, *TRAIN_SMALL[:4], *a], needle=n)
          for a, n in ((["--lr", "-1"], "--lr"), (["--lr", "nan"], "--lr"),
                       (["--lr", "abc"], "--lr"), (["--seed", "-1"], "--seed"),
                       (["--seed", "10000000"], "--seed"), (["--workers", "-1"], "--workers"),
                       (["--drop-rate", "5"], "--drop-rate"),
                       (["--label-smoothing", "2"], "--label-smoothing"),
                       (["--img-size", "100000"], "--img-size"), (["--img-size", "30"], "--img-size"),
                       (["--img-size", "0"], "--img-size"), (["--epochs", "0"], "--epochs"),
                       (["--batch-size", "0"], "--batch-size"),
                       (["--weight-decay", "-0.1"], "--weight-decay"),
                       (["--split-fractions", "0.5,0.5"], "--split-fractions"),
                       (["--split-fractions", "0.7,0.2,0.2"], "--split-fractions"),
                       (["--split-fractions", "a,b,c"], "--split-fractions"),
                       (["--arch", "resnet9000"], "resnet9000"),
                       (["--balance", "bogus"], "--balance"), (["--mixup", "-1"], "--mixup"),
                       (["--synthetic-ratio", "1.5"], "--synthetic-ratio"),
                       (["--max-batches", "0"], "--max-batches"),
                       (["--eval-batch-size", "0"], "--eval-batch-size"))],
        P("train without --out", "train", ["train", *TRAIN_SMALL], needle="--out"),
        P("train --split-file missing", "train", ["train", *out, *TRAIN_SMALL, "--split-file",
                                                  "{W}/nosplit.json"], needle="nosplit.json"),
        P("train --split-file not JSON", "train", ["train", *out, *TRAIN_SMALL, "--split-file",
                                                   "{split_garbage}"], needle="split.json"),
        P("train --data missing", "train", ["train", *out, *TRAIN_SMALL, "--data", "{W}/nodata"],
          needle="nodata"),
        P("train --data with an unknown dx", "train", ["train", *out, *TRAIN_SMALL, "--data",
                                                       "{data_baddx}"], needle="zzz"),
        P("train --out a file", "train", ["train", "--out", "{file}", *TRAIN_SMALL],
          needle="a_file.txt"),
        P("train --out under /proc", "train", ["train", "--out", "/proc/skinedge-probe",
                                               *TRAIN_SMALL], needle="/proc/skinedge-probe"),
        P("train --init missing", "train", ["train", *out, *TRAIN_SMALL, "--init", "{W}/noinit"],
          needle="noinit"),
        P("train --init of another architecture", "train",
          ["train", "--out", "{W}/runs/init", *TRAIN_SMALL, "--arch", "efficientnet_b0",
           "--init", "{model}"], needle="--init"),
        P("train --synthetic missing", "train", ["train", *out, *TRAIN_SMALL, "--synthetic",
                                                 "{W}/nosynth"], needle="nosynth"),
        # --- distill
        P("distill without a teacher", "distill", ["distill", *out, *TRAIN_SMALL],
          needle="--teacher"),
        P("distill --teacher missing", "distill", ["distill", *out, *TRAIN_SMALL, "--teacher",
                                                   "{W}/noteacher"], needle="noteacher"),
        P("distill --teacher tampered", "distill", ["distill", *out, *TRAIN_SMALL, "--teacher",
                                                    "{ck_swapped}"], needle="ck_swapped"),
        P("distill --kd-weight 2", "distill", ["distill", *out, *TRAIN_SMALL, "--teacher",
                                               "{model}", "--kd-weight", "2"],
          needle="--kd-weight"),
        P("distill --temperature 0", "distill", ["distill", *out, *TRAIN_SMALL, "--teacher",
                                                 "{model}", "--temperature", "0"],
          needle="--temperature"),
        P("distill --teacher-labels missing", "distill",
          ["distill", *out, *TRAIN_SMALL, "--teacher-labels", "{W}/nolabels.safetensors"],
          needle="nolabels.safetensors"),
        P("distill --teacher-labels garbage", "distill",
          ["distill", *out, *TRAIN_SMALL, "--teacher-labels", "{labels_garbage}"],
          needle="teacher_labels.safetensors"),
        P("distill --teacher and --teacher-labels", "distill",
          ["distill", *out, *TRAIN_SMALL, "--teacher", "{model}", "--teacher-labels",
           "{labels_garbage}"], needle="--teacher"),
        # --- teach
        P("teach without a teacher", "teach", ["teach", "--out", "{W}/t.safetensors"],
          needle="--teacher"),
        P("teach --teacher missing", "teach", ["teach", "--teacher", "{W}/noteacher", "--out",
                                               "{W}/t.safetensors"], needle="noteacher"),
        P("teach --views 3", "teach", ["teach", "--teacher", "{model}", "--views", "3", "--out",
                                       "{W}/t.safetensors"], needle="--views"),
        P("teach --batch-size 0", "teach", ["teach", "--teacher", "{model}", "--batch-size", "0",
                                            "--split-file", "{model}/split.json", "--out",
                                            "{W}/t.safetensors"], needle="--batch-size"),
        P("teach --split-file missing", "teach", ["teach", "--teacher", "{model}",
                                                  "--split-file", "{W}/nosplit.json", "--out",
                                                  "{W}/t.safetensors"], needle="nosplit.json"),
        P("teach --out a folder", "teach", ["teach", "--teacher", "{model}", "--out",
                                            "{data_empty}", "--split-file",
                                            "{model}/split.json"], needle="data_empty"),
        # --- pretrain
        *[P(f"pretrain {' '.join(a)}", "pretrain", ["pretrain", *out, "--preset", "smoke", *a],
            needle=n)
          for a, n in ((["--mask-ratio", "1.5"], "--mask-ratio"),
                       (["--mask-ratio", "0"], "--mask-ratio"),
                       (["--arch", "mobilenetv4_conv_small"], "mobilenetv4_conv_small"),
                       (["--preset", "bogus"], "--preset"), (["--img-size", "20"], "--img-size"),
                       (["--decoder-depth", "0"], "--decoder-depth"),
                       (["--val-images", "-1"], "--val-images"))],
        # --- bench
        *[P(f"bench {' '.join(a)}", "bench", ["bench", "{onnx}", "--out", "{W}/bench", *a],
            needle=n)
          for a, n in ((["--runs", "0"], "--runs"), (["--threads", "-1"], "--threads"),
                       (["--rounds", "0"], "--rounds"), (["--batch-sizes", "0"], "--batch-sizes"),
                       (["--batch-sizes", "a"], "--batch-sizes"),
                       (["--target", "bogus"], "bogus"), (["--timeout", "0"], "--timeout"),
                       (["--warmup", "-1"], "--warmup"))],
        P("bench --out a file", "bench", ["bench", "{onnx}", "--out", "{file}"],
          needle="a_file.txt"),
        P("bench a missing model", "bench", ["bench", "{W}/nope.onnx", "--out", "{W}/bench"],
          needle="nope.onnx"),
        P("bench a tampered onnx", "bench", ["bench", "{onnx_swapped}", "--out", "{W}/bench2",
                                             "--runs", "1", "--rounds", "1", "--warmup", "0",
                                             "--batch-sizes", "1", "--no-compile",
                                             "--target", "onnx"], needle="swapped.onnx"),
        # --- pipeline
        P("pipeline --preset bogus", "pipeline", ["pipeline", *out, "--preset", "bogus"],
          needle="--preset"),
        P("pipeline --stop-after bogus", "pipeline", ["pipeline", *out, "--stop-after", "bogus"],
          needle="--stop-after"),
        P("pipeline --seed -1", "pipeline", ["pipeline", *out, "--seed", "-1"], needle="--seed"),
        P("pipeline --out a file", "pipeline", ["pipeline", "--out", "{file}", "--preset", "smoke"],
          needle="a_file.txt"),
        P("pipeline --data missing", "pipeline", ["pipeline", *out, "--preset", "smoke",
                                                  "--data", "{W}/nodata"], needle="nodata"),
        # --- synth
        P("synth without action", "synth", ["synth"], needle="synth"),
        P("synth train --preset bogus", "synth", ["synth", "train", *out, "--preset", "bogus"],
          needle="--preset"),
        P("synth train --img-size 0", "synth", ["synth", "train", *out, "--img-size", "0"],
          needle="--img-size"),
        P("synth train --cond-drop 2", "synth", ["synth", "train", *out, "--cond-drop", "2"],
          needle="--cond-drop"),
        P("synth train --ae-steps -1", "synth", ["synth", "train", *out, "--ae-steps", "-1"],
          needle="--ae-steps"),
        P("synth train --out a file", "synth", ["synth", "train", "--out", "{file}", "--preset",
                                                "tiny"], needle="a_file.txt"),
        P("synth sample missing run", "synth", ["synth", "sample", "{W}/norun", *out,
                                                "--per-class", "1"], needle="norun"),
        P("synth sample --per-class 0", "synth", ["synth", "sample", "{W}/norun", *out,
                                                  "--per-class", "0"], needle="--per-class"),
        P("synth sample --guidance -1", "synth", ["synth", "sample", "{W}/norun", *out,
                                                  "--per-class", "1", "--guidance", "-1"],
          needle="--guidance"),
        P("synth sample --steps 0", "synth", ["synth", "sample", "{W}/norun", *out,
                                              "--per-class", "1", "--steps", "0"],
          needle="--steps"),
        P("synth sample --classes bogus", "synth", ["synth", "sample", "{W}/norun", *out,
                                                    "--per-class", "1", "--classes", "zzz"],
          needle="zzz"),
        P("synth sample --per-class with --balance-to", "synth",
          ["synth", "sample", "{W}/norun", *out, "--per-class", "1", "--balance-to", "5"],
          needle="--balance-to"),
        P("synth report missing folder", "synth", ["synth", "report", "{W}/nosynth", "--out",
                                                   "{W}/rep"], needle="nosynth"),
        P("synth report on a real-data folder", "synth", ["synth", "report", "{sample}",
                                                          "--out", "{W}/rep2"],
          needle="ham10000_sample"),
        # --- calibrate (always on a copy: without --out it rewrites the model in place)
        *[P(f"calibrate {' '.join(a)}", "calibrate",
            ["calibrate", "{ck_plain}", "--data", "{sample}", "--out", "{W}/cal", *a], needle=n)
          for a, n in ((["--sensitivity", "1.5"], "--sensitivity"),
                       (["--sensitivity", "0"], "--sensitivity"),
                       (["--prevalence", "abc"], "--prevalence"),
                       (["--prevalence", "zzz=0.5"], "zzz"),
                       (["--prevalence", "akiec=2"], "--prevalence"))],
        P("calibrate without --data", "calibrate", ["calibrate", "{ck_plain}", "--out",
                                                   "{W}/cal"], needle="--data"),
        P("calibrate a missing model", "calibrate", ["calibrate", "{W}/nomodel", "--data",
                                                    "{sample}", "--out", "{W}/cal"],
          needle="nomodel"),
        P("calibrate a tampered checkpoint", "calibrate", ["calibrate", "{ck_swapped}", "--data",
                                                          "{sample}", "--out", "{W}/cal"],
          needle="ck_swapped"),
        P("calibrate an .onnx", "calibrate", ["calibrate", "{onnx}", "--data", "{sample}",
                                              "--out", "{W}/cal"], needle="onnx_fp32.onnx"),
        P("calibrate --data missing", "calibrate", ["calibrate", "{ck_plain}", "--data",
                                                   "{W}/nodata", "--out", "{W}/cal"],
          needle="nodata"),
        P("calibrate --out a file", "calibrate", ["calibrate", "{ck_plain}", "--data", "{sample}",
                                                 "--out", "{file}"], needle="a_file.txt"),
        P("calibrate the shipped model on the shipped sample (its own val images)", "calibrate",
          ["calibrate", "{ck_plain}", "--data", "{sample}", "--out", "{W}/cal2"], expect="ok"),
        P("calibrate a re-saved model without its split on the sample", "calibrate",
          ["calibrate", "{ck_nan}", "--data", "{sample}", "--out", "{W}/cal3"],
          needle="HAM10000_metadata.csv"),
        # --- cache
        P("cache without action", "cache", ["cache"], needle="ACTION"),
        P("cache bogus", "cache", ["cache", "bogus"], needle="bogus"),
        P("cache info (SKINEDGE_CACHE_MAX=abc)", "cache", ["cache", "info"],
          env={"SKINEDGE_CACHE_MAX": "abc"}, needle="SKINEDGE_CACHE_MAX"),
        P("cache info (SKINEDGE_CACHE_MAX=-5G)", "cache", ["cache", "info"],
          env={"SKINEDGE_CACHE_MAX": "-5G"}, needle="SKINEDGE_CACHE_MAX"),
        P("cache info (SKINEDGE_CACHE is a file)", "cache", ["cache", "info"],
          env={"SKINEDGE_CACHE": "{cache_file}"}, expect="ok-or-error", needle="cache_is_a_file"),
        P("cache clear (SKINEDGE_CACHE is a file)", "cache", ["cache", "clear"],
          env={"SKINEDGE_CACHE": "{cache_file}"}, expect="ok-or-error", needle="cache_is_a_file"),
        P("cache info --json", "cache", ["cache", "info", "--json"], expect="ok"),
        *hostile_probes(),
    ]
    return probes


def hostile_probes() -> list[Probe]:
    """Issue 24: what the hash must cover, card text that forges output, hostile gates,
    commands that must not delete a user's files, a corrupted cache entry, and the weak cases."""
    P = Probe
    user = ["{user_thesis}/thesis.docx", "{user_thesis}/photos/a.jpg"]
    return [
        P("predict --model onnx whose external data (weights.bin) changed after sealing",
          "predict", ["predict", "--json", "--model", "{onnx_external}", "{good1}"],
          expect="refuse-or-same", ref="onnx", needle="weights.bin"),
        P("inspect onnx with external data", "inspect", ["inspect", "{onnx_external}"],
          needle="weights.bin"),
        P("predict --model pte with a second card appended and used as the sidecar", "predict",
          ["predict", "--json", "--model", "{pte_appended}", "{good1}"],
          expect="refuse-or-same", ref="pte", needle="pte_appended"),
        P("inspect pte with a second card appended", "inspect", ["inspect", "{pte_appended}"],
          needle="pte_appended"),
        P("predict --model checkpoint whose label forges a line (sealed)", "predict",
          ["predict", "--model", "{ck_forged_label}", "{good1}"], needle="control character",
          lines=1),
        P("inspect checkpoint with ANSI escapes in label_names (sealed)", "inspect",
          ["inspect", "{ck_ansi_names}"], needle="control character"),
        P("inspect checkpoint with ANSI escapes in training.data (sealed)", "inspect",
          ["inspect", "{ck_ansi_training}"], needle="control character"),
        P("predict an image whose file name holds a newline", "predict",
          ["predict", "{img_newline}"], expect="ok", lines=1),
        P("predict --model checkpoint with gate precision +-1e308 (sealed)", "predict",
          ["predict", "--model", "{ck_gate_1e308}", "{good1}"], needle="'gate'"),
        P("predict --model checkpoint with gate min_side -5 (sealed)", "predict",
          ["predict", "--model", "{ck_gate_min_side}", "{good1}"], needle="'gate'"),
        P("predict --model checkpoint with gate luminance [0.9, 0.1] (sealed)", "predict",
          ["predict", "--model", "{ck_gate_luminance}", "{good1}"], needle="'gate'"),
        P("predict --model checkpoint with referral score 'constructor' (sealed)", "predict",
          ["predict", "--model", "{ck_referral_constructor}", "{good1}"], needle="'referral'"),
        P("calibrate --out a user's folder holding a card.json", "calibrate",
          ["calibrate", "{ck_plain}", "--data", "{sample}", "--out", "{user_thesis}"],
          needle="thesis", keeps=user),
        P("calibrate --out a checkpoint with the user's notes in it", "calibrate",
          ["calibrate", "{ck_plain}", "--data", "{sample}", "--out", "{user_ck_notes}"],
          needle="notes.txt", keeps=["{user_ck_notes}/notes.txt"]),
        P("calibrate warns on a thin validation split", "calibrate",
          ["calibrate", "{ck_plain}", "--data", "{sample}", "--out", "{W}/cal_warn"],
          expect="warn", needle="fewer than"),
        P("cache clear in a folder of the user's own .npy files", "cache", ["cache", "clear"],
          env={"SKINEDGE_CACHE": "{user_cache}"}, expect="ok",
          keeps=["{user_cache}/images_224px_train.npy",
                 "{user_cache}/.images_64px_holiday.tmp1.npy"]),
        P("eval with a cache entry overwritten by zeros", "eval",
          ["eval", "--json", "--bootstrap", "0"], env={"SKINEDGE_CACHE": "{corrupt_cache}"},
          expect="warn", needle="checksum"),
        P("predict --model checkpoint card nested 100,000 deep", "predict",
          ["predict", "--model", "{ck_deep}", "{good1}"], needle="nests"),
        P("predict --model onnx card nested 100,000 deep", "predict",
          ["predict", "--model", "{onnx_deep}", "{good1}"], needle="nests"),
        P("cache info (SKINEDGE_CACHE_MAX of 400 digits)", "cache", ["cache", "info"],
          env={"SKINEDGE_CACHE_MAX": "9" * 400}, needle="SKINEDGE_CACHE_MAX"),
        P("predict --model checkpoint with weights linked to /dev/zero", "predict",
          ["predict", "--model", "{ck_devzero}", "{good1}"], needle="not a regular file",
          timeout=120, isolated=True),
        P("inspect checkpoint with weights linked to /dev/zero", "inspect",
          ["inspect", "{ck_devzero}"], needle="not a regular file", timeout=120, isolated=True),
        P("predict a 1001x100 image (exact aspect ratio)", "predict",
          ["predict", "{wide1001}", "{good1}"], expect="item", needle="1001:100"),
    ]


# ============================================================================ API probes
# Each returns a summary of what the API gave; an exception is the outcome itself.

def _clf(f, key="model"):
    import skinedge

    return skinedge.load(f[key])


def _summary(preds) -> dict:
    preds = preds if isinstance(preds, list) else [preds]
    return {"labels": [p.label for p in preds], "errors": [p.error for p in preds],
            "probabilities": [list(p.probabilities.values()) for p in preds]}


def _predict(key="model", top_k=3):
    return lambda f, image: _summary(_clf(f, key).predict(image(f), top_k=top_k))


def _array(shape, dtype="uint8", fill=None):
    def make(f):
        import numpy as np

        a = np.random.default_rng(0).random(shape) if fill is None else np.full(shape, fill)
        return (a * (255 if dtype == "uint8" else 1)).astype(dtype) if fill is None else \
            a.astype(dtype)
    return make


def _pil(mode, scale=1.0):
    def make(f):
        import numpy as np
        from PIL import Image

        a = np.asarray(Image.open(f["good1"]).convert("L"), dtype=np.float32) / 255.0 * scale
        if mode == "F":
            return Image.fromarray(a.astype(np.float32), mode="F")
        if mode == "I;16":
            return Image.fromarray((a * 65535).astype(np.uint16))
        if mode == "I":
            return Image.fromarray((a * 255).astype(np.int32), mode="I")
        return Image.open(f["good1"]).convert(mode)
    return make


def _closed(f):
    from PIL import Image

    img = Image.open(f["good1"])
    img.close()
    return img


def _load(key):
    return lambda f, _=None: _clf(f, key).labels


def api_probes() -> list[tuple[Probe, object, object]]:
    """(probe, function(f, image_factory), image factory or None)."""
    P = Probe
    def good(f):
        return f["good1"]

    cases = [
        (P("load missing path", "api", needle="nope.onnx"),
         lambda f, _: _clf({"model": f["W"] + "/nope.onnx"}), None),
        (P("load a text file", "api", needle="a_file.txt"), _load("file"), None),
        (P("load a folder without card", "api", needle="no_card"), _load("no_card_dir"), None),
        (P("load empty string", "api", needle="."), lambda f, _: _clf({"model": ""}), None),
        (P("load(123)", "api", needle="123"), lambda f, _: _clf({"model": 123}), None),
        (P("load 0-byte onnx", "api", needle="empty.onnx"), _load("onnx_empty"), None),
        (P("load tampered onnx", "api", needle="swapped.onnx"), _load("onnx_swapped"), None),
        (P("load pte with swapped sidecar", "api", needle="pte_side_swapped"),
         _load("pte_side_swapped"), None),
        (P("load corrupted pte without sidecar", "api", needle="pte_noside_flipped"),
         _load("pte_noside_flipped"), None),
        (P("load checkpoint with duplicate labels", "api", needle="ck_duplicate"),
         _load("ck_duplicate"), None),
        (P("load checkpoint, header-flipped weights", "api", needle="ck_header_flipped"),
         _load("ck_header_flipped"), None),
        (P("predict(None)", "api", needle="NoneType"), _predict(), lambda f: None),
        (P("predict(42)", "api", needle="int"), _predict(), lambda f: 42),
        (P("predict(bytes)", "api", needle="bytes"), _predict(), lambda f: b"\xff\xd8\xff"),
        (P("predict(dict)", "api", needle="dict"), _predict(), lambda f: {"a": 1}),
        (P("predict NaN float array", "api", needle="NaN"), _predict(),
         _array((64, 64, 3), "float32", float("nan"))),
        (P("predict inf float array", "api", needle="inf"), _predict(),
         _array((64, 64, 3), "float64", float("inf"))),
        (P("predict float array 0..255 (refused, range named)", "api", needle="255"),
         _predict(), _array((64, 64, 3), "float32", 200.0)),
        (P("predict float array slightly negative", "api", needle="-0.2"), _predict(),
         _array((64, 64, 3), "float32", -0.2)),
        (P("predict int64 array", "api", needle="int64"), _predict(),
         _array((64, 64, 3), "int64", 3)),
        (P("predict bool array", "api", needle="bool"), _predict(),
         _array((64, 64, 3), "bool", True)),
        (P("predict complex array", "api", needle="complex"), _predict(),
         _array((64, 64, 3), "complex64", 0.5)),
        (P("predict object array", "api", needle="object"), _predict(),
         lambda f: __import__("numpy").full((64, 64, 3), None, dtype=object)),
        (P("predict string array", "api", needle="array"), _predict(),
         lambda f: __import__("numpy").full((64, 64, 3), "x")),
        (P("predict 1-d array", "api", needle="shape"), _predict(), _array((300,), "uint8", 0)),
        (P("predict 4-d array", "api", needle="shape"), _predict(),
         _array((2, 64, 64, 3), "uint8", 0)),
        (P("predict HxWx2 array", "api", needle="shape"), _predict(),
         _array((64, 64, 2), "uint8", 0)),
        (P("predict 0x0 array", "api", needle="0x0"), _predict(), _array((0, 0), "uint8", 0)),
        (P("predict 8x1000000 array (memory)", "api", needle="aspect"), _predict(),
         _array((8, 1_000_000), "uint8", 0)),
        (P("predict uint16 array = uint8", "api", expect="same", ref="uint8 array"), _predict(),
         lambda f: _array((64, 64, 3))(f).astype("uint16") * 257),
        (P("predict float array in [0,1] = uint8", "api", expect="same", ref="uint8 array"),
         _predict(), lambda f: _array((64, 64, 3))(f) / 255.0),
        (P("predict closed PIL image", "api", needle="closed"), _predict(), _closed),
        (P("predict PIL F in [0,1] = 8-bit grey", "api", expect="same", ref="grey"), _predict(),
         _pil("F")),
        (P("predict PIL F in 0..255 (refused)", "api", needle="[0, 1]"), _predict(),
         _pil("F", 255.0)),
        (P("predict PIL I;16 = 8-bit grey", "api", expect="same", ref="grey"), _predict(),
         _pil("I;16")),
        (P("predict PIL I (0..255) = 8-bit grey", "api", expect="same", ref="grey"), _predict(),
         _pil("I")),
        (P("predict PIL CMYK", "api", expect="ok"), _predict(), _pil("CMYK")),
        (P("predict PIL 1-bit", "api", expect="ok"), _predict(), _pil("1")),
        (P("predict a batch with one missing file", "api", expect="item", needle="gone.jpg"),
         _predict(), lambda f: [f["good1"], f["W"] + "/gone.jpg", f["good2"]]),
        (P("predict a batch with one NaN array", "api", expect="item", needle="[1]"), _predict(),
         lambda f: [f["good1"], _array((64, 64, 3), "float32", float("nan"))(f)]),
        (P("predict a batch with one closed image", "api", expect="item", needle="[0]"),
         _predict(), lambda f: [_closed(f), f["good1"]]),
        (P("predict a batch with a name-too-long path", "api", expect="item", needle="xxxx"),
         _predict(), lambda f: [f["long"], f["good1"]]),
        (P("predict a batch with /proc/self/mem (EIO)", "api", expect="item",
           needle="/proc/self/mem"), _predict(), lambda f: ["/proc/self/mem", f["good1"]]),
        (P("predict an empty batch", "api", expect="ok"), _predict(), lambda f: []),
        (P("predict a tuple batch", "api", expect="ok"), _predict(),
         lambda f: (f["good1"], f["good2"])),
        (P("predict top_k=0", "api", needle="top_k"), _predict(top_k=0), good),
        (P("predict top_k=-5", "api", needle="top_k"), _predict(top_k=-5), good),
        (P("predict top_k=1.5", "api", needle="top_k"), _predict(top_k=1.5), good),
        (P("predict top_k='3'", "api", needle="top_k"), _predict(top_k="3"), good),
        (P("predict with NaN weights (sealed)", "api", needle="good1.jpg"), _predict("ck_nan"),
         good),
        (P("predict a batch with NaN weights", "api", expect="item", needle="good1.jpg"),
         _predict("ck_nan"), lambda f: [f["good1"]]),
        (P("predict 20 images on a .pte (chunks of 8)", "api", expect="ok"), _predict("pte"),
         lambda f: [f["good1"], f["good2"]] * 10),
        (P("predict_batch_array wrong size", "api", needle="128"),
         lambda f, _: _clf(f).predict_batch_array(__import__("numpy").zeros((2, 10, 10, 3),
                                                                             "uint8")).tolist(),
         None),
        (P("predict_batch_array float input", "api", needle="uint8"),
         lambda f, _: _clf(f, "onnx").predict_batch_array(
             __import__("numpy").zeros((2, 128, 128, 3), "float32")).tolist(), None),
        (P("ModelCard.load of a non-JSON file", "api", needle="a_file.txt"),
         lambda f, _: __import__("skinedge").ModelCard.load(f["file"]), None),
        (P("ModelCard.from_dict of a list", "api", needle="card"),
         lambda f, _: __import__("skinedge").ModelCard.from_dict([1, 2]), None),
        (P("inspect_artifact of a flipped checkpoint", "api", needle="ck_flipped"),
         lambda f, _: _inspect_ok(f["ck_flipped"]), None),
    ]
    return cases


def _inspect_ok(path):
    from skinedge.targets.summary import inspect_artifact

    i = inspect_artifact(path)
    if not i.ok:  # a verdict, not an answer: the API's way to refuse here
        from skinedge.errors import CheckpointError

        raise CheckpointError(f"{path}: " + "; ".join(filter(None, (i.sha256_problem,
                                                                      *i.problems))))
    return {"ok": True}


def api_references(f) -> dict:
    """What the plain inputs give: the base of the "same" probes."""
    import numpy as np
    from PIL import Image

    clf = _clf(f)
    grey = np.asarray(Image.open(f["good1"]).convert("L"))
    return {"grey": clf.predict(grey).label,
            "uint8 array": clf.predict(_array((64, 64, 3))(f)).label}


# ============================================================================ running

def _fill(text: str, f: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f.get(m.group(1), m.group(0)), text)


def run_cli(argv: list[str], env: dict, timeout: int) -> tuple:
    """A real ``python -m skinedge.cli`` process: (exit code or None when killed at the
    timeout, stdout, stderr, seconds, its peak RSS in MB)."""
    cmd = [sys.executable, "-m", "skinedge.cli", *argv]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.time()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT,
                             env=env, start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            os.killpg(p.pid, signal.SIGKILL)  # the probe's own process group
        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(p.pid, 0)
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.time() - t0
        out.seek(0)
        err.seek(0)
        rc = None if timed_out.is_set() else p.returncode
        return (rc, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                seconds, usage.ru_maxrss / 1024)


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if not NOISE.search(line)]


def _json(out: str) -> list | None:
    """`predict --json` output: one dict per image, or None when it is not that."""
    try:
        doc = json.loads(out)
    except ValueError:
        return None
    return doc if isinstance(doc, list) and all(isinstance(d, dict) for d in doc) else None


def _json_labels(out: str) -> list | None:
    doc = _json(out)
    return None if doc is None else [d.get("label") for d in doc]


def _nan_in(out: str) -> bool:
    """A NaN probability in `predict` output (JSON or text; an error's words do not count)."""
    doc = _json(out)
    if doc is not None:
        return any(isinstance(v, float) and math.isnan(v) for d in doc
                   for v in (d.get("probabilities") or {}).values())
    return any(re.search(r"\bnan\b", line, re.IGNORECASE) for line in out.splitlines()
               if ": ERROR " not in line)


def _bad_item_named(out: str, needle: str) -> bool:
    """The item whose source names ``needle`` failed (no label, an error), in text or JSON."""
    doc = _json(out)
    if doc is not None:
        return any(needle in str(d.get("source")) and d.get("error") and d.get("label") is None
                   for d in doc)
    return any(needle in line and ": ERROR " in line for line in out.splitlines())


def _text_labels(out: str) -> list:
    """The label of each image line of `predict` (None for an ERROR line)."""
    found = []
    for line in out.splitlines():
        m = re.match(r"^(.*?): (ERROR|\w+) ", line)
        if m:
            found.append(None if m.group(2) == "ERROR" else m.group(2))
    return found


def _labels(out: str) -> list:
    labels = _json_labels(out)
    return labels if labels is not None else _text_labels(out)


def classify_cli(p: Probe, rc, out: str, err: str, rss: float, refs: dict,
                 lost: list | None = None) -> tuple[str, str]:
    lines = _error_lines(err)
    both = out + "\n" + err
    if lost:
        return "silent", f"deleted the user's own {', '.join(lost)}"
    if rc is None:
        return "weak", f"no answer within {p.timeout} s (killed)"
    if TRACEBACK in both:
        return "weak", "traceback: " + (lines[-1] if lines else "")[:200]
    if p.lines and rc == 0 and len(out.splitlines()) != p.lines:
        return "silent", f"{len(out.splitlines())} output lines for {p.lines} image(s): forged lines"
    if p.expect == "warn":
        if rc != 0:
            return "weak", f"a valid input failed (exit {rc}): {(lines or [''])[0][:200]}"
        if p.needle not in err:
            return "silent", f"exit 0 without a warning naming {p.needle!r}"
        return "clear", "ran, with the warning"
    if _nan_in(out):
        return "silent", "NaN in the output"
    if rss > p.max_rss_mb:
        return "weak", f"peak memory {rss:.0f} MB (limit {p.max_rss_mb})"
    labels = _labels(out)
    ref, ref_probs = refs.get(p.ref, (None, None))
    if p.expect in ("ok", "ok-or-error", "item-or-ok") and rc == 0:
        return "clear", "ran"
    if p.expect in ("same", "same-or-error", "refuse-or-same", "refuse-or-warn") and rc == 0:
        doc = _json(out) or [{}]
        probs = doc[0].get("probabilities") or {}
        same_probs = p.expect.startswith("same") or ref_probs is None or (
            probs.keys() == ref_probs.keys()
            and all(abs(probs[k] - ref_probs[k]) <= 1e-5 for k in probs))
        if labels and labels[0] == ref and same_probs:
            return "clear", f"ran, same label as the original ({ref})"
        if p.expect == "refuse-or-warn" and "written before integrity hashes" in err:
            return "weak", (f"exit 0 with label {labels[:1]} where the original gives {ref}: "
                            "loaded as a card from before integrity hashes, with only the "
                            "one-line legacy warning on stderr")
        if labels and labels[0] == ref:
            return "silent", f"exit 0, label {ref} as the original but other probabilities"
        return "silent", f"exit 0 with label {labels[:1]}, the original gives {ref}"
    if p.expect in ("ok", "same"):
        return "weak", f"a valid input failed (exit {rc}): {(lines or [''])[0][:200]}"
    if p.expect in ("item", "item-or-ok"):
        if rc == 0:
            return "silent", f"exit 0: every item got a label {labels}"
        if rc != 1 or not labels or all(x is None for x in labels):
            return "weak", f"whole batch lost (exit {rc}): {(lines or [''])[0][:200]}"
        if not _bad_item_named(out, p.needle):
            return "weak", f"no ERROR for the bad item naming {p.needle!r}"
        return "clear", "only the bad item failed"
    # an error is expected
    if rc == 0:
        if re.search(r"error|ERROR", both):
            return "weak", "exit 0 with error text"
        return "silent", f"exit 0 (labels {labels})" if labels else "exit 0"
    if p.needle not in both:
        return "weak", f"the message does not name {p.needle!r}: {(lines or [''])[0][:200]}"
    if len(lines) != 1 and not (p.area == "predict" and len(lines) <= 1):
        return "weak", f"{len(lines)} lines on stderr"
    return "clear", f"exit {rc}"


def classify_api(p: Probe, r: dict) -> tuple[str, str]:
    if r.get("crashed"):
        return "weak", r["crashed"]
    if r.get("grew_mb", 0) > p.max_rss_mb:
        return "weak", f"memory grew {r['grew_mb']:.0f} MB"
    raised = r.get("raised")
    value = r.get("value", {})
    probs = [x for ps in value.get("probabilities", []) for x in ps]
    if any(not isinstance(x, (int, float)) or math.isnan(x) for x in probs):
        return "silent", "NaN probability"
    msg = r.get("message", "")
    if p.expect in ("ok", "same") and not raised:
        if p.expect == "same" and value.get("labels", [None])[0] != r.get("ref"):
            return "silent", f"label {value.get('labels')} where the plain input gives {r.get('ref')}"
        return "clear", "ran"
    if raised and not r.get("skinedge"):
        return "weak", f"{raised}: {msg[:200]}"
    if p.expect in ("ok", "same"):
        return "weak", f"a valid input was refused: {msg[:200]}"
    if p.expect == "item":
        if raised:
            return "weak", f"whole batch lost: {msg[:200]}"
        errors = [e for e in value.get("errors", []) if e]
        if not errors:
            return "silent", f"every item got a label {value.get('labels')}"
        if not any(p.needle in e for e in errors):
            return "weak", f"the bad item's error does not name {p.needle!r}: {errors[0][:200]}"
        return "clear", "only the bad item failed"
    if not raised:
        labels = value.get("labels") if isinstance(value, dict) else None
        return "silent", f"no error: {str(labels or value)[:150]}"
    if p.needle not in msg:
        return "weak", f"does not name {p.needle!r}: {msg[:200]}"
    if "\n" in msg.strip():
        return "weak", "a multi-line message"
    return "clear", raised


def cli_refs(f: dict, env: dict) -> dict:
    """The labels the untouched models give for good1.jpg, and the plain inputs for the
    "same" probes (through the API, which the CLI calls)."""
    import skinedge

    def ref(model: str, image: str) -> tuple[str, dict]:
        p = skinedge.load(f[model]).predict(f[image])
        return p.label, p.probabilities

    return {"model": ref("model", "good1"), "onnx": ref("onnx", "good1"),
            "pte": ref("pte", "good1"), "grey": ref("model", "grey"), "rgb": ref("model", "rgb")}


def summary_md(results: list[Result], seconds: float, commit: str) -> str:
    counts = {v: sum(r.verdict == v for r in results) for v in ("clear", "weak", "silent")}
    cli = sum(r.area != "api" for r in results)
    lines = ["# Probe campaign (issues 11 and 24)", "",
             (f"{len(results)} probes ({cli} CLI, {len(results) - cli} API) on `{commit}`, "
              f"{seconds / 60:.1f} min: **{counts['clear']} clear, {counts['weak']} weak, "
              f"{counts['silent']} silent**."), "",
             ("Run: `python benchmarks/probe_campaign.py`; every probe with its command, exit "
              "code and first stderr line is in `probes.json`."), "",
             "| area | clear | weak | silent |", "| --- | --- | --- | --- |"]
    for area in dict.fromkeys(r.area for r in results):
        rs = [r for r in results if r.area == area]
        lines.append(f"| {area} | " + " | ".join(str(sum(r.verdict == v for r in rs))
                                                  for v in ("clear", "weak", "silent")) + " |")
    bad = [r for r in results if r.verdict != "clear"]
    lines += ["", "## Not clear", ""]
    if not bad:
        lines.append("None.")
    for r in sorted(bad, key=lambda r: (r.verdict != "silent", r.area)):
        lines.append(f"- **{r.verdict}** `{r.name}` ({r.area}, exit {r.exit_code}): {r.why}")
    return "\n".join(lines) + "\n"


# ============================================================================ workers
# CLI probes run `skinedge.cli.main(argv)` in one worker process (torch is imported once, not
# 190 times), with file descriptors 1 and 2 captured per probe: what a user sees, less the
# interpreter start. An exception escaping main() is printed as Python would (a traceback,
# exit 1). Probes marked ``isolated`` (memory limits, possible hangs) run as real processes.

def _captured(fn) -> tuple[object, str, str]:
    """fn() with fds 1 and 2 captured: (its value, stdout, stderr)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as o, tempfile.TemporaryFile() as e:
        os.dup2(o.fileno(), 1)
        os.dup2(e.fileno(), 2)
        try:
            value = fn()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        o.seek(0)
        e.seek(0)
        return value, o.read().decode(errors="replace"), e.read().decode(errors="replace")


def _cli_in_process(argv: list[str]) -> int:
    import traceback

    from skinedge.cli import main as cli_main

    try:
        return cli_main(argv)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - what the interpreter would print and exit 1 on
        traceback.print_exc()
        return 1


def _run_cli_probe(p: Probe, f: dict) -> dict:
    argv = [_fill(x, f) for x in p.argv]
    env = {k: _fill(v, f) for k, v in p.env.items()}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        rc, out, err = _captured(lambda: _cli_in_process(argv))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"rc": rc, "out": out[-20000:], "err": err[-20000:], "lost": _lost(p, f)}


def _lost(p: Probe, f: dict) -> list[str]:
    """The user's own files (``p.keeps``) that the probe deleted."""
    return [Path(_fill(k, f)).name for k in p.keeps if not os.path.lexists(_fill(k, f))]


def _run_api_probe(fn, image, f: dict, refs: dict, p: Probe) -> dict:
    from skinedge.errors import SkinedgeError

    out = {"ref": refs.get(p.ref)}
    try:
        value = fn(f, image)
        out["value"] = value if isinstance(value, dict) else {"repr": repr(value)[:200]}
    except SkinedgeError as exc:
        out["raised"], out["skinedge"], out["message"] = type(exc).__name__, True, str(exc)
    except Exception as exc:  # noqa: BLE001 - recorded: another type than SkinedgeError
        out["raised"], out["skinedge"], out["message"] = type(exc).__name__, False, str(exc)
    return out


def worker(kind: str, fixture_file: str, indices: list[int]) -> None:
    """Run the ``kind`` ("cli" or "api") probes at ``indices``, one JSON line each on stdout:
    {"start": i} before a probe, its result after."""
    import resource

    f = json.loads(Path(fixture_file).read_text())
    os.chdir(ROOT)
    refs = api_references(f) if kind == "api" else {}
    probes = cli_probes() if kind == "cli" else api_probes()
    for i in indices:
        print(json.dumps({"start": i}), flush=True)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.time()
        if kind == "cli":
            out = _run_cli_probe(probes[i], f)
        else:
            probe, fn, image = probes[i]
            out = _run_api_probe(fn, image, f, refs, probe)
        out.update(index=i, seconds=time.time() - t0,
                   grew_mb=(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
        print(json.dumps(out, default=str), flush=True)


def _pump(stream, lines) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_in_workers(kind: str, indices: list[int], timeouts: dict[int, int], fixture_file: Path,
                   env: dict, log) -> dict[int, dict]:
    """Results by index; a probe that hangs past its timeout or kills the worker is recorded
    as such ({"crashed": why}) and a fresh worker goes on after it."""
    import queue

    results: dict[int, dict] = {}
    pending = list(indices)
    while pending:
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen([sys.executable, __file__, "--worker", kind, str(fixture_file),
                                     json.dumps(pending)], stdout=subprocess.PIPE, stderr=err,
                                    stdin=subprocess.DEVNULL, cwd=ROOT, env=env, text=True,
                                    start_new_session=True)
            lines: queue.Queue = queue.Queue()
            threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
            current, deadline = None, time.time() + 900  # the first probe waits for imports
            while True:
                try:
                    line = lines.get(timeout=max(0.1, deadline - time.time()))
                except queue.Empty:
                    line = "timeout"
                if line == "timeout" or line is None:
                    if line == "timeout":
                        os.killpg(proc.pid, signal.SIGKILL)  # the worker we started
                    proc.wait()
                    err.seek(0)
                    tail = err.read().decode(errors="replace").strip().splitlines()[-1:]
                    if current is None:
                        sys.exit(f"{kind} worker failed outside a probe (exit {proc.returncode}): "
                                 f"{tail}")
                    why = (f"no answer within {timeouts[current]} s (killed)" if line == "timeout"
                           else f"the process died (exit {proc.returncode}): {tail}")
                    results[current] = {"index": current, "crashed": why, "seconds":
                                        timeouts[current] if line == "timeout" else 0}
                    log(kind, current, results[current])
                    break
                if not line.startswith("{"):
                    continue
                d = json.loads(line)
                if "start" in d:
                    current = d["start"]
                    deadline = time.time() + timeouts[current]
                    continue
                results[d["index"]] = d
                log(kind, d["index"], d)
                current = None
                if len(results) >= len(indices):
                    break
            proc.wait()
        pending = [i for i in indices if i not in results]
    return results


# ============================================================================ main

def cli_result(p: Probe, argv: list[str], r: dict, refs: dict, w: Path) -> Result:
    def hide(text: str) -> str:
        return text.replace(str(w), "$W")

    if r.get("crashed"):
        verdict, why, rc, first = "weak", r["crashed"], None, ""
    else:
        rc = r["rc"]
        verdict, why = classify_cli(p, rc, r["out"], r["err"], r.get("rss_mb", 0.0), refs,
                                    r.get("lost"))
        lines = _error_lines(r["err"])
        first = lines[0] if lines else ""
    return Result(p.name, p.area, "skinedge " + " ".join(hide(x) for x in argv), p.expect, rc,
                  hide(first)[:300], verdict, hide(why), round(r.get("seconds", 0.0), 2),
                  r.get("rss_mb"))


def api_result(p: Probe, r: dict, w: Path) -> Result:
    verdict, why = classify_api(p, r)
    first = f"{r['raised']}: {r['message']}" if r.get("raised") else json.dumps(r.get("value"))
    return Result(p.name, p.area, f"python: {p.name}", p.expect, None,
                  (first or "").splitlines()[0][:300].replace(str(w), "$W") if first else "",
                  verdict, why.replace(str(w), "$W"), round(r.get("seconds", 0.0), 2),
                  round(r.get("grew_mb", 0.0), 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--only", default="", help="run only probes whose name contains TEXT")
    ap.add_argument("--keep", action="store_true", help="keep the fixture folder")
    ap.add_argument("--fixtures", help="reuse a kept fixture folder (printed by --keep)")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker[0], a.worker[1], json.loads(a.worker[2]))
        return 0
    t0 = time.time()
    w = Path(a.fixtures or tempfile.mkdtemp(prefix="skinedge-probes-"))
    sys.path.insert(0, str(ROOT))
    try:
        env = _env(w)
        if a.fixtures:
            f = json.loads((w / "fixtures.json").read_text())
        else:
            f = build_fixtures(w)
            (w / "fixtures.json").write_text(json.dumps(f))
        refs = cli_refs(f, env)
        print(f"fixtures ready in {time.time() - t0:.0f} s ({w})", flush=True)
        results = run_all(a.only, f, refs, w, env)
    finally:
        if not (a.keep or a.fixtures):
            shutil.rmtree(w, ignore_errors=True)
    commit = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip()[:80]
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "skinedge"],
                           cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    commit += " + uncommitted changes in skinedge/" if dirty else ""
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "probes.json").write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    (out / "summary.md").write_text(summary_md(results, time.time() - t0, commit))
    counts = {v: sum(r.verdict == v for r in results) for v in ("clear", "weak", "silent")}
    print(f"{len(results)} probes in {(time.time() - t0) / 60:.1f} min: {counts} -> {out}")
    return 0


def run_all(only: str, f: dict, refs: dict, w: Path, env: dict) -> list[Result]:
    cli, api = cli_probes(), api_probes()
    pick = [i for i, p in enumerate(cli) if only in p.name]
    pick_api = [i for i, (p, _, _) in enumerate(api) if only in p.name]

    def log(kind, i, r):
        p = cli[i] if kind == "cli" else api[i][0]
        res = cli_result(p, p.argv, r, refs, w) if kind == "cli" else api_result(p, r, w)
        print(f"{res.verdict:6} {res.seconds:6.1f}s  {kind} {p.name}: {res.why[:140]}", flush=True)

    done: dict[int, dict] = {}
    for i in (i for i in pick if cli[i].isolated):
        p = cli[i]
        rc, out, err, secs, rss = run_cli([_fill(x, f) for x in p.argv],
                                          _env(w, {k: _fill(v, f) for k, v in p.env.items()}),
                                          p.timeout)
        done[i] = ({"rc": rc, "out": out, "err": err, "seconds": secs, "rss_mb": round(rss, 1),
                    "lost": _lost(p, f)}
                   if rc is not None else {"crashed": f"no answer within {p.timeout} s (killed)",
                                           "seconds": secs, "rss_mb": round(rss, 1)})
        log("cli", i, done[i])
    done.update(run_in_workers("cli", [i for i in pick if not cli[i].isolated],
                               {i: p.timeout for i, p in enumerate(cli)}, w / "fixtures.json",
                               env, log))
    results = [cli_result(cli[i], [_fill(x, f) for x in cli[i].argv], done[i], refs, w)
               for i in pick]
    api_done = run_in_workers("api", pick_api, {i: p.timeout for i, (p, _, _) in enumerate(api)},
                              w / "fixtures.json", env, log)
    return results + [api_result(api[i][0], api_done[i], w) for i in pick_api]


if __name__ == "__main__":
    sys.exit(main())
