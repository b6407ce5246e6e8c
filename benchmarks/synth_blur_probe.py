"""Does a student trained on real + synthetic images read blur as "rare class"?

The CPU-preset diffusion model generates 64 px images; a 128 px student sees them upsampled,
so blur is a cue that only synthetic images carry, and they are mostly of the rare classes
(none of nv). Probe: score the real test images as they are and blurred the same way
(128 -> 64 -> 128 px, bilinear), with students of arm (a) (real only) and arm (b)
(real + synthetic). If (b) learned the shortcut, blurring moves its predictions away from nv
towards the synthetic-rich classes far more than it moves (a)'s.

Usage: python benchmarks/synth_blur_probe.py [RUN] [--out MD]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def blurred(images: np.ndarray, low: int) -> np.ndarray:
    from PIL import Image

    size = images.shape[1]
    return np.stack([np.asarray(Image.fromarray(im).resize((low, low), Image.BILINEAR)
                                .resize((size, size), Image.BILINEAR)) for im in images])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, nargs="?", default=Path("runs/mae_teacher"))
    p.add_argument("--data", default="../shared/data/ham10000")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/mae_teacher/synth_blur_probe.md"))
    a = p.parse_args()
    import torch

    from skinedge.checkpoint import load_checkpoint
    from skinedge.data import read_ham10000
    from skinedge.data.cache import cached_images
    from skinedge.data.splits import Split
    from skinedge.evaluate import predict_logits
    from skinedge.labels import CLASSES
    from skinedge.metrics import classification_metrics

    split = Split.load(a.run / "pretrain" / "split.json")
    test = read_ham10000(a.data).subset(split.ids("test"))
    sharp = cached_images(test.records, 128, progress=False)
    views = {"as is": sharp, "blurred 128->64->128": blurred(sharp, 64)}
    y = np.asarray(test.labels)
    manifest = json.loads((a.run / "synth_balanced" / "synth_manifest.json").read_text())
    rich = [c for c in CLASSES if manifest["counts"].get(c, 0) > 0]
    lines = ["| run | test images | bal-acc | predicted nv | predicted synthetic-rich classes "
             f"({', '.join(rich)}) |", "|---|---|---|---|---|"]
    shifts: dict[str, list[float]] = {}
    for arm in ("student_plain", "student_synth"):
        for run in sorted(a.run.glob(f"{arm}_s*")):
            if not (run / "metrics.json").is_file():
                continue
            model, _ = load_checkpoint(run / "best")
            nv = []
            for name, imgs in views.items():
                probs = torch.from_numpy(predict_logits(model, imgs, np.arange(len(imgs)), 64)
                                         ).softmax(-1).numpy()
                pred = probs.argmax(1)
                bal = classification_metrics(y, probs, CLASSES)["balanced_accuracy"]
                share_nv = float(np.mean(pred == CLASSES.index("nv")))
                share_rich = float(np.isin(pred, [CLASSES.index(c) for c in rich]).mean())
                nv.append(share_nv)
                lines.append(f"| {run.name} | {name} | {bal:.4f} | {share_nv:.3f} | {share_rich:.3f} |")
            shifts.setdefault(arm, []).append(nv[1] - nv[0])
    true_nv = float(np.mean(y == CLASSES.index("nv")))
    text = "\n".join([
        "# Blur probe: real test images, as they are and blurred like the synthetic ones", "",
        f"`python benchmarks/synth_blur_probe.py` on `{a.run}`: {len(y)} test images "
        f"({true_nv:.3f} of them nv). Synthetic-rich: the classes the rebalanced set holds "
        "images of.", "", *lines, "",
        "Change in the share predicted nv when the real images are blurred, per seed: " +
        "; ".join(f"{arm}: {', '.join(f'{s:+.3f}' for s in v)}" for arm, v in shifts.items()), ""])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
