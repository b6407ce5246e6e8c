"""Dermoscopy augmentations, deterministic per (seed, epoch, sample).

Each sample's randomness comes from its own generator, so an image gets the same
augmentation whichever process or batch it lands in: one process and a DDP run over two
see identical inputs. Lesions have no canonical orientation, so all 8 flips/rotations of
the square are used, plus random resized crops and mild colour jitter (dermatoscopes and
lighting vary).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF


@dataclass(frozen=True)
class AugmentConfig:
    crop_scale: tuple[float, float] = (0.35, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.03


def keyed_seed(*key: int) -> int:
    """A 32-bit seed that depends only on ``key`` (e.g. seed, epoch, step), for randomness that a
    resumed run or another process must draw the same way."""
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 10_000_019 + index)


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def augment(img: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """img: uint8 [3, S, S] -> uint8 [3, S, S]."""
    s = img.shape[-1]
    area = s * s
    for _ in range(10):
        target = area * _uniform(g, *cfg.crop_scale)
        ratio = math.exp(_uniform(g, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= s and 0 < h <= s:
            top = int(torch.randint(0, s - h + 1, (), generator=g))
            left = int(torch.randint(0, s - w + 1, (), generator=g))
            img = TF.resized_crop(img, top, left, h, w, [s, s], antialias=True)
            break
    k = int(torch.randint(0, 4, (), generator=g))
    if k:
        img = torch.rot90(img, k, dims=(1, 2))
    if float(torch.rand((), generator=g)) < 0.5:
        img = img.flip(-1)
    img = TF.adjust_brightness(img, _uniform(g, 1 - cfg.brightness, 1 + cfg.brightness))
    img = TF.adjust_contrast(img, _uniform(g, 1 - cfg.contrast, 1 + cfg.contrast))
    img = TF.adjust_saturation(img, _uniform(g, 1 - cfg.saturation, 1 + cfg.saturation))
    if cfg.hue > 0:
        img = TF.adjust_hue(img, _uniform(g, -cfg.hue, cfg.hue))
    return img.contiguous()
