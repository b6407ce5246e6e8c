"""Is an arm's lead over another more than the test split's own sampling noise? A paired
bootstrap over whole test lesions: each resample scores both arms (the mean of their seeds'
balanced accuracies) on the same images, so what the two share cancels. Also the interval of
one arm alone: the noise a single test figure carries (14 dermatofibroma and 18 vascular
lesions make one image worth 0.5-1 point of balanced accuracy).

Reads the val/test probabilities `benchmarks/ensemble_headroom.py` caches per run
(RUN_v1.npz; RUN_v8.npz for the 8-view rows as ARM_tta8).

Usage: python benchmarks/paired_bootstrap.py [--work runs/ensemble_headroom] [--out MD] [-n 2000]
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

DATA = "../shared/data/ham10000"
# (arm, baseline) pairs the README's findings rest on.
PAIRS = [("student_kd", "student_plain"), ("student_kdcnn", "student_plain"),
         ("student_kd", "student_kdcnn"), ("student_kdens", "student_kd"),
         ("teacher_mae", "teacher_scratch"), ("teacher_maesynth", "teacher_mae"),
         ("student_synth", "student_plain"), ("student_kdsynth", "student_kd"),
         ("student_plain_tta8", "student_plain"), ("student_kd_tta8", "student_kd")]


def arms(work: Path) -> dict[str, list[np.ndarray]]:
    """arm -> the test predictions (argmax) of each of its seeds' cached runs."""
    out: dict[str, list[np.ndarray]] = {}
    for f in sorted(work.glob("*_v[18].npz")):
        run, views = f.stem.rsplit("_v", 1)
        arm = re.sub(r"_s\d+$", "", run) + ("_tta8" if views == "8" else "")
        out.setdefault(arm, []).append(np.load(f)["test"].argmax(1))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, default=Path("runs/ensemble_headroom"))
    p.add_argument("--split", type=Path, default=Path("runs/mae_teacher/pretrain/split.json"))
    p.add_argument("--data", default=DATA)
    p.add_argument("-n", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--out", type=Path,
                   default=Path("benchmarks/results/mae_teacher/paired_bootstrap.md"))
    a = p.parse_args()
    from skinedge.clinical import lesion_groups
    from skinedge.data import read_ham10000
    from skinedge.data.splits import Split
    from skinedge.metrics import balanced_accuracy

    test = read_ham10000(a.data).subset(Split.load(a.split).ids("test"))
    y = np.asarray(test.labels)
    groups = lesion_groups([r.lesion_id for r in test.records])
    preds = arms(a.work)
    rng = np.random.default_rng(0)
    draws = [np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
             for _ in range(a.n)]
    full = np.arange(len(y))
    score = lambda arm, idx: float(np.mean([balanced_accuracy(y[idx], p[idx]) for p in preds[arm]]))
    ci = lambda xs: (np.quantile(xs, 0.025), np.quantile(xs, 0.975))
    lines = ["| arm | seeds | test bal-acc (seed mean) | 95% interval over test lesions |",
             "|---|---|---|---|"]
    for arm in sorted(preds):
        lo, hi = ci([score(arm, d) for d in draws])
        lines.append(f"| {arm} | {len(preds[arm])} | {score(arm, full):.4f} | {lo:.4f} - {hi:.4f} |")
    lines += ["", "| arm | baseline | difference | 95% interval (paired) | share of resamples > 0 |",
              "|---|---|---|---|---|"]
    for arm, base in PAIRS:
        if arm not in preds or base not in preds:
            continue
        diff = [score(arm, d) - score(base, d) for d in draws]
        lo, hi = ci(diff)
        lines.append(f"| {arm} ({len(preds[arm])}) | {base} ({len(preds[base])}) | "
                     f"{score(arm, full) - score(base, full):+.4f} | {lo:+.4f} - {hi:+.4f} | "
                     f"{np.mean(np.asarray(diff) > 0):.2f} |")
    text = "\n".join([
        "# Paired bootstrap over the test split's lesions", "",
        f"Made by `python benchmarks/paired_bootstrap.py -n {a.n}` from the probabilities cached in "
        f"`{a.work}`; test split of `{a.split}` ({len(y)} images, {len(groups)} lesions). An "
        "arm's figure is the mean over its cached seeds; each resample draws whole lesions with "
        "replacement and scores every arm on the same draw. The interval is the test set's "
        "sampling noise only: the spread over seeds (training noise) is in `report.md`.", "",
        *lines, ""])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
