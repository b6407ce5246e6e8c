"""The eager PyTorch checkpoint as a target: the reference every export is checked against.

Its "artifact" is a checkpoint folder (``model.safetensors`` + ``card.json``); exporting one
writes the weights in the recipe's precision (fp16 halves the download; they load as fp32).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..card import ModelCard, regular_file
from ..checkpoint import (WEIGHTS, load_checkpoint, read_card as _read_card, save_checkpoint,
                          verify_checkpoint)
from ..errors import CheckpointError
from .common import reports_disk_full

DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


@reports_disk_full
def export(model, card: ModelCard, dest: Path, recipe, calibration: np.ndarray | None) -> ModelCard:
    return save_checkpoint(Path(dest), model, card.with_(format="checkpoint",
                           quantization=recipe.quantization), dtype=DTYPES[recipe.quantization])


def read_card(path: str | Path, verify: bool = True) -> ModelCard:
    card = _read_card(Path(path))
    if verify:
        verify_checkpoint(Path(path), card)
    return card


def can_run_here() -> tuple[bool, str]:
    return True, ""  # torch is a core dependency


def structure(path: Path) -> dict:
    from safetensors import SafetensorError, safe_open

    dtypes, n, weights = Counter(), 0, Path(path) / WEIGHTS
    regular_file(weights, "weights file")
    try:
        with safe_open(str(weights), "pt") as f:
            for name in f.keys():
                s = f.get_slice(name)
                dtypes[s.get_dtype()] += 1
                n += int(np.prod(s.get_shape()))
    except (SafetensorError, OSError) as exc:  # a flipped header, truncated or missing weights
        raise CheckpointError(f"{weights}: not a readable safetensors file, corrupt or "
                              f"truncated ({exc})") from None
    return {"tensors": sum(dtypes.values()), "values": n, "dtypes": dict(dtypes)}


def verify_structure(path: Path) -> list[str]:
    try:
        load_checkpoint(Path(path))  # checks integrity, tensor names and shapes against the card
    except CheckpointError as exc:
        return [str(exc)]
    return []


def graph_macs(path: Path) -> None:
    return None  # the card's FlopCounterMode count is this graph's count


class Runtime:
    """Runs a checkpoint folder with eager PyTorch on the CPU."""

    name = "eager"

    def __init__(self, path: str | Path, threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)  # process-wide: torch has no per-model setting
        self.path = Path(path)
        self.model, self.card = load_checkpoint(self.path)

    def run(self, x: np.ndarray) -> np.ndarray:
        """x: float32 [N, 3, S, S] RGB in [0, 1] -> float32 logits [N, K]."""
        with torch.no_grad():
            return self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
