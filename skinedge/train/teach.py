"""``skinedge teach``: a teacher's logits for every training image under fixed views (the
centre crop, or its 8 dihedral views), written once to a small safetensors file. ``skinedge
distill --teacher-labels FILE`` reads it instead of running the teacher at every step.

Made for a lent GPU: pre-train, fine-tune and teach there, bring back this file (about 1 MB
for the development data) instead of the teacher's weights, and distill the student on a CPU.
The trade-off: the student's augmented view no longer matches the view the teacher scored."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config, option
from ..errors import ConfigError
from ..labels import CLASSES
from ..layout import SAMPLE_DATA

SCHEMA = "skinedge.teacher_labels/1"


@dataclass(frozen=True)
class TeachConfig(Config):
    teacher: tuple[str, ...] = option((), "teacher checkpoint folder(s), comma-separated "
                                      "(several: an ensemble)", metavar="CKPT[,CKPT...]")
    data: str = option(str(SAMPLE_DATA), "HAM10000-layout folder", default_text="the sample "
                       "shipped with skinedge")
    split_file: str | None = option(None, "the split of the student's run (its train images are "
                                    "labelled)", default_text="the first teacher's run split")
    out: str = option("teacher_labels.safetensors", "output file")
    views: int = option(8, "fixed views per image: 1 (centre crop) or 8 (its rotations and "
                        "mirrors)", choices=(1, 8))
    batch_size: int = option(64, "images per teacher batch", min=1, max=4096)
    allow_unfinished: bool = option(False, "accept a teacher from a run that stopped before its "
                                    "last epoch (a time-budgeted stage)")
    progress: bool = option(True, "show progress bars")

    def __post_init__(self):
        super().__post_init__()
        if not self.teacher:
            raise ConfigError("--teacher: give at least one teacher checkpoint folder")


def _split_file(cfg: TeachConfig) -> Path:
    for path in cfg.teacher:  # before the split: the teacher is what the user named first
        if not (Path(path) / "card.json").is_file():
            raise ConfigError(f"--teacher {path}: not a checkpoint folder (no card.json)")
    path = Path(cfg.split_file) if cfg.split_file else Path(cfg.teacher[0]).parent / "split.json"
    if not path.is_file():
        raise ConfigError(f"--split-file {path}: no such file; give the split.json of the "
                          "student's run")
    return path


def _teacher_logits(model, images: np.ndarray, rows: np.ndarray, views: int, batch: int,
                    show: bool) -> np.ndarray:
    """[len(rows), views, K] logits of one teacher on the fixed views of each image."""
    import torch
    from tqdm import tqdm

    from ..models.views import dihedral_views

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device).eval()
    out = []
    for start in tqdm(range(0, len(rows), batch), desc="teach", disable=not show, unit="batch"):
        idx = np.sort(rows[start:start + batch])
        x = torch.from_numpy(np.asarray(images[idx])).permute(0, 3, 1, 2).float().div_(255.0)
        x = (dihedral_views(x) if views == 8 else x).to(device)
        with torch.no_grad(), torch.autocast(device, torch.bfloat16, enabled=device == "cuda"):
            z = model(x).float().cpu()
        out.append(z.reshape(views, len(idx), -1).permute(1, 0, 2).numpy())
    return np.concatenate(out)


def teach(cfg: TeachConfig) -> dict:
    """Write the teacher-labels file; returns its metadata (with the teachers' val figures)."""
    from safetensors.numpy import save_file

    from ..atomic import output_file, replacing
    from ..data import Split, read_ham10000
    from ..data.cache import cached_images
    from ..metrics import classification_metrics
    from ..runs import check_covers
    from .loop import load_teacher

    output_file(cfg.out, "--out")
    split_path = _split_file(cfg)
    ds = read_ham10000(cfg.data)
    split = Split.load(split_path)
    check_covers(split, ds, split_path)
    side = np.array([split.assignment[r.image_id] for r in ds.records])
    rows = np.flatnonzero(np.isin(side, ("train", "val")))  # val: the teachers' own figures
    parts, teachers = [], []
    for path in cfg.teacher:
        model, card = load_teacher(path, cfg.allow_unfinished)
        images = cached_images(ds.records, card.input_size, progress=cfg.progress)
        parts.append(_teacher_logits(model, images, rows, cfg.views, cfg.batch_size, cfg.progress))
        teachers.append({"path": str(Path(path).resolve()), "sha256": card.artifact_sha256,
                         "architecture": card.architecture, "input_size": card.input_size})
    logits = np.concatenate(parts, axis=1)  # [rows, teachers x views, K]
    labels = np.asarray(ds.labels)[rows]
    val = side[rows] == "val"
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs = (probs / probs.sum(-1, keepdims=True)).mean(1)
    figures = classification_metrics(labels[val], probs[val]) if val.any() else {}
    train = ~val
    meta = {"schema": SCHEMA, "labels": list(CLASSES), "views": cfg.views, "teachers": teachers,
            "split_fingerprint": split.fingerprint(), "dataset_fingerprint": ds.fingerprint(),
            "image_ids": [ds.records[i].image_id for i in rows[train]],
            "val_balanced_accuracy": figures.get("balanced_accuracy"),
            "val_auc_ovr": figures.get("auc_ovr")}
    if not np.isfinite(logits).all():
        raise ConfigError(f"--teacher {', '.join(cfg.teacher)}: non-finite logits; the teacher "
                          "is broken, nothing written")
    with replacing(cfg.out) as tmp:
        save_file({"logits": logits[train].astype(np.float16)}, str(tmp),
                  metadata={"skinedge": json.dumps(meta)})
    return meta


def open_teacher_labels(path: str) -> tuple[dict, np.ndarray]:
    """The metadata and logits of a `skinedge teach` file, or a ConfigError naming it; needs
    no data, so a run checks the file before it writes anything."""
    from safetensors import safe_open

    try:
        with safe_open(path, "np") as f:
            meta = json.loads((f.metadata() or {}).get("skinedge", "{}"))
            logits = f.get_tensor("logits") if meta.get("schema") == SCHEMA else None
    except Exception as exc:  # OSError, JSON errors, safetensors' own SafetensorError
        raise ConfigError(f"--teacher-labels {path}: not a teacher-labels file ({exc})") from None
    if logits is None or meta.get("labels") != list(CLASSES):
        raise ConfigError(f"--teacher-labels {path}: not a skinedge teacher-labels file for "
                          f"classes {', '.join(CLASSES)}")
    if not np.isfinite(logits).all() or logits.shape[0] != len(meta.get("image_ids", ())):
        raise ConfigError(f"--teacher-labels {path}: corrupt (non-finite or mis-sized logits)")
    return meta, logits


def read_teacher_labels(path: str, data):
    """A CachedTeacher for ``data``'s training rows, checked against its split and labels."""
    import torch

    meta, logits = open_teacher_labels(path)
    if meta["split_fingerprint"] != data.split.fingerprint():
        raise ConfigError(f"--teacher-labels {path}: made for another split; run `skinedge "
                          "teach --split-file` with this run's split.json")
    where = {image_id: i for i, image_id in enumerate(meta["image_ids"])}
    table = np.zeros((len(data.labels), *logits.shape[1:]), dtype=np.float32)
    for row in data.indices("train"):
        if row >= len(data.ds.records):
            raise ConfigError(f"--teacher-labels {path}: covers real images only; leave out "
                              "--synthetic or use --teacher")
        image_id = data.ds.records[row].image_id
        if image_id not in where:
            raise ConfigError(f"--teacher-labels {path}: no labels for training image {image_id}")
        table[row] = logits[where[image_id]]
    from .objectives import CachedTeacher

    return CachedTeacher(torch.from_numpy(table))
