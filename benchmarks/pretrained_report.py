"""Issue 23's table, built from the committed results alone (benchmarks/results/pretrained/):
mean ± sample SD over seeds per arm, beside the from-scratch references, and the plot of
balanced accuracy against int8 .pte latency.

Per run folder NAME_sSEED: metrics.json (training: best epoch by val, its test split),
card.json, eval_fp32.json / eval_int8.json (`skinedge eval --json` of the calibrated
checkpoint and of its int8 .pte on the test split: the referral operating point, int8's change).
Latency comes from one `skinedge bench` JSON (latency.json), every artifact measured in the same
run, each in its own process.

Usage: python benchmarks/pretrained_report.py [DIR] [--plot FILE]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

# From-scratch references kept by the earlier ablation (benchmarks/results/mae_teacher).
REFERENCES = {
    "student_plain": ("mobilenetv4_conv_small from scratch, 10 epochs (arm (a))",
                      Path("benchmarks/results/mae_teacher")),
}
WHAT = {
    "shipped_mnv4_128": "the shipped model: mobilenetv4_conv_small from scratch, 60 epochs",
    "lite0_128": "efficientnet_lite0 ImageNet, 128 px",
    "lite0_160": "efficientnet_lite0 ImageNet, 160 px",
    "lite0_192": "efficientnet_lite0 ImageNet, 192 px",
    "lite0_128_bal": "lite0_128 with a fully balanced sampler instead of sqrt balancing",
    "lite2_260": "efficientnet_lite2 ImageNet, 260 px (teacher)",
    "kd_lite0_128": "lite0 128 px distilled from the lite0_128 ensemble",
    "kd_mnv4_128": "mobilenetv4 from scratch distilled from the lite0_128 ensemble",
}
COLUMNS = ("val bal-acc", "test bal-acc", "macro-F1", "mel recall", "AUC", "malignant AUROC",
           "sens @ referral", "spec @ referral", "referred", "int8 Δ bal-acc")


def read(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def figures(folder: Path) -> dict:
    """One run's figures (None where a file is missing)."""
    m = read(folder / "metrics.json") or {}
    fp32, int8 = read(folder / "eval_fp32.json"), read(folder / "eval_int8.json")
    card = read(folder / "card.json") or {}
    test = m.get("test") or (fp32 or {})
    trust = ((fp32 or {}).get("trust") or {}).get("figures") or {}
    out = {"val bal-acc": (m.get("val") or {}).get("balanced_accuracy"),
           "test bal-acc": test.get("balanced_accuracy"), "macro-F1": test.get("macro_f1"),
           "mel recall": ((test.get("per_class") or {}).get("mel") or {}).get("recall"),
           "AUC": test.get("auc_ovr"), "malignant AUROC": trust.get("malignant/auroc"),
           "sens @ referral": trust.get("malignant/threshold_sensitivity"),
           "spec @ referral": trust.get("malignant/threshold_specificity"),
           "referred": trust.get("malignant/threshold_referred"),
           "int8 Δ bal-acc": (int8["balanced_accuracy"] - fp32["balanced_accuracy"])
           if int8 and fp32 else None,
           "gflops": card.get("flops", 0) / 1e9 or None,
           "epochs": (m.get("config") or {}).get("epochs")}
    return out


def arms(root: Path) -> dict[str, list[tuple[str, dict]]]:
    """Arm name -> [(run, figures)], seeds in order; the references first."""
    out: dict[str, list] = {}
    for arm, (_, where) in REFERENCES.items():
        runs = sorted(where.glob(f"{arm}_s[0-9]*"))
        out[arm] = [(r.name, figures(r)) for r in runs if (r / "metrics.json").is_file()]
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        arm = re.sub(r"_s\d+$", "", folder.name)
        if (folder / "metrics.json").is_file() or (folder / "eval_fp32.json").is_file():
            out.setdefault(arm, []).append((folder.name, figures(folder)))
    return {a: r for a, r in out.items() if r}


def mean_sd(values: list) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.3f}"
    return f"{statistics.mean(vals):.3f} ± {statistics.stdev(vals):.3f}"


def latencies(bench: dict | None) -> dict[str, dict[str, float]]:
    """Run folder name -> {"int8 .pte ms", "onnx fp32 ms"} at batch 1 (median)."""
    out: dict[str, dict] = {}
    for row in (bench or {}).get("rows", []):
        if row.get("status") != "ok" or row.get("kind") != "artifact":
            continue
        quant = str(row.get("quantization", "")).split("-")[0]  # "int8-static" -> "int8"
        key = {("executorch", "int8"): "int8 .pte ms", ("onnx", "fp32"): "onnx fp32 ms"}.get(
            (row.get("target"), quant))
        run = next((p for p in Path(row["path"]).parts if re.search(r"_s\d+$|^shipped", p)), None)
        if key and run:
            out.setdefault(run, {})[key] = row["latency_ms"]["1"]["median"]
    return out


def table(root: Path) -> tuple[str, list]:
    lat = latencies(read(root / "latency.json"))
    head = ["arm", "what", "seeds", "epochs", *COLUMNS, "GFLOPs", "int8 .pte ms", "onnx fp32 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    points = []
    for arm, runs in arms(root).items():
        f = [r[1] for r in runs]
        ms = [lat.get(name, {}) for name, _ in runs]
        what = WHAT.get(arm) or REFERENCES.get(arm, ("",))[0]
        pte = [m.get("int8 .pte ms") for m in ms]
        cells = [arm, what, str(len(runs)), str(f[0]["epochs"] or "-"),
                 *(mean_sd([x[c] for x in f]) for c in COLUMNS),
                 mean_sd([x["gflops"] for x in f]), mean_sd(pte),
                 mean_sd([m.get("onnx fp32 ms") for m in ms])]
        lines.append("| " + " | ".join(cells) + " |")
        accs = [x["test bal-acc"] for x in f if x["test bal-acc"] is not None]
        known = [p for p in pte if p is not None]
        if accs and known:
            points.append((arm, statistics.mean(known), statistics.mean(accs),
                           statistics.stdev(accs) if len(accs) > 1 else 0.0))
    return "\n".join(lines), points


def plot(points: list, path: Path) -> None:
    from skinedge.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm, ms, acc, sd in points:
        ax.errorbar(ms, acc, yerr=sd, fmt="o", capsize=3)
        ax.annotate(arm, (ms, acc), textcoords="offset points", xytext=(5, 5), fontsize=8)
    front, best = [], -1.0
    for arm, ms, acc, _ in sorted(points, key=lambda p: p[1]):
        if acc > best:
            front.append((ms, acc))
            best = acc
    if front:
        ax.plot(*zip(*front), "--", color="grey", label="Pareto front")
        ax.legend()
    ax.set_xlabel("int8 .pte latency, batch 1, ms (this host)")
    ax.set_ylabel("test balanced accuracy (mean ± SD over seeds)")
    ax.set_title("Accuracy against phone-format latency")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def main(root: Path = Path("benchmarks/results/pretrained"), plot_to: Path | None = None) -> None:
    text, points = table(root)
    print(text)
    target = plot_to or root / "pareto.png"
    if points:
        plot(points, target)
        print(f"\nplot: {target}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("root", nargs="?", type=Path, default=Path("benchmarks/results/pretrained"))
    p.add_argument("--plot", type=Path, default=None)
    a = p.parse_args()
    main(a.root, a.plot)
