"""How much an ensemble of the ablation's checkpoints (over seeds, arms and the 8 dihedral
views) beats its members: the headroom a distillation teacher could pass to one student
(issue 10, item 8). Scores every finished run of RUN on the shared split's val and test
images, alone and in ensembles (probabilities averaged), with 1 and 8 views.

Per-run probabilities are cached under --work, so a rerun after a kill only scores what is
missing. Ensembles are named here, not searched on test; the "best on val" line picks among
them on validation only.

Usage: python benchmarks/ensemble_headroom.py [RUN] [--work DIR] [--out MD] [--views 1 8] [--arms A ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

DATA = "../shared/data/ham10000"


def probs_of(run: Path, images: dict, work: Path, views: int) -> dict[str, np.ndarray]:
    """{"val": P, "test": P} for one checkpoint, from the cache or computed."""
    import torch

    from skinedge.checkpoint import load_checkpoint
    from skinedge.evaluate import predict_logits
    from skinedge.models.views import with_views

    cache = work / f"{run.name}_v{views}.npz"
    # keyed by the weights' sha256 too: a run made again (same name) is scored again
    sha = json.loads((run / "best" / "card.json").read_text())["artifact_sha256"]
    if cache.is_file():
        cached = dict(np.load(cache))
        if str(cached.pop("sha256", "")) == sha:
            return cached
    model, _ = load_checkpoint(run / "best")
    model = with_views(model.eval(), views)
    out = {}
    for side, arr in images.items():
        logits = torch.from_numpy(predict_logits(model, arr, np.arange(len(arr)), 64))
        out[side] = logits.softmax(-1).numpy()
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, **out, sha256=np.array(sha))
    tmp.replace(cache)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, nargs="?", default=Path("runs/mae_teacher"))
    p.add_argument("--work", type=Path, default=Path("runs/ensemble_headroom"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/mae_teacher/ensemble_headroom.md"))
    p.add_argument("--data", default=DATA)
    p.add_argument("--arms", nargs="+", help="score only these arms' runs (run names less _sN), "
                   "e.g. to cache the students' 8-view probabilities for mae_teacher_report.py")
    p.add_argument("--views", type=int, nargs="+", default=[1], help="1 and/or 8 (8 views cost 8x: a ViT-Ti takes ~20 min per run on one busy core)")
    a = p.parse_args()
    from skinedge.data import read_ham10000
    from skinedge.data.cache import cached_images
    from skinedge.data.splits import Split
    from skinedge.labels import CLASSES
    from skinedge.metrics import classification_metrics

    ds = read_ham10000(a.data)
    split = Split.load(a.run / "pretrain" / "split.json")
    subsets = {s: ds.subset(split.ids(s)) for s in ("val", "test")}
    runs = sorted(m.parent for m in a.run.glob("*/metrics.json")
                  if json.loads((m.parent / "best" / "card.json").read_text())["input_size"] == 128
                  and (not a.arms or m.parent.name.rsplit("_s", 1)[0] in a.arms
                       or m.parent.name in a.arms))
    images = {s: cached_images(sub.records, 128, progress=False) for s, sub in subsets.items()}
    labels = {s: np.asarray(sub.labels) for s, sub in subsets.items()}
    a.work.mkdir(parents=True, exist_ok=True)
    probs: dict[tuple[str, int], dict] = {}
    for views in a.views:
        for r in runs:
            print(f"scoring {r.name} x{views}", file=sys.stderr, flush=True)
            probs[(r.name, views)] = probs_of(r, images, a.work, views)

    def score(names: list[str], views: int) -> dict[str, dict]:
        out = {}
        for s in ("val", "test"):
            pr = np.mean([probs[(n, views)][s] for n in names], axis=0)
            m = classification_metrics(labels[s], pr, CLASSES)
            out[s] = {"bal": m["balanced_accuracy"], "mel": m["per_class"]["mel"]["recall"]}
        return out

    arm = lambda prefix: [r.name for r in runs if r.name.rsplit("_s", 1)[0] == prefix
                          or r.name == prefix]
    groups = {name: members for name, members in [
        ("MAE teachers (d)", arm("teacher_mae")),
        ("MAE teachers, real + synthetic (e)", arm("teacher_maesynth")),
        ("MAE teachers (d) + (e)", arm("teacher_mae") + arm("teacher_maesynth")),
        ("students, no teacher (a)", arm("student_plain")),
        ("students distilled from (d) (f)", arm("student_kd")),
        ("students distilled from the CNN (ctrl)", arm("student_kdcnn")),
        ("students + synthetic (b)", arm("student_synth")),
        ("students distilled + synthetic (g)", arm("student_kdsynth")),
        ("all students", [r.name for r in runs if r.name.startswith("student_")]),
        ("MAE teachers + students (f)", arm("teacher_mae") + arm("student_kd")),
        ("every finished run", [r.name for r in runs]),
    ] if members}
    lines = ["| model or ensemble | members | views | val bal-acc | test bal-acc | test mel recall |",
             "|---|---|---|---|---|---|"]
    best = None
    for views in a.views:
        for r in runs:
            s = score([r.name], views)
            lines.append(f"| {r.name} | 1 | {views} | {s['val']['bal']:.4f} | {s['test']['bal']:.4f}"
                         f" | {s['test']['mel']:.3f} |")
    for views in a.views:
        for name, members in groups.items():
            s = score(members, views)
            lines.append(f"| **{name}** | {len(members)} | {views} | {s['val']['bal']:.4f} | "
                         f"{s['test']['bal']:.4f} | {s['test']['mel']:.3f} |")
            if best is None or s["val"]["bal"] > best[2]["val"]["bal"]:
                best = (name, views, s)
    text = "\n".join([
        "# Ensemble headroom (issue 10, item 8)", "",
        f"Checkpoints of `{a.run}` at 128 px, on its split's validation ({len(labels['val'])}) and "
        f"test ({len(labels['test'])}) images; an ensemble averages its members' probabilities; "
        "8 views = the dihedral test-time average. Made by `python benchmarks/ensemble_headroom.py`.",
        "", *lines, "",
        f"Best ensemble on validation: {best[0]} with {best[1]} view(s): val {best[2]['val']['bal']:.4f},"
        f" test {best[2]['test']['bal']:.4f}, test melanoma recall {best[2]['test']['mel']:.3f}.", ""])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
