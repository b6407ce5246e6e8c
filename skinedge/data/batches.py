"""Epoch orders and batches that are the same for one process and for N DDP processes.

The global order of an epoch depends only on (seed, epoch); it is cut into global batches,
and rank r of a world of W takes the r-th slice of each. Class-balanced sampling draws with
replacement, each image weighted by 1 / (images in its class).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import AugmentConfig, augment, sample_generator


def epoch_order(labels: np.ndarray, seed: int, epoch: int, balanced: bool | float,
                size: int | None = None) -> np.ndarray:
    """Indices of one epoch: ``size`` draws (default: one per image). ``balanced`` is the power
    p of the draw weights count_c^-p: True (1) draws every class equally often, 0.5 draws class
    c in proportion to sqrt(count_c), False (0) draws each image once."""
    rng = np.random.default_rng([seed, epoch])
    n = len(labels)
    size = n if size is None else size
    if not balanced:
        return rng.permutation(n)[:size]
    counts = np.bincount(labels)
    weights = counts[labels].astype(np.float64) ** -float(balanced)
    return rng.choice(n, size=size, replace=True, p=weights / weights.sum())


def rank_batches(order: np.ndarray, batch_size: int, rank: int = 0, world: int = 1,
                 drop_last: bool = True) -> list[list[int]]:
    """Cut ``order`` into global batches of ``batch_size``; return this rank's slices."""
    if batch_size % world:
        raise ValueError(f"batch size {batch_size} is not divisible by {world} processes")
    per = batch_size // world
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    out = []
    for start in range(0, stop, batch_size):
        batch = order[start:start + batch_size]
        part = batch[rank * per:(rank + 1) * per].tolist()
        if part:
            out.append(part)
    return out


class CachedImages(Dataset):
    """uint8 images [N, S, S, 3] (e.g. a memory map) -> (float [3, S, S] in [0, 1], label,
    row): ``row`` is the image's row in ``images`` (cached teacher labels are looked up by it).

    Item ``d`` is the d-th *draw* of the epoch: image ``indices[order[d]]`` (``set_epoch``
    gives the order). Its augmentation is keyed by (seed, epoch, d), not by the image, so an
    image the class-balanced sampler draws ten times in one epoch gets ten different views."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, indices: np.ndarray,
                 augment_cfg: AugmentConfig | None = None, seed: int = 0):
        self.images, self.labels, self.indices = images, labels, indices
        self.augment_cfg, self.seed, self.epoch = augment_cfg, seed, 0
        self.order = np.arange(len(indices))

    def set_epoch(self, epoch: int, order: np.ndarray) -> None:
        self.epoch, self.order = epoch, np.asarray(order)

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, d: int):
        j = int(self.indices[self.order[d]])
        img = torch.from_numpy(np.array(self.images[j])).permute(2, 0, 1)
        if self.augment_cfg is not None:
            img = augment(img, self.augment_cfg, sample_generator(self.seed, self.epoch, d))
        return img.float().div_(255.0), int(self.labels[j]), j
