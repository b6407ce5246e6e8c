"""What eval reports beyond accuracy, and how the trust fields get into a model card.

``trust_report`` scores calibrated probabilities: ECE before/after calibration (top label and
malignant score), the operating-point table of the malignant and melanoma tasks, and 95%
intervals for every figure from a bootstrap over whole lesions. ``calibrate_checkpoint``
fits the card's ``calibration``, ``referral`` and ``gate`` fields on a checkpoint's validation
split and writes a new checkpoint (the weights' bytes copied, the card re-sealed).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .calibration import apply_card, fit_calibration, reliability
from .clinical import (SENSITIVITY, TASKS, bootstrap, intended_use, operating_points,
                       referral_field, task_score, task_truth)
from .errors import ConfigError, DataError

BOOTSTRAP = 1000


def _log(probs: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(probs, dtype=np.float64))


def _figures(raw: np.ndarray, cal: np.ndarray, y: np.ndarray, labels: Sequence[str],
             referral: Mapping) -> dict[str, float]:
    """Every scalar the report gives an interval for, flat: ``ece_before``, ``malignant/auroc``..."""
    from .metrics import classification_metrics

    m = classification_metrics(y, raw, labels)
    out = {k: m[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "auc_ovr")}
    out.update({f"recall/{c}": v["recall"] for c, v in m["per_class"].items() if v["support"]})
    for tag, p in (("before", raw), ("after", cal)):
        out[f"ece_{tag}"] = reliability(p.max(1), p.argmax(1) == y)["ece"]
        mal, s = task_truth(y, labels, TASKS["malignant"]), task_score(p, labels, TASKS["malignant"])
        out[f"malignant_ece_{tag}"] = reliability(s, mal)["ece"]
    for task, positives in TASKS.items():
        t = referral.get("tasks", {}).get(task, {}).get("threshold")
        ops = operating_points(task_truth(y, labels, positives), task_score(cal, labels, positives), t)
        out.update({f"{task}/{k}": v for k, v in ops.items()})
    return out


def trust_report(raw: np.ndarray, y: np.ndarray, lesions: Sequence[str], card,
                 labels: Sequence[str], n_boot: int = BOOTSTRAP, seed: int = 0) -> dict:
    """raw: the model's softmax [N, K] in ``labels`` order (the data's); y: [N] indices into
    ``labels``; lesions: [N] lesion ids. The card's calibration and referral threshold apply."""
    y = np.asarray(y)
    cal = apply_card(_log(raw), card.calibration)
    figures = _figures(raw, cal, y, labels, card.referral)
    report = {
        "calibrated": bool(card.calibration),
        "calibration": dict(card.calibration) or None,
        "figures": figures,
        "reliability": {tag: reliability(p.max(1), p.argmax(1) == y)
                        for tag, p in (("before", raw), ("after", cal))},
        "referral": dict(card.referral) or None,
    }
    if n_boot > 0:
        report["intervals"] = bootstrap(
            lambda i: _figures(raw[i], cal[i], y[i], labels, card.referral), lesions, n_boot, seed)
        report["bootstrap"] = {"resamples": n_boot, "unit": "lesion", "level": 0.95,
                               "lesions": len(set(lesions)), "seed": seed}
    return report


def plot_reliability(report: dict, path: Path, title: str = "") -> None:
    """Reliability diagram (top-label accuracy against confidence), before and after."""
    from .plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    for tag, r in report["reliability"].items():
        pts = [(c, a) for c, a in zip(r["confidence"], r["accuracy"]) if c is not None]
        ece = report["figures"][f"ece_{tag}"]
        ax.plot(*zip(*pts), marker="o", label=f"{tag} calibration (ECE {ece:.3f})")
    ax.set_xlabel("confidence (top-label probability)"), ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1), ax.grid(alpha=0.3), ax.legend(loc="upper left")
    ax.set_title(title)
    save_figure(fig, path)


def format_report(t: dict) -> list[str]:
    """Text lines of a trust report for ``skinedge eval``."""
    f, iv = t["figures"], t.get("intervals", {})

    def fig(key: str) -> str:
        lo_hi = iv.get(key)
        return f"{f[key]:.3f}" + (f" [{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else "")

    cal = t["calibration"]
    lines = [f"  calibration: {'T=%.3f + prior correction' % cal['temperature'] if cal else 'none (uncalibrated card)'}",
             f"  ECE (15 bins) top label: before {fig('ece_before')}  after {fig('ece_after')}",
             f"  ECE malignant score:     before {fig('malignant_ece_before')}  after "
             f"{fig('malignant_ece_after')}"]
    cols = ("auroc", "sens_at_spec80", "sens_at_spec90", "sens_at_spec95", "spec_at_sens95",
            "pauc_above_tpr80")
    for task in TASKS:
        lines.append(f"  {task}: " + "  ".join(f"{c} {fig(f'{task}/{c}')}" for c in cols))
        if f"{task}/threshold_sensitivity" in f:
            thr = t["referral"]["tasks"][task]["threshold"]
            lines.append(f"    at the card's threshold {thr:.4f}: sensitivity "
                         f"{fig(f'{task}/threshold_sensitivity')}  specificity "
                         f"{fig(f'{task}/threshold_specificity')}  referred "
                         f"{fig(f'{task}/threshold_referred')}")
    g = t.get("gate")
    if g:
        lines.append(f"  input gate: rejects {g['lesions']['rejected']:.1%} of these lesions; "
                     f"OOD-score AUROC against them {g['ood_auroc_all']:.3f} (" + ", ".join(
                         f"{k} {g[k]['ood_auroc']:.3f}, n={g[k]['n']}, rejected "
                         f"{g[k]['rejected']:.0%}" for k in ("bundled_photos", "generated",
                                                             "corrupted_lesions")) + ")")
    if iv:
        b = t["bootstrap"]
        lines.append(f"  [95% intervals: {b['resamples']} bootstrap resamples of {b['lesions']} "
                     "whole lesions]")
    return lines
