"""Figures a clinician reads: referral scores, operating points, partial AUC, and bootstrap
intervals that resample whole lesions.

Two binary tasks are scored from a model's (calibrated) class probabilities: *malignant*
(akiec + bcc + mel against the rest) and *melanoma* (mel against the rest). For each:
AUROC, sensitivity at 80/90/95% specificity, specificity at 95% sensitivity, and the partial
AUC above 80% sensitivity as ISIC 2024 defines it (area of the ROC curve above TPR = 0.8,
from 0 to 0.2). A referral threshold is chosen on the validation split for a target
sensitivity and stored in the model card.

Pure numpy. ``y`` is bool [N] (positive = refer), ``score`` float [N], higher = more likely.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from .errors import ConfigError

MALIGNANT = ("akiec", "bcc", "mel")
MELANOMA = ("mel",)
TASKS = {"malignant": MALIGNANT, "melanoma": MELANOMA}
SPECIFICITIES = (0.80, 0.90, 0.95)
SENSITIVITY = 0.95  # the default target of the referral threshold
PAUC_MIN_TPR = 0.80


def task_score(probs: np.ndarray, labels: Sequence[str], positives: Sequence[str]) -> np.ndarray:
    """Sum of the ``positives`` columns of probabilities [N, K] (model's label order)."""
    missing = [c for c in positives if c not in labels]
    if missing:
        raise ConfigError(f"the model has no class {', '.join(missing)}: its labels are "
                          f"{', '.join(labels)}")
    return np.asarray(probs, dtype=np.float64)[:, [list(labels).index(c) for c in positives]].sum(1)


def task_truth(y: np.ndarray, labels: Sequence[str], positives: Sequence[str]) -> np.ndarray:
    """bool [N]: class indices ``y`` (in ``labels`` order) that belong to ``positives``."""
    return np.isin(np.asarray(y), [list(labels).index(c) for c in positives])


def roc_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), one point per distinct score (``score >= t`` is positive), from
    (0, 0) at +inf to (1, 1): the points scikit-learn's roc_curve gives without dropping any."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    n_pos, n_neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return (np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos], np.r_[np.inf, s[last]])


def _defined(y: np.ndarray) -> bool:
    y = np.asarray(y, dtype=bool)
    return bool(y.any()) and bool((~y).any())


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    if not _defined(y):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.trapezoid(tpr, fpr))


def sensitivity_at_specificity(y, score, specificity: float) -> float:
    """Highest TPR at a threshold whose specificity is at least ``specificity``."""
    if not _defined(y):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, score)
    return float(tpr[fpr <= 1 - specificity + 1e-12].max())


def specificity_at_sensitivity(y, score, sensitivity: float) -> float:
    """Highest specificity at a threshold whose TPR is at least ``sensitivity``."""
    if not _defined(y):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, score)
    return float(1 - fpr[tpr >= sensitivity - 1e-12].min())


def partial_auc(y, score, min_tpr: float = PAUC_MIN_TPR) -> float:
    """ISIC 2024's pAUC: the area under the ROC curve and above TPR = ``min_tpr`` (range 0 to
    1 - min_tpr), the curve linearly interpolated between its points."""
    if not _defined(y):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, score)
    # Cut each segment where it crosses TPR = min_tpr so the area above the line is exact.
    xs, ys = [fpr[0]], [tpr[0]]
    for i in range(1, len(fpr)):
        t0, t1 = tpr[i - 1], tpr[i]
        if (t0 - min_tpr) * (t1 - min_tpr) < 0:
            xs.append(fpr[i - 1] + (min_tpr - t0) / (t1 - t0) * (fpr[i] - fpr[i - 1]))
            ys.append(min_tpr)
        xs.append(fpr[i])
        ys.append(tpr[i])
    return float(np.trapezoid(np.maximum(np.array(ys) - min_tpr, 0.0), np.array(xs)))


def threshold_for_sensitivity(y, score, sensitivity: float = SENSITIVITY) -> float:
    """The highest threshold t with sensitivity(score >= t) >= ``sensitivity`` on (y, score):
    the k-th highest positive score, k = ceil(sensitivity * positives)."""
    if not 0 < sensitivity < 1:
        raise ConfigError(f"target sensitivity {sensitivity:g}: must be between 0 and 1 (exclusive)")
    pos = np.sort(np.asarray(score, dtype=np.float64)[np.asarray(y, dtype=bool)])[::-1]
    if not len(pos):
        raise ConfigError("no positive (malignant) images to choose a referral threshold on")
    k = math.ceil(sensitivity * len(pos) - 1e-9)
    return float(pos[k - 1])


