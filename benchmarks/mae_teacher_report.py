"""Markdown tables and a plot of the runs under a `benchmarks/mae_teacher.sh` /
`benchmarks/ablation.py` folder: per run the best validation balanced accuracy (the selection
criterion) and its test figures; per arm the mean and sample standard deviation over seeds.

Usage: python benchmarks/mae_teacher_report.py RUN [--plot PNG] [--bench BENCH_JSON] [--views-cache DIR]
  RUN: a live run folder (runs/mae_teacher) or the committed copy benchmarks/results/mae_teacher.
  --bench: a `skinedge bench` JSON whose rows give the int8 .pte latency column (batch 1).
  --views-cache: the probabilities `benchmarks/ensemble_headroom.py --views 8` cached per run
    (RUN_v8.npz): each adds a row "ARM_tta8", the same checkpoint with the 8-view average in
    the graph (item 8), scored on the same val/test images.
"""
from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
from pathlib import Path

# The arm letters (issue 10, item 6) for each run-name prefix.
ARMS = {"student_plain": ("(a)", "student, no teacher"),
        "student_synth": ("(b)", "(a) + synthetic"),
        "teacher_scratch": ("(c)", "ViT-Ti teacher from scratch"),
        "teacher_mae": ("(d)", "ViT-Ti teacher, MAE on real"),
        "teacher_maesynth": ("(e)", "ViT-Ti teacher, MAE on real + synthetic"),
        "student_kd": ("(f)", "student distilled from (d)"),
        "student_kd224": ("(f)224", "(f) at 224 px"),
        "student_kd30": ("(f)30", "(f) for 30 epochs, taught by (d) seed 1"),
        "student_kdens": ("(f)ens", "(f) from the three (d) teachers as an ensemble"),
        "student_kdlabels": ("(f')", "(f) from (d)'s cached logits, 8 fixed views"),
        "student_kdsynth": ("(g)", "(f) + synthetic"),
        "student_kdcnn": ("ctrl", "(f) with a supervised CNN teacher"),
        "student_res224": ("res", "(a) at 224 px instead of 128"),
        "student_plain_tta8": ("(a)x8", "(a), 8-view average in the graph"),
        "student_kd_tta8": ("(f)x8", "(f), 8-view average in the graph")}
METRICS = [("val_bal", "val bal-acc"), ("test_bal", "test bal-acc"), ("f1", "macro-F1"),
           ("auc", "AUC"), ("mel", "mel recall")]


def rows(root: Path) -> list[dict]:
    """One row per run folder under ROOT with a metrics.json: a live run (runs/mae_teacher,
    its card in best/) or the committed copy that sync_results.sh keeps (card.json beside the
    metrics, or, for copies made before cards were kept, the architecture and size from
    config.json and the FLOPs counted again). Plus the 8-view rows kept as RUN/tta8.json."""
    out = []
    for m in sorted(root.glob("*/metrics.json")):
        doc = json.loads(m.read_text())
        t, v = doc["test"], doc["val"]
        arch, size, flops = card_facts(m.parent)
        out.append({"run": m.parent.name, "arm": re.sub(r"_s\d+$", "", m.parent.name),
                    "arch": arch, "size": size, "gflops": flops / 1e9,
                    "epochs": len(doc["history"]), "val_bal": v["balanced_accuracy"],
                    "test_bal": t["balanced_accuracy"], "f1": t["macro_f1"], "auc": t["auc_ovr"],
                    "mel": t["per_class"]["mel"]["recall"], "n": t["n"], "views": 1})
    for f in sorted(root.glob("*/tta8.json")):
        base = next((r for r in out if r["run"] == f.parent.name), None)
        if base is not None:
            out.append({**base, **{k: v for k, v in json.loads(f.read_text()).items() if k in ROW_KEYS},
                        "run": f"{base['run']}_tta8", "arm": f"{base['arm']}_tta8",
                        "gflops": 8 * base["gflops"], "views": 8})
    return out


ROW_KEYS = ("val_bal", "test_bal", "f1", "auc", "mel", "n")


def card_of(folder: Path) -> dict | None:
    """The card of a run's best checkpoint: in best/ (a live run) or beside the metrics (the
    committed copy); None for copies made before cards were kept."""
    card = next((c for c in (folder / "best" / "card.json", folder / "card.json") if c.is_file()), None)
    return json.loads(card.read_text()) if card else None


