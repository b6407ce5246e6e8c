"""Pictures of a synth run: labelled image grids and loss curves."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..atomic import replacing
from ..plots import pyplot, save_figure


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[N, 3, S, S] in [0, 1] -> uint8 [N, S, S, 3]."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def save_grid(rows: Sequence[torch.Tensor | np.ndarray], labels: Sequence[str], path: Path,
              title: str = "", scale: int = 0) -> None:
    """One labelled row per entry; images [N, 3, S, S] in [0, 1] or uint8 [N, S, S, 3]."""
    rows = [to_uint8(r) if isinstance(r, torch.Tensor) else np.asarray(r) for r in rows]
    s = rows[0].shape[1]
    scale = scale or max(1, 96 // s)
    cell, pad, left, top = s * scale, 2, 64, 22 if title else 4
    cols = max(len(r) for r in rows)
    canvas = Image.new("RGB", (left + cols * (cell + pad), top + len(rows) * (cell + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 4), title, fill="black")
    for i, (row, label) in enumerate(zip(rows, labels)):
        y = top + i * (cell + pad)
        draw.text((4, y + cell // 2 - 6), label, fill="black")
        for j, img in enumerate(row):
            tile = Image.fromarray(img).resize((cell, cell), Image.NEAREST)
            canvas.paste(tile, (left + j * (cell + pad), y))
    with replacing(path) as tmp:
        canvas.save(tmp)


def _smooth(v: Sequence[float], k: int) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if len(v) < k or k < 2:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    return (c[k:] - c[:-k]) / k


def save_loss_curves(run: Path) -> None:
    """Autoencoder L1 and UNet noise-prediction MSE per step (raw and smoothed)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, stage, ylabel in ((axes[0], "autoencoder", "reconstruction L1 ([-1, 1] pixels)"),
                              (axes[1], "unet", "noise-prediction MSE")):
        state_file = Path(run) / stage / "state.json"
        losses = json.loads(state_file.read_text())["losses"] if state_file.is_file() else []
        if losses:
            k = max(1, len(losses) // 50)
            ax.plot(np.arange(1, len(losses) + 1), losses, alpha=0.25, label="per step")
            sm = _smooth(losses, k)
            ax.plot(np.arange(k, k + len(sm)), sm, label=f"mean of {k}")
            ax.set_yscale("log")
            ax.legend()
        ax.set_title(stage), ax.set_xlabel("step"), ax.set_ylabel(ylabel), ax.grid(alpha=0.3)
    save_figure(fig, Path(run) / "loss_curves.png")
