"""Classifier-free guidance sweep: class fidelity and Frechet distance against guidance scale.

    python benchmarks/synth_guidance_sweep.py --run runs/synth_cpu --data ../shared/data/ham10000 \
        --model runs/downstream/real_only_64_s0/best --per-class 40 --guidance 1 2 4 6

Samples N images per class at each scale (same seeds, so the same starting noise), scores each
set with `skinedge synth report`'s measures, and writes guidance_sweep.{json,md,png} to --out.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from skinedge.labels import CLASSES
from skinedge.plots import pyplot, save_figure
from skinedge.synth.quality import quality_report
from skinedge.synth.sample import SampleRequest, sample_dataset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--model", default=None)
    p.add_argument("--per-class", type=int, default=40)
    p.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.0, 4.0, 6.0])
    p.add_argument("--work", default="runs/guidance_sweep", help="sampled sets go here")
    p.add_argument("--out", default="benchmarks/results/synth_cpu/guidance_sweep")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for g in a.guidance:
        folder = Path(a.work) / f"g{g:g}"
        sample_dataset(SampleRequest(run=a.run, out=str(folder), per_class=a.per_class, guidance=g))
        doc = quality_report(folder, a.data, folder / "report", a.model)
        pc = doc["per_class"]
        rows.append({"guidance": g,
                     "fidelity": {c: pc[c]["fidelity"] for c in CLASSES},
                     "fd_at_val_n": {c: pc[c]["fd_synthetic_vs_train_at_val_n"] for c in CLASSES},
                     "fd_val_floor": {c: pc[c]["fd_val_vs_train"] for c in CLASSES},
                     "val_recall": {c: pc[c]["val_recall"] for c in CLASSES},
                     "copies": {c: pc[c]["share_closer_than_val_p1"] for c in CLASSES}})
    (out / "guidance_sweep.json").write_text(json.dumps(rows, indent=1))
    lines = [f"# Guidance sweep ({a.per_class} images per class, {a.run})", "",
             "Fidelity (share classified as their class) / FD at val n, per class; mean fidelity "
             "over classes last.", "",
             "| guidance | " + " | ".join(CLASSES) + " | mean fidelity |",
             "|---:|" + "---|" * len(CLASSES) + "---:|"]
    for r in rows:
        cells = [f"{r['fidelity'][c]:.2f} / {r['fd_at_val_n'][c]:.1f}" for c in CLASSES]
        lines.append(f"| {r['guidance']:g} | " + " | ".join(cells) +
                     f" | {np.mean(list(r['fidelity'].values())):.3f} |")
    floor = rows[0]
    lines.append("| real val | " + " | ".join(f"{floor['val_recall'][c]:.2f} / {floor['fd_val_floor'][c]:.1f}"
                                              for c in CLASSES) +
                 f" | {np.mean(list(floor['val_recall'].values())):.3f} |")
    (out / "guidance_sweep.md").write_text("\n".join(lines) + "\n")
    plt = pyplot()
    fig, (x1, x2) = plt.subplots(1, 2, figsize=(11, 4))
    gs = [r["guidance"] for r in rows]
    for c in CLASSES:
        x1.plot(gs, [r["fidelity"][c] for r in rows], "o-", label=c)
        x2.plot(gs, [r["fd_at_val_n"][c] / max(r["fd_val_floor"][c], 1e-9) for r in rows], "o-", label=c)
    x1.set_xlabel("guidance scale"), x1.set_ylabel("class fidelity"), x1.set_ylim(0, 1), x1.legend(ncol=2)
    x2.set_xlabel("guidance scale"), x2.set_ylabel("FD synthetic / FD real val (1 = as close as real)")
    x2.set_yscale("log"), x2.legend(ncol=2)
    for ax in (x1, x2):
        ax.grid(alpha=0.3)
    save_figure(fig, out / "guidance_sweep.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
