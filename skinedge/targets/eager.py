"""The eager PyTorch checkpoint as a target: the reference every export is checked against."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..card import ModelCard
from ..checkpoint import load_checkpoint


class Runtime:
    """Runs a checkpoint folder with eager PyTorch on the CPU."""

    name = "eager"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.model, self.card = load_checkpoint(self.path)

    def run(self, x: np.ndarray) -> np.ndarray:
        """x: float32 [N, 3, S, S] RGB in [0, 1] -> float32 logits [N, K]."""
        with torch.no_grad():
            return self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


def read_card(path: str | Path, verify: bool = True) -> ModelCard:
    from ..card import sha256_file
    from ..checkpoint import WEIGHTS, read_card as _read
    from ..errors import CheckpointError

    card = _read(Path(path))
    weights = Path(path) / WEIGHTS
    if verify and card.artifact_sha256 and (not weights.is_file() or sha256_file(weights) != card.artifact_sha256):
        raise CheckpointError(f"{weights}: missing or its sha256 does not match the model card")
    return card
