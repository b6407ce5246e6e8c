"""Training objectives: what one batch costs. Each returns a dict of loss parts whose
``"loss"`` is back-propagated (timm's distillation task shape), so a second loss (a teacher's
soft targets) plugs into the same epoch loop."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..distributed import DistEnv


def class_weights(labels: np.ndarray, k: int) -> np.ndarray:
    """n / (k * count_c): each class contributes equally to the loss ("balanced")."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return len(labels) / (k * np.maximum(counts, 1))


def global_mean(per_sample: torch.Tensor, weight: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Weighted mean over the *global* batch: normalised by the total weight of all processes,
    so DDP's gradient average equals the one-process gradient exactly."""
    denom = env.sum(weight.sum().detach())
    return (weight * per_sample).sum() * env.world / denom


class SupervisedObjective:
    """Cross-entropy with label smoothing, optionally class-weighted."""

    def __init__(self, env: DistEnv, label_smoothing: float = 0.0,
                 class_weight: torch.Tensor | None = None):
        self.env, self.label_smoothing, self.class_weight = env, label_smoothing, class_weight

    def weights(self, y: torch.Tensor) -> torch.Tensor:
        return self.class_weight[y] if self.class_weight is not None else \
            torch.ones(len(y), dtype=torch.float32)

    def __call__(self, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        """x: [B, 3, S, S] in [0, 1]; y: [B] class indices -> {"loss"}."""
        per = F.cross_entropy(net(x), y, reduction="none", label_smoothing=self.label_smoothing)
        return {"loss": global_mean(per, self.weights(y), self.env)}
