"""Plots people would rather look at than read: training curves and confusion matrices."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import replacing


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported on first use: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Write a matplotlib figure atomically and close it."""
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    pyplot().close(fig)


def plot_training_curves(history: list[dict], path: Path, title: str = "") -> None:
    """history: one dict per epoch with train_loss, val_loss, val_balanced_accuracy, ..."""
    plt = pyplot()
    ep = [h["epoch"] + 1 for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(ep, [h["train_loss"] for h in history], label="train loss")
    a.plot(ep, [h["val_loss"] for h in history], label="val loss")
    a.set_xlabel("epoch"), a.set_ylabel("cross-entropy"), a.legend(), a.grid(alpha=0.3)
    for key, label in (("val_balanced_accuracy", "val balanced acc"),
                       ("val_macro_f1", "val macro-F1"), ("val_accuracy", "val accuracy"),
                       ("val_mel_recall", "val melanoma recall")):
        b.plot(ep, [h[key] for h in history], label=label)
    b.set_xlabel("epoch"), b.set_ylim(0, 1), b.legend(), b.grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path)


def plot_loss_curves(history: list[dict], path: Path, title: str = "",
                     ylabel: str = "loss") -> None:
    """history: one dict per epoch with train_loss and val_loss."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ep = [h["epoch"] + 1 for h in history]
    ax.plot(ep, [h["train_loss"] for h in history], marker=".", label="train")
    ax.plot(ep, [h["val_loss"] for h in history], marker=".", label="val (fixed masks)")
    ax.set_xlabel("epoch"), ax.set_ylabel(ylabel), ax.legend(), ax.grid(alpha=0.3)
    ax.set_title(title)
    save_figure(fig, path)


def plot_confusion(cm: np.ndarray, labels: list[str], path: Path, title: str = "") -> None:
    """Row-normalized colours (recall), raw counts as text."""
    plt = pyplot()
    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{cm[i, j]}\n{norm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels), ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted"), ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="fraction of true class")
    save_figure(fig, path)
