"""Issue 10, item 5: does keying augmentation by the image (the old behaviour: a rare image
drawn ten times in an epoch by the class-balanced sampler got ten identical views) explain the
training-loss rise at the end of the shipped model's 60-epoch run (0.944 at epoch 37 -> 1.126
at epoch 60 while the learning rate fell)?

Trains the shipped recipe with the augmentation keyed the old way (by image) or the current
way (by draw); everything else identical. The old keying exists only here, as a patch of
``CachedImages.__getitem__`` in this process. Compare the train-loss curves:

  python benchmarks/aug_keying.py --keying image --out runs/keying/image_s0 [train flags]
  python benchmarks/aug_keying.py --keying draw  --out runs/keying/draw_s0  [train flags]
  python benchmarks/aug_keying.py --report runs/keying    # table + plot of the curves
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def patch_keying_by_image() -> None:
    import numpy as np
    import torch

    from skinedge.data import batches
    from skinedge.data.augment import augment, sample_generator

    def getitem(self, d: int):
        j = int(self.indices[self.order[d]])
        img = torch.from_numpy(np.array(self.images[j])).permute(2, 0, 1)
        if self.augment_cfg is not None:  # keyed by the image j: every draw of j looks the same
            img = augment(img, self.augment_cfg, sample_generator(self.seed, self.epoch, j))
        return img.float().div_(255.0), int(self.labels[j]), j

    batches.CachedImages.__getitem__ = getitem


def report(root: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    print("| run | train loss min (epoch) | train loss last | rise | val bal-acc best | test bal-acc |")
    print("|---|---|---|---|---|---|")
    per_keying: dict[str, list[tuple[float, float, float]]] = {}
    for m in sorted(root.glob("*/metrics.json")):
        doc = json.loads(m.read_text())
        loss = [h["train_loss"] for h in doc["history"]]
        lo = min(range(len(loss)), key=loss.__getitem__)
        print(f"| {m.parent.name} | {loss[lo]:.3f} ({lo + 1}) | {loss[-1]:.3f} | "
              f"{loss[-1] - loss[lo]:+.3f} | {doc['val']['balanced_accuracy']:.4f} | "
              f"{doc['test']['balanced_accuracy']:.4f} |")
        keying = "draw" if "_draw_" in m.parent.name else "image"
        per_keying.setdefault(keying, []).append(
            (loss[-1] - loss[lo], doc["val"]["balanced_accuracy"], doc["test"]["balanced_accuracy"]))
        style = "-" if keying == "draw" else "--"
        ax[0].plot(range(1, len(loss) + 1), loss, style, label=m.parent.name)
        ax[1].plot([h["val_balanced_accuracy"] for h in doc["history"]], style, label=m.parent.name)
    print("\nMean ± sample SD over seeds (solid lines: keyed by draw; dashed: by image):\n")
    print("| keyed by | seeds | loss rise after its minimum | val bal-acc best | test bal-acc |")
    print("|---|---|---|---|---|")
    for keying, xs in sorted(per_keying.items()):
        cells = [f"{statistics.mean(c):.4f}" + (f" ± {statistics.stdev(c):.4f}" if len(c) > 1 else "")
                 for c in zip(*xs)]
        print(f"| {keying} | {len(xs)} | " + " | ".join(cells) + " |")
    ax[0].set(title="train loss (label smoothing 0.1)", xlabel="epoch")
    ax[1].set(title="val balanced accuracy", xlabel="epoch")
    ax[0].legend()
    fig.tight_layout()
    fig.savefig(root / "keying_curves.png", dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--keying", choices=("image", "draw"))
    p.add_argument("--report", type=Path, metavar="ROOT")
    a, rest = p.parse_known_args()
    if a.report:
        return report(a.report)
    if a.keying is None:
        p.error("--keying image|draw (or --report ROOT)")
    if a.keying == "image":
        patch_keying_by_image()
    from skinedge.cli import main as cli

    sys.exit(cli(["train", *rest]))


if __name__ == "__main__":
    main()
