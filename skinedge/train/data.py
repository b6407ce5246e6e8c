"""What a supervised stage trains on: the decoded images of the whole dataset, their labels and
split side, plus synthetic images on the train side (``--synthetic``)."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data import HAM10000, Split, read_ham10000
from ..data.cache import cached_images
from ..distributed import DistEnv
from ..errors import ConfigError
from ..layout import RunFolder
from ..runs import cache_rank0_first, load_or_make_split, side_of_each


@dataclass
class TrainData:
    ds: HAM10000
    split: Split
    images: np.ndarray      # uint8 [N, S, S, 3], real images then synthetic ones
    labels: np.ndarray      # int64 [N]
    where: np.ndarray       # "train" | "val" | "test" per image
    synthetic: dict | None  # what --synthetic added (None without it)

    def indices(self, side: str) -> np.ndarray:
        return np.flatnonzero(self.where == side)

    @property
    def n_real_train(self) -> int:
        return self.synthetic["n_real_train"] if self.synthetic else len(self.indices("train"))

    def training_card(self, cfg) -> dict:
        """The card's ``training`` section: data, split and fingerprints, the config."""
        return {"data": str(Path(cfg.data).resolve()), "n_images": len(self.ds),
                "n_train": len(self.indices("train")), "n_val": len(self.indices("val")),
                "n_test": len(self.indices("test")), "dataset_fingerprint": self.ds.fingerprint(),
                "split_fingerprint": self.split.fingerprint(), "split_seed": self.split.seed,
                "class_counts": self.ds.class_counts(), "synthetic": self.synthetic,
                "config": cfg.to_dict()}


def prepare_data(cfg, run: RunFolder, env: DistEnv, show: bool) -> TrainData:
    """Read, split and decode; everything that can fail on bad input fails here, before the
    first training step."""
    ds = read_ham10000(cfg.data)
    split = load_or_make_split(ds, run, env, cfg.seed, cfg.split_fractions, cfg.split_file)
    images = cache_rank0_first(ds.records, cfg.img_size, env, show)
    data = TrainData(ds, split, images, np.asarray(ds.labels, dtype=np.int64),
                     side_of_each(ds, split), None)
    if getattr(cfg, "synthetic", None):
        data = add_synthetic(cfg, data, show)
    return data


def add_synthetic(cfg, data: TrainData, show: bool) -> TrainData:
    """The chosen synthetic images appended to the arrays, all on the train side."""
    from ..synth.mix import read_synthetic, select_synthetic

    syn, manifest = read_synthetic(cfg.synthetic)
    if manifest["split_fingerprint"] != data.split.fingerprint():
        raise ConfigError(f"{cfg.synthetic}: its diffusion model was trained on a different split "
                          "than this run's, so its images may copy this run's val/test lesions; "
                          "train the synth model with the same data, seed and fractions")
    n_real = len(data.indices("train"))
    chosen = select_synthetic(syn, n_real, cfg.synthetic_ratio, cfg.seed)
    made_at = manifest.get("img_size")
    if made_at and made_at < cfg.img_size and os.environ.get("RANK", "0") == "0":
        print(f"skinedge: warning: {cfg.synthetic}: its images were generated at {made_at} px and "
              f"are upsampled to {cfg.img_size} px here, so they hold less detail than the real "
              "images they are mixed with; generate them at the training size (the ablation "
              "measured students on real + such synthetic images below students on real alone: "
              "benchmarks/results/mae_teacher/report.md)", file=sys.stderr, flush=True)
    syn_images = cached_images(chosen.records, cfg.img_size, progress=show)
    info = {"folder": str(Path(cfg.synthetic).resolve()), "model_sha256": manifest["model_sha256"],
            "n_synthetic": len(chosen), "n_real_train": n_real,
            "share": len(chosen) / (len(chosen) + n_real), "class_counts": chosen.class_counts(),
            "guidance": manifest["guidance"], "generated_px": made_at}
    if show:
        tqdm.write(f"training on {n_real} real + {len(chosen)} synthetic images "
                   f"({info['share']:.1%} synthetic): {chosen.class_counts()}")
    return TrainData(data.ds, data.split,
                     np.concatenate([np.asarray(data.images), np.asarray(syn_images)]),
                     np.concatenate([data.labels, np.asarray(chosen.labels, dtype=np.int64)]),
                     np.concatenate([data.where, np.full(len(chosen), "train")]), info)


def channel_stats(images: np.ndarray, indices: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean/std (in [0, 1] units) over the training images."""
    total, total_sq, n = np.zeros(3), np.zeros(3), 0
    for start in range(0, len(indices), 512):
        x = np.asarray(images[np.sort(indices[start:start + 512])], dtype=np.float64) / 255.0
        total += x.sum((0, 1, 2))
        total_sq += (x * x).sum((0, 1, 2))
        n += x.shape[0] * x.shape[1] * x.shape[2]
    mean = total / n
    std = np.sqrt(total_sq / n - mean ** 2)
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]