def at_threshold(y, score, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity and the share referred when ``score >= threshold`` refers."""
    y, refer = np.asarray(y, dtype=bool), np.asarray(score) >= threshold
    nan = float("nan")
    return {"sensitivity": float(refer[y].mean()) if y.any() else nan,
            "specificity": float((~refer[~y]).mean()) if (~y).any() else nan,
            "referred": float(refer.mean()) if len(y) else nan}


def operating_points(y, score, threshold: float | None = None) -> dict[str, float]:
    """The operating-point table of one task (keys flat, values floats; NaN where undefined)."""
    out = {"auroc": auroc(y, score)}
    for s in SPECIFICITIES:
        out[f"sens_at_spec{round(s * 100)}"] = sensitivity_at_specificity(y, score, s)
    out["spec_at_sens95"] = specificity_at_sensitivity(y, score, 0.95)
    out["pauc_above_tpr80"] = partial_auc(y, score)
    if threshold is not None:
        out.update({f"threshold_{k}": v for k, v in at_threshold(y, score, threshold).items()})
    return out


def referral_field(probs: np.ndarray, y: np.ndarray, labels: Sequence[str],
                   sensitivity: float = SENSITIVITY) -> dict:
    """The card's ``referral`` field from validation probabilities [N, K] and classes [N]."""
    out = {"target_sensitivity": sensitivity, "score": "malignant", "tasks": {}}
    for task, positives in TASKS.items():
        truth, s = task_truth(y, labels, positives), task_score(probs, labels, positives)
        t = threshold_for_sensitivity(truth, s, sensitivity)
        got = at_threshold(truth, s, t)
        out["tasks"][task] = {"labels": list(positives), "threshold": round(t, 6),
                              "val_sensitivity": round(got["sensitivity"], 4),
                              "val_specificity": round(got["specificity"], 4),
                              "val_positives": int(truth.sum())}
    return out


def default_malignant(labels: Sequence[str]) -> tuple[str, ...]:
    """The card's ``malignant_labels`` when it gives none: MALIGNANT where the model has all
    three classes, else none (no malignant probability without a referral field)."""
    return MALIGNANT if set(MALIGNANT) <= set(labels) else ()


def check_malignant_labels(v, labels: Sequence[str]) -> str:
    """'' when ``v`` lists distinct labels of this model (empty: no malignant probability)."""
    if not isinstance(v, (list, tuple)) or not all(isinstance(c, str) for c in v):
        return "must be a list of label codes"
    if len(set(v)) != len(v) or not set(v) <= set(labels):
        return "must list distinct labels of this model"
    return ""


def check_referral(v, labels: Sequence[str]) -> str:
    """'' when ``v`` is a usable referral field for a card with ``labels`` (or empty)."""
    if v == {}:
        return ""
    if not isinstance(v, dict) or not isinstance(v.get("tasks"), dict):
        return "must be a JSON object with 'tasks' (empty: no referral threshold)"
    if v.get("score") not in v["tasks"]:
        return "must name its 'score' among its tasks"
    for name, task in v["tasks"].items():
        t = task.get("threshold") if isinstance(task, dict) else None
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 <= t <= 1:
            return f"task '{name}' must have a threshold in [0, 1]"
        pos = task.get("labels")
        if not isinstance(pos, list) or not pos or not set(pos) <= set(labels):
            return f"task '{name}' must list labels of this model"
    return ""


def lesion_groups(lesions: Sequence[str]) -> list[np.ndarray]:
    """Image indices of each lesion, in first-seen order."""
    index: dict[str, list[int]] = {}
    for i, lesion in enumerate(lesions):
        index.setdefault(lesion, []).append(i)
    return [np.array(v) for v in index.values()]


def bootstrap(metric: Callable[[np.ndarray], Mapping[str, float]], lesions: Sequence[str],
              n: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, list[float]]:
    """Percentile intervals ``{key: [low, high]}`` of every figure ``metric(indices)`` returns,
    over ``n`` resamples that draw whole lesions with replacement (images of one lesion are
    not independent). Figures undefined in a resample (NaN) are left out of its percentiles."""
    groups = lesion_groups(lesions)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(n):
        picked = rng.integers(0, len(groups), len(groups))
        idx = np.concatenate([groups[g] for g in picked])
        for k, v in metric(idx).items():
            draws.setdefault(k, []).append(v)
    a = (1 - level) / 2
    out = {}
    for k, vs in draws.items():
        arr = np.array(vs, dtype=np.float64)
        arr = arr[np.isfinite(arr)]
        out[k] = ([float(np.quantile(arr, a)), float(np.quantile(arr, 1 - a))] if len(arr)
                  else [float("nan"), float("nan")])
    return out


def intended_use(training: Mapping, labels: Sequence[str]) -> dict:
    """The card's ``intended_use`` field for a model trained on ``training`` (its card's)."""
    data = Path(str(training.get("data", "") or "unknown data")).name
    n = training.get("n_train")
    return {
        "summary": (f"Research and education: ranks dermoscopic images of a single skin lesion "
                    f"among {len(labels)} classes ({', '.join(labels)}) and flags ones to show "
                    "a doctor. Not a medical device; not for diagnosis or to rule out cancer."),
        "limitations": [
            f"Trained on {data}" + (f" ({n} training images)" if n else "") + ": dermoscopic "
            "images of pigmented lesions, mostly from fair skin (Fitzpatrick I-III); other skin "
            "types, body sites and camera photos are outside what it has seen.",
            f"Knows only these {len(labels)} classes; any other condition gets one of them.",
            "Probabilities are calibrated to the prevalence in the card's calibration field "
            "(the training data's unless stated); a clinic's population differs.",
            "The referral threshold was chosen on the validation split for the card's target "
            "sensitivity; a test-split figure is an estimate with an interval, not a guarantee.",
        ],
    }


def check_intended_use(v) -> str:
    """'' when ``v`` is a usable intended_use field (or empty)."""
    if v == {}:
        return ""
    if not isinstance(v, dict) or not isinstance(v.get("summary"), str) or not v["summary"]:
        return "must be a JSON object with a non-empty 'summary'"
    lim = v.get("limitations", [])
    if not isinstance(lim, list) or not all(isinstance(x, str) for x in lim):
        return "must have 'limitations' as a list of strings"
    return ""
