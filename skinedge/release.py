"""Turn a training run's best checkpoint into the model that ships in the package.

    python -m skinedge.release --run runs/default --data ../shared/data/ham10000

Weights are stored as float16 safetensors (half the size; outputs checked below), the
run's split.json travels with them, and the card's test metrics are recomputed for the
shipped fp16 weights on the run's lesion-disjoint test split. Calibration, the referral
thresholds and the input gate are then fitted on the run's validation split
(``skinedge calibrate``, weights untouched). The card is written with its integrity hash over
itself and the weights (checked on every load), and read back to prove it.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from .calibrate import calibrate_checkpoint
from .layout import DEFAULT_MODEL
from .checkpoint import load_checkpoint, save_checkpoint
from .errors import CheckpointError
from .evaluate import evaluate


def release(run: Path, data: Path, dest: Path = DEFAULT_MODEL) -> dict:
    model, card = load_checkpoint(run / "best")
    split = json.loads((run / "best" / "split.json").read_text())
    tmp = dest.with_name(dest.name + ".staging")
    shutil.rmtree(tmp, ignore_errors=True)
    save_checkpoint(tmp, model, card, dtype=torch.float16, extra_json={"split.json": split})
    test16 = evaluate(tmp, data, "test", plot=None, progress=True)
    keep = ("n", "accuracy", "balanced_accuracy", "macro_f1", "auc_ovr", "per_class",
            "confusion_matrix", "labels")
    metrics = {**card.metrics, "test_fp32": card.metrics.get("test"),
               "test": {k: test16[k] for k in keep}}
    save_checkpoint(dest, model, card.with_(metrics=metrics), dtype=torch.float16,
                    extra_json={"split.json": split})
    shutil.rmtree(tmp, ignore_errors=True)
    calibrate_checkpoint(dest, data, dest, progress=True)
    if not load_checkpoint(dest)[1].integrity_sha256:  # load_checkpoint verifies the hash
        raise CheckpointError(f"{dest}: the shipped card lacks its integrity hash")
    return metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="the data the run trained on")
    ap.add_argument("--dest", type=Path, default=DEFAULT_MODEL)
    a = ap.parse_args()
    m = release(a.run, a.data, a.dest)
    t, t32 = m["test"], m["test_fp32"] or {}
    print(f"shipped {a.dest}: test balanced accuracy {t['balanced_accuracy']:.4f} (fp16) vs "
          f"{t32.get('balanced_accuracy', float('nan')):.4f} (fp32), macro-F1 {t['macro_f1']:.4f}, "
          f"n={t['n']}")


if __name__ == "__main__":
    main()