def card_facts(folder: Path) -> tuple[str, int, int]:
    """(architecture, input size, FLOPs) of a run's best checkpoint."""
    c = card_of(folder)
    if c is not None:
        return c["architecture"], c["input_size"], c["flops"]
    cfg = json.loads((folder / "config.json").read_text())
    arch = cfg.get("model") or cfg.get("student") or cfg["arch"]
    return arch, cfg["img_size"], counted_flops(arch, cfg["img_size"])


@functools.lru_cache(maxsize=None)
def counted_flops(arch: str, size: int) -> int:
    from skinedge.models.build import create_model
    from skinedge.models.classifier import count_flops

    return count_flops(create_model(arch, size, (0.5,) * 3, (0.5,) * 3), size)


def view_rows(root: Path, rs: list[dict], cache: Path, data: str) -> list[dict]:
    """A row per run whose 8-view probabilities are cached: its figures with the dihedral
    average, the best checkpoint unchanged (8x its FLOPs). Each is also written to
    ROOT/RUN/tta8.json, so the committed results rebuild the row without the cache."""
    import numpy as np

    from skinedge.data import read_ham10000
    from skinedge.data.splits import Split
    from skinedge.labels import CLASSES
    from skinedge.metrics import classification_metrics

    found = [(r, cache / f"{r['run']}_v8.npz") for r in rs if r["views"] == 1]
    found = [(r, f) for r, f in found if f.is_file()]
    if not found:
        return []
    ds = read_ham10000(data)
    split = Split.load(root / "pretrain" / "split.json")
    labels = {s: np.asarray(ds.subset(split.ids(s)).labels) for s in ("val", "test")}
    out = []
    for r, f in found:
        probs = np.load(f)
        card = card_of(root / r["run"])
        if card is None or str(probs["sha256"]) != card["artifact_sha256"]:
            continue  # probabilities of another checkpoint of that name (or of unknown weights)
        v, t = (classification_metrics(labels[s], probs[s], CLASSES) for s in ("val", "test"))
        row = {"val_bal": v["balanced_accuracy"], "test_bal": t["balanced_accuracy"],
               "f1": t["macro_f1"], "auc": t["auc_ovr"], "mel": t["per_class"]["mel"]["recall"],
               "n": t["n"]}
        (root / r["run"] / "tta8.json").write_text(json.dumps(
            {**row, "source": f"8-view probabilities {f.name} of the checkpoint with sha256 "
             f"{str(probs['sha256'])}"}, indent=2) + "\n")
        out.append({**r, **row, "run": f"{r['run']}_tta8", "arm": f"{r['arm']}_tta8",
                    "gflops": 8 * r["gflops"], "views": 8})
    return out


def mean_sd(xs: list[float], digits: int = 4) -> str:
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    return f"{statistics.mean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f}"


def arm_cells(sel: list[dict], latency: dict[tuple, float], digits: int) -> str:
    """One arm's seeds, metric cells (mean ± SD), GFLOPs and int8 .pte latency: "n | ... |"."""
    lat = latency.get((sel[0]["arch"], sel[0]["size"], sel[0]["views"]))
    return (f"{len(sel)} | " + " | ".join(mean_sd([r[k] for r in sel], digits) for k, _ in METRICS)
            + f" | {sel[0]['gflops']:.3f} | {f'{lat:.2f}' if lat else '-'} |")


def pte_latency(bench: Path | None) -> dict[tuple, float]:
    """(architecture, input size, views) -> median batch-1 latency (ms) of its int8 .pte in a
    `skinedge bench` JSON (views 8: the `executorch-int8-tta8` recipe's artifact)."""
    if bench is None:
        return {}
    out = {}
    for r in json.loads(bench.read_text())["rows"]:
        path = r.get("path", "")
        if r.get("status") == "ok" and r.get("kind") == "artifact" and path.endswith(
                ("_int8.pte", "_int8_tta8.pte")):
            lat = r["latency_ms"].get("1") or next(iter(r["latency_ms"].values()))
            views = 8 if path.endswith("_tta8.pte") else 1
            out[(r["architecture"], r["input_size"], views)] = lat["median"]
    return out


def arm_table(rs: list[dict], latency: dict[tuple, float]) -> list[str]:
    lines = ["| arm | runs | what | seeds | " + " | ".join(h for _, h in METRICS) +
             " | GFLOPs | int8 .pte ms |", "|---|---|---|" + "---|" * (len(METRICS) + 3)]
    order = list(ARMS)
    for a in sorted({r["arm"] for r in rs}, key=lambda a: (order.index(a) if a in order else 99, a)):
        sel = [r for r in rs if r["arm"] == a]
        letter, what = ARMS.get(a, ("-", "-"))
        lines.append(f"| {letter} | {a} | {what} | {arm_cells(sel, latency, 4)}")
    return lines


