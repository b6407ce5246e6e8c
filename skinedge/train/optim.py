"""Optimizer and learning-rate schedule shared by the training stages."""
from __future__ import annotations

import math

import torch


def lr_at(cfg, step: int, steps_per_epoch: int, floor: float = 0.01) -> float:
    """Linear warm-up over ``cfg.warmup_epochs`` then cosine decay to ``floor * cfg.lr`` at
    the end of ``cfg.epochs``, per optimizer step (any config with lr/epochs/warmup_epochs)."""
    warm = cfg.warmup_epochs * steps_per_epoch
    total = max(cfg.epochs * steps_per_epoch, 1)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(total - warm, 1)
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def param_groups(model: torch.nn.Module, weight_decay: float,
                 lr_scale=None) -> list[dict]:
    """AdamW groups: no weight decay on norms and biases. ``lr_scale(name) -> float`` gives
    per-parameter learning-rate multipliers (layer-wise decay); groups keep ``lr_scale``."""
    groups: dict[tuple[bool, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = not (p.ndim <= 1 or name.endswith(".bias"))
        scale = float(lr_scale(name)) if lr_scale else 1.0
        groups.setdefault((decay, scale), []).append(p)
    return [{"params": ps, "weight_decay": weight_decay if decay else 0.0, "lr_scale": scale}
            for (decay, scale), ps in sorted(groups.items(), key=lambda kv: (-kv[0][1], not kv[0][0]))]


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)
