"""Pieces the target modules share: lazy backend imports and the batch-dimension spec."""
from __future__ import annotations

import importlib

import numpy as np

from ..errors import BackendMissingError

CARD_KEY = "skinedge.model_card"
MAX_BATCH = 256


def require(module: str, package: str, extra: str = "export"):
    """Import a backend module, or raise an error naming the pip extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BackendMissingError(package, extra) from None


# torch is imported inside these helpers so that a runtime-only process (onnxruntime)
# does not pay torch's memory: the benchmark reports each runtime's own footprint.
def example_input(size: int, batch: int = 2):
    import torch

    return torch.rand(batch, 3, size, size)


def batch_dim():
    import torch

    return torch.export.Dim("batch", min=1, max=MAX_BATCH)


def as_float_batch(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)
