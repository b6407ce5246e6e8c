"""Training stages. Submodules load on first use, so ``skinedge --help`` stays torch-free."""
from __future__ import annotations

import importlib

from .config import TrainConfig

_LAZY = {"train": ".loop", "lr_at": ".optim", "param_groups": ".optim",
         "class_weights": ".objectives", "SupervisedObjective": ".objectives"}

__all__ = ["TrainConfig", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