# The README's table: its rows in this order, each arm described for a reader of the README.
README_ROWS = [("student_plain", "(a) student, no teacher"),
               ("student_synth", "(b) (a) + synthetic images"),
               ("student_kd", "(f) student distilled from the MAE ViT teacher (d)"),
               ("student_kdsynth", "(g) (f) + synthetic images"),
               ("student_kdcnn", "control: (f) from a supervised CNN teacher (the shipped model)"),
               ("student_kd224", "(f) at 224 px"),
               ("student_kdens", "(f) from an ensemble of the three (d) teachers"),
               ("student_kdlabels", "(f') as (f), from the teacher's cached logits (8 fixed views)"),
               ("student_res224", "resolution: (a) at 224 px"),
               ("student_plain_tta8", "(a) with the 8-view average in the graph"),
               ("student_kd_tta8", "(f) with the 8-view average in the graph"),
               ("teacher_mae", "(d) teacher: ViT-Ti from the MAE encoder (real)"),
               ("teacher_maesynth", "(e) teacher: ViT-Ti from MAE on real + synthetic"),
               ("teacher_scratch", "(c) teacher: ViT-Ti from scratch")]


def readme_table(rs: list[dict], latency: dict[tuple, float]) -> list[str]:
    """The arms as the README shows them: 3 decimals, mean ± sample SD over seeds."""
    lines = ["| arm | seeds | val bal-acc | test bal-acc | macro-F1 | AUC | melanoma recall "
             "| GFLOPs | int8 .pte ms |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for arm, what in README_ROWS:
        sel = [r for r in rs if r["arm"] == arm]
        if sel:
            lines.append(f"| {what} | {arm_cells(sel, latency, 3)}")
    return lines


def plot(rs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = sorted({r["arm"] for r in rs})
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.5 * len(arms) + 1.8), sharey=True)
    for ax, (k, title) in zip(axes, [("val_bal", "val balanced accuracy (selects)"),
                                     ("test_bal", "test balanced accuracy (reports)"),
                                     ("mel", "test melanoma recall")]):
        for y, a in enumerate(arms):
            xs = [r[k] for r in rs if r["arm"] == a]
            ax.scatter(xs, [y] * len(xs), color="tab:blue", alpha=0.7)
            ax.plot([sum(xs) / len(xs)] * 2, [y - 0.3, y + 0.3], color="black")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(arms)), arms)
    fig.suptitle("one dot per seed, bar = mean (lesion-disjoint split, development data)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--plot", type=Path)
    p.add_argument("--bench", type=Path)
    p.add_argument("--readme", action="store_true", help="print only the README's table")
    p.add_argument("--views-cache", type=Path, help="8-view probabilities per run "
                   "(benchmarks/ensemble_headroom.py --views 8): adds the ARM_tta8 rows")
    p.add_argument("--data", default="../shared/data/ham10000", help="for --views-cache's labels")
    a = p.parse_args()
    rs = rows(a.run)
    if a.views_cache:
        fresh = view_rows(a.run, rs, a.views_cache, a.data)
        rs = [r for r in rs if r["run"] not in {f["run"] for f in fresh}] + fresh
    if a.readme:
        print("\n".join(readme_table(rs, pte_latency(a.bench))))
        return
    print("| run | epochs | val bal-acc (best) | test bal-acc | macro-F1 | AUC | mel recall | n |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rs:
        print(f"| {r['run']} | {r['epochs']} | {r['val_bal']:.4f} | {r['test_bal']:.4f} | "
              f"{r['f1']:.4f} | {r['auc']:.4f} | {r['mel']:.3f} | {r['n']} |")
    print("\nMean ± sample standard deviation over seeds:\n")
    print("\n".join(arm_table(rs, pte_latency(a.bench))))
    pre = next((f for f in (a.run / "pretrain" / "last" / "trainer_state.json",
                            a.run / "pretrain" / "trainer_state.json") if f.is_file()), None)
    if pre is not None:
        st = json.loads(pre.read_text())
        print(f"\nMAE: {st['epoch']} epochs, best val masked-patch loss {st['best']:.4f}")
    if a.plot:
        plot(rs, a.plot)


if __name__ == "__main__":
    main()
