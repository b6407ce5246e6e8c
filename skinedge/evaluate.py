"""Scoring a model on labelled images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError

PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")  # formats matplotlib always writes


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: np.ndarray, indices: np.ndarray,
                   batch_size: int = 128) -> np.ndarray:
    """images: uint8 [N, S, S, 3]; returns float32 logits [len(indices), K] in eval mode."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(indices), batch_size):
        idx = np.asarray(indices[start:start + batch_size])
        x = torch.from_numpy(np.asarray(images[idx])).permute(0, 3, 1, 2).float().div_(255.0)
        out.append(model(x.to(device)).float().cpu().numpy())
    model.train(was)
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def select_split(model_path: Path, card, ds, split: str, every: str = "--split all"):
    """Records of ``ds`` in ``split`` ("all", "val" or "test") as the model's training saw it.

    A checkpoint folder carries its split.json; for an artifact, the split is recomputed from
    the card's seed when ``ds`` is the dataset the model was trained on (same fingerprint).
    ``every``: how the caller's user asks for every image instead (said when no split fits).
    """
    from .data.splits import SPLITS
    from .errors import DataError

    if split == "all":
        return ds
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'; use test, val or all")
    chosen = (_saved_split(Path(model_path), card, ds, every)
              or _recomputed_split(card, ds, every, model_path)).ids(split)
    sub = ds.subset(chosen)
    if not len(sub):
        raise DataError(f"{ds.metadata}: no images of this folder are in the model's {split} split")
    return sub


def _saved_split(model_path: Path, card, ds, every: str):
    """The split.json in a checkpoint folder (or beside an artifact, written by export), if it
    is this model's; ``None`` otherwise."""
    from .data.splits import Split
    from .errors import DataError
    from .layout import SPLIT
    from .runs import check_covers

    folder = model_path if (model_path / "card.json").is_file() else model_path.parent
    path = folder / SPLIT
    if not path.is_file():
        return None
    saved = Split.load(path)
    if saved.fingerprint() != card.training.get("split_fingerprint", saved.fingerprint()):
        return None  # the split of another model
    try:
        check_covers(saved, ds, path)
    except DataError as exc:
        raise DataError(f"{exc}; score every image with {every}") from None
    return saved


def _recomputed_split(card, ds, every: str, model_path: Path):
    """The model's split recomputed from its card (seed, fractions) on the same dataset."""
    from .data.splits import make_split
    from .errors import DataError
    from .layout import SPLIT_FRACTIONS

    t = card.training
    if t.get("dataset_fingerprint") != ds.fingerprint():
        raise DataError(f"{ds.metadata}: not the data the model was trained on "
                        f"({model_path}), so its split is unknown here; use {every}")
    fractions = tuple(t.get("config", {}).get("split_fractions", SPLIT_FRACTIONS))
    s = make_split(ds, int(t.get("split_seed", 0)), fractions)
    if t.get("split_fingerprint") and s.fingerprint() != t["split_fingerprint"]:
        raise DataError(f"{ds.metadata}: recomputed split does not match the card of "
                        f"{model_path}; use {every}")
    return s


def evaluate(model: str | Path | None, data: str | Path, split: str = "test",
             plot: Path | None = None, progress: bool = True, bootstrap: int = 0,
             reliability_plot: Path | None = None) -> dict:
    """Metrics of a checkpoint or artifact on a HAM10000-layout folder; ``trust``: calibration
    (ECE before/after), the referral operating points and, with ``bootstrap`` resamples of
    whole lesions, 95% intervals (trust.py); ``reliability_plot``: a PNG of the diagram."""
    from .api import load
    from .data import read_ham10000
    from .data.cache import cached_images
    from .labels import CLASSES
    from .metrics import classification_metrics

    for path, flag in ((plot, "--plot"), (reliability_plot, "--reliability-plot")):
        if path is not None:  # before the evaluation, not after it
            _check_picture(path, flag)
    clf = load(model)
    columns = _class_columns(clf.labels, clf.path)
    ds = select_split(clf.path, clf.card, read_ham10000(data, require_all_classes=False), split)
    images = cached_images(ds.records, clf.card.input_size, progress=progress)
    probs = clf.predict_batch_array(images)
    bad = np.flatnonzero(~np.isfinite(probs).all(1))
    if len(bad):
        from .errors import CheckpointError

        raise CheckpointError(f"{clf.path}: NaN or infinite outputs for {len(bad)} of {len(probs)} "
                              f"images (e.g. {ds.records[bad[0]].image_id}); the model or artifact "
                              "is broken, so nothing was scored")
    m = classification_metrics(np.asarray(ds.labels), probs[:, columns], CLASSES)
    m = {"model": str(clf.path), "target": clf.target, "data": str(data), "split": split, **m}
    if plot is not None:
        from .plots import plot_confusion

        plot_confusion(np.array(m["confusion_matrix"]), m["labels"], Path(plot),
                       f"{Path(clf.path).name} on {split} (balanced acc {m['balanced_accuracy']:.3f})")
        m["confusion_plot"] = str(plot)
    m["trust"] = _trust(clf, probs, ds, images, bootstrap, reliability_plot, split)
    return m


def _trust(clf, probs: np.ndarray, ds, images, bootstrap: int, plot: Path | None,
           split: str) -> dict:
    """trust.trust_report on the model's own softmax [N, K] (its label order) for ``ds``, and
    the card's input gate on ``images`` (its model images) and on non-dermoscopy images."""
    from .trust import plot_reliability, trust_report

    y = np.array([list(clf.labels).index(r.dx) for r in ds.records])
    t = trust_report(probs, y, [r.lesion_id for r in ds.records], clf.card, clf.labels,
                     n_boot=bootstrap)
    if clf.card.gate:
        from PIL import Image

        from .ood_images import gate_report

        sizes = []
        for r in ds.records:
            with Image.open(r.path) as im:  # the header only: the original's size
                sizes.append(im.size)
        t["gate"] = gate_report(np.asarray(images), sizes, clf.card.gate)
    if plot is not None:
        plot_reliability(t, Path(plot), f"{Path(clf.path).name} on {split}")
        t["reliability_plot"] = str(plot)
    return t


def _check_picture(path: Path, flag: str) -> None:
    """A picture matplotlib can write at ``path``, checked before any work."""
    from .atomic import output_file

    if Path(path).suffix.lower() not in PLOT_SUFFIXES:
        raise ConfigError(f"{flag} {path}: give a picture file name ending "
                          f"{', '.join(PLOT_SUFFIXES)}")
    output_file(path, flag)


def _class_columns(labels, path) -> list[int]:
    """The model's output column of each class of the data, in the data's order (HAM10000's
    seven classes); a model with other labels cannot be scored on this data."""
    from .labels import CLASSES

    if sorted(labels) != sorted(CLASSES):
        raise ConfigError(f"{path}: the model's labels ({', '.join(labels)}) are not the data's "
                          f"classes ({', '.join(CLASSES)}); eval scores models of those classes")
    return [list(labels).index(c) for c in CLASSES]
