"""Does a per-class logit bias, fitted on validation to maximise balanced accuracy, lift the
ablation's checkpoints on test? (A post-hoc prior correction: free at run time, one add in
the graph.) Reads the val/test probabilities cached by ``benchmarks/ensemble_headroom.py``;
fits the 7 biases by coordinate ascent over a grid on validation only; reports both splits.

Usage: python benchmarks/bias_probe.py [--work runs/ensemble_headroom] [--out MD]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from skinedge.metrics import balanced_accuracy

DATA = "../shared/data/ham10000"
GRID = np.linspace(-2, 2, 41)


def balanced(y: np.ndarray, scores: np.ndarray) -> float:
    return balanced_accuracy(y, scores.argmax(1))


def fit_bias(y: np.ndarray, logp: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Coordinate ascent: each class's bias in turn, the grid value that most raises balanced
    accuracy (ties keep the current value)."""
    b = np.zeros(logp.shape[1])
    for _ in range(rounds):
        for c in range(len(b)):
            best, arg = balanced(y, logp + b), b[c]
            for g in GRID:
                trial = b.copy()
                trial[c] = g
                if (v := balanced(y, logp + trial)) > best + 1e-9:
                    best, arg = v, g
            b[c] = arg
    return b


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, default=Path("runs/ensemble_headroom"))
    p.add_argument("--split", type=Path, default=Path("runs/mae_teacher/pretrain/split.json"))
    p.add_argument("--data", default=DATA)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/mae_teacher/bias_probe.md"))
    a = p.parse_args()
    from skinedge.data import read_ham10000
    from skinedge.data.splits import Split
    from skinedge.labels import CLASSES

    ds = read_ham10000(a.data)
    split = Split.load(a.split)
    y = {s: np.asarray(ds.subset(split.ids(s)).labels) for s in ("val", "test")}
    rows, gains = [], []
    for f in sorted(a.work.glob("*_v1.npz")):
        d = np.load(f)
        lp = {s: np.log(d[s] + 1e-9) for s in ("val", "test")}
        b = fit_bias(y["val"], lp["val"])
        v0, v1 = balanced(y["val"], lp["val"]), balanced(y["val"], lp["val"] + b)
        t0, t1 = balanced(y["test"], lp["test"]), balanced(y["test"], lp["test"] + b)
        gains.append((v1 - v0, t1 - t0))
        rows.append(f"| {f.stem.removesuffix('_v1')} | {v0:.4f} | {v1:.4f} | {t0:.4f} | {t1:.4f} | "
                    + " ".join(f"{c} {x:+.1f}" for c, x in zip(CLASSES, b)) + " |")
    g = np.asarray(gains)
    counts = {s: dict(zip(CLASSES, np.bincount(y[s], minlength=len(CLASSES)).tolist())) for s in y}
    text = "\n".join([
        "# Per-class logit bias fitted on validation (post-hoc prior correction)", "",
        f"Made by `python benchmarks/bias_probe.py` from the cached probabilities in `{a.work}`. "
        f"Validation per class: {counts['val']}; test: {counts['test']}.", "",
        "| checkpoint | val before | val after | test before | test after | biases |",
        "|---|---|---|---|---|---|", *rows, "",
        f"Mean change over {len(g)} checkpoints: validation {g[:, 0].mean():+.4f}, test "
        f"{g[:, 1].mean():+.4f} (test better in {(g[:, 1] > 0).sum()} of {len(g)}).", "",
        "With 14 dermatofibroma and 18 vascular lesions in validation, one image moves a class's "
        "recall by 5-7 points: the biases fit validation's noise, not the classes' priors.", ""])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
