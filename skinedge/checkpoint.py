"""Checkpoints without pickle: ``model.safetensors`` + ``card.json`` in one folder.

A folder is written whole under a temporary name and swapped in by rename, so an
interruption leaves either the old checkpoint or the new one, never a mix. Loading checks
the weights' sha256 against the card and the tensor names/shapes against the architecture.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .card import ModelCard, sha256_file
from .errors import CheckpointError
from .models import SkinClassifier, create_model

WEIGHTS = "model.safetensors"
CARD = "card.json"


def write_folder_atomically(dest: Path, write) -> None:
    """Call ``write(tmp_dir)`` then replace ``dest`` with it in two renames."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    old = dest.with_name(f".{dest.name}.old{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        if dest.exists():
            os.replace(dest, old)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(dest: Path, model: SkinClassifier, card: ModelCard,
                    dtype: torch.dtype = torch.float32,
                    extra_tensors: dict[str, dict[str, torch.Tensor]] | None = None,
                    extra_json: dict[str, object] | None = None) -> ModelCard:
    """Save weights (cast to ``dtype``) and the card, plus optional extra safetensors/JSON
    files (optimizer and trainer state) in the same atomic swap; returns the card written."""
    state = {k: v.detach().to(dtype if v.is_floating_point() else v.dtype).contiguous()
             for k, v in model.state_dict().items()}
    final = {}

    def write(tmp: Path) -> None:
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
        c = card.with_(weights_dtype=str(dtype).removeprefix("torch."),
                       artifact_file=WEIGHTS, artifact_sha256=sha256_file(tmp / WEIGHTS))
        c.save(tmp / CARD)
        for name, tensors in (extra_tensors or {}).items():
            save_file(tensors, str(tmp / name))
        for name, doc in (extra_json or {}).items():
            (tmp / name).write_text(json.dumps(doc, indent=1))
        final["card"] = c

    write_folder_atomically(dest, write)
    return final["card"]


def read_card(folder: Path) -> ModelCard:
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: checkpoint folder not found")
    return ModelCard.load(folder / CARD)


def load_checkpoint(folder: Path) -> tuple[SkinClassifier, ModelCard]:
    """Build the card's architecture and load its weights as float32 in eval mode."""
    folder = Path(folder)
    card = read_card(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights}: weights file not found")
    digest = sha256_file(weights)
    if card.artifact_sha256 and digest != card.artifact_sha256:
        raise CheckpointError(f"{weights}: sha256 {digest[:12]}... does not match the card's "
                              f"{card.artifact_sha256[:12]}...; the weights were changed or "
                              "belong to another model")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({exc})") from None
    model = create_model(card.architecture, card.input_size, card.mean, card.std,
                         num_classes=len(card.labels))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label}: {', '.join(keys[:3])}" for label, keys in
                           (("missing", missing), ("unexpected", unexpected),
                            ("wrong shape", wrong)) if keys)
        raise CheckpointError(f"{weights}: weights do not match the card's architecture "
                              f"'{card.architecture}' at {card.input_size}px ({detail})")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in state.items()})
    return model.eval(), card
