"""Checkpoints without pickle: ``model.safetensors`` + ``card.json`` in one folder.

A folder is written whole under a temporary name and swapped in by rename, so an
interruption leaves either the old checkpoint or the new one, never a mix. The card's
``integrity_sha256`` covers ``card.json`` and ``model.safetensors`` together (card.py); loading
checks it before the weights are parsed, then the tensor names/shapes against the architecture.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic import write_folder
from .card import (PLACEHOLDER, ModelCard, accept_unsealed, integrity_digest, regular_file,
                   seal, sha256_file)
from .errors import CheckpointError
from .models import SkinClassifier, create_model

WEIGHTS = "model.safetensors"
CARD = "card.json"
SEALED = (CARD, WEIGHTS)  # what the integrity hash covers; optimizer and trainer state are not


def save_checkpoint(dest: Path, model: SkinClassifier, card: ModelCard,
                    dtype: torch.dtype = torch.float32,
                    extra_tensors: dict[str, dict[str, torch.Tensor]] | None = None,
                    extra_json: dict[str, object] | None = None) -> ModelCard:
    """Save weights (cast to ``dtype``) and the card, plus optional extra safetensors/JSON
    files (optimizer and trainer state) in the same atomic swap; returns the card written."""
    state = {k: v.detach().cpu().to(dtype if v.is_floating_point() else v.dtype).contiguous()
             for k, v in model.state_dict().items()}
    final = {}

    def write(tmp: Path) -> None:
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
        c = card.with_(weights_dtype=str(dtype).removeprefix("torch."), artifact_file=WEIGHTS,
                       artifact_sha256=sha256_file(tmp / WEIGHTS), artifact_hash_scope="file",
                       integrity_sha256=PLACEHOLDER)
        c.save(tmp / CARD)
        c = c.with_(integrity_sha256=seal(tmp, SEALED, holders=(CARD,)))
        for name, tensors in (extra_tensors or {}).items():
            save_file(tensors, str(tmp / name))
        for name, doc in (extra_json or {}).items():
            (tmp / name).write_text(json.dumps(doc, indent=1))
        final["card"] = c

    write_folder(dest, write)
    return final["card"]


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file, or a CheckpointError naming it (never unpickled)."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """An optimizer's per-parameter state as flat safetensors entries ``"{param}.{key}"``."""
    out = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{i}.{k}"] = torch.as_tensor(v).detach().cpu().clone()
    return out


def load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    """Inverse of :func:`optimizer_tensors` (hyper-parameters stay as constructed)."""
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        i, k = key.split(".", 1)
        state.setdefault(int(i), {})[k] = v
    sd["state"] = state
    opt.load_state_dict(sd)


def read_card(folder: Path) -> ModelCard:
    """The card as written (not checked against the weights: see :func:`verify_checkpoint`)."""
    folder = Path(folder)
    if folder.is_file():
        raise CheckpointError(f"{folder}: a file, not a checkpoint folder (a folder with "
                              f"{CARD} and the weights, such as a run's best/); exported "
                              "artifacts are for prediction, not for training")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: checkpoint folder not found")
    return ModelCard.load(folder / CARD)


def verify_checkpoint(folder: Path, card: ModelCard) -> None:
    """CheckpointError unless ``card.json`` and the weights hash to the card's
    ``integrity_sha256``; a checkpoint saved before that field is checked by its weights'
    sha256 alone, with a warning (a card newer than that field must have it: card.py)."""
    folder = Path(folder)
    weights = folder / WEIGHTS
    regular_file(weights, "weights file")
    if card.integrity_sha256:
        if integrity_digest(folder, card.integrity_sha256, SEALED) == card.integrity_sha256:
            return
        what = ("the weights were replaced or changed" if card.artifact_sha256
                and sha256_file(weights) != card.artifact_sha256 else "the card was edited")
        raise CheckpointError(f"{folder / CARD} and {weights}: integrity sha256 does not match "
                              f"the card's {card.integrity_sha256[:12]}...: {what} after saving. "
                              "Use the checkpoint as it was saved (labels, preprocessing and "
                              "weights are checked together)")
    accept_unsealed(folder / CARD, card,
                    "load and save it again (skinedge.checkpoint.save_checkpoint) to add one")
    digest = sha256_file(weights)
    if card.artifact_sha256 and digest != card.artifact_sha256:
        raise CheckpointError(f"{weights}: sha256 {digest[:12]}... does not match the card's "
                              f"{card.artifact_sha256[:12]}...; the weights were changed or "
                              "belong to another model")


def load_checkpoint(folder: Path, **regularisation) -> tuple[SkinClassifier, ModelCard]:
    """Build the card's architecture and load its weights as float32 in eval mode.
    ``regularisation`` (drop_rate, drop_path) is for a run that resumes training: the model
    is built from the card's architecture alone and would otherwise resume without them."""
    folder = Path(folder)
    card = read_card(folder)
    verify_checkpoint(folder, card)
    weights = folder / WEIGHTS
    state = read_tensors(weights)
    model = create_model(card.architecture, card.input_size, card.mean, card.std,
                         num_classes=len(card.labels), **regularisation)
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
