"""Mix synthetic images into the real training split at a chosen ratio.

The ratio is the synthetic share of the combined training set: ratio r with R real training
images takes round(r * R / (1 - r)) synthetic ones, split across classes in proportion to what
the synthetic folder holds (a ``--balance-to`` dataset is already skewed to the rare classes).
Synthetic images only ever join the *train* split; validation and test stay real.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data.ham10000 import HAM10000, read_ham10000
from ..errors import DataError
from ..labels import CLASSES
from .layout import MANIFEST, MANIFEST_SCHEMA


def read_synthetic(folder: str | Path) -> tuple[HAM10000, dict]:
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise DataError(f"{folder}: no {MANIFEST}; not a dataset written by `skinedge synth sample`")
    manifest = json.loads(path.read_text())
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise DataError(f"{path}: schema {manifest.get('schema')!r}, expected {MANIFEST_SCHEMA!r}")
    ds = read_ham10000(folder, require_all_classes=False)
    expected = sum(manifest["counts"].values())
    if len(ds) != expected:
        raise DataError(f"{folder}: metadata lists {len(ds)} images but the manifest asked for "
                        f"{expected}; rerun the same `skinedge synth sample` to finish it")
    return ds, manifest


def synthetic_count(n_real: int, ratio: float) -> int:
    if not 0.0 <= ratio < 1.0:
        raise DataError(f"--synthetic-ratio {ratio}: must be in [0, 1) (the synthetic share of "
                        "the training set)")
    return int(round(ratio * n_real / (1.0 - ratio)))


def select_synthetic(ds: HAM10000, n_real: int, ratio: float | None, seed: int) -> HAM10000:
    """The synthetic records to train on: all of them (ratio None) or the share ``ratio``."""
    if ratio is None:
        return ds
    want = synthetic_count(n_real, ratio)
    if want > len(ds):
        most = len(ds) / (len(ds) + n_real)
        raise DataError(f"{ds.root}: --synthetic-ratio {ratio} needs {want} synthetic images for "
                        f"{n_real} real ones, but the folder holds {len(ds)} (at most ratio "
                        f"{most:.3f}); sample more or lower the ratio")
    by_class = {c: [r for r in ds.records if r.dx == c] for c in CLASSES}
    avail = np.array([len(by_class[c]) for c in CLASSES], dtype=np.float64)
    quota = avail / max(avail.sum(), 1) * want
    take = np.floor(quota).astype(int)
    for k in np.argsort(-(quota - take), kind="stable")[:want - take.sum()]:
        take[k] += 1
    rng = np.random.default_rng([seed, 17])
    chosen = set()
    for c, k in zip(CLASSES, take):
        recs = by_class[c]
        for j in rng.permutation(len(recs))[:k]:
            chosen.add(recs[j].image_id)
    return ds.subset(chosen)
