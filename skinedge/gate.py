"""The input gate: is an image usable for the classifier at all?

Scored on the model image (uint8 [S, S, 3], the card's preprocessing applied) and the
original image size, with thresholds fitted on the validation split and stored in the card's
``gate`` field, so every runtime and app gives the same verdict:

- too small: the original's shorter side is under ``min_side`` (the model's input size: a
  smaller photo is upsampled and lacks the detail the model was trained on);
- too dark / too bright: mean luminance (Rec. 601, in [0, 1]) outside ``luminance``;
- blurred: ``sharpness`` (log10 of the variance of the 4-neighbour Laplacian of the luminance
  on 0..255) under its minimum;
- not a dermoscopic skin image: the squared Mahalanobis distance of :func:`features` from the
  validation images' mean (covariance shrunk toward its diagonal) over ``ood.threshold``.

The verdict never changes the classification; ``predict(..., refuse=True)`` withholds it.
Pure numpy; every statistic is written out below so an app can re-implement it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

FEATURES = ("mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b", "chroma_r", "chroma_g",
            "saturation", "grey_share", "rgb_order_share", "sharpness", "edge_density",
            "center_minus_border")
QUANTILE = 0.005  # each tail of the luminance and sharpness ranges fitted on validation
OOD_QUANTILE = 0.99  # validation images under the OOD threshold
SHRINK = 0.1  # covariance shrinkage toward its diagonal
_EPS = 1e-6
# What check_gate admits (and the apps' card checks with it). Every feature lies within
# +-FEATURE_BOUND (luma statistics in [0, 1], sharpness under 7, edge density over -4), so
# with precision entries of at most PRECISION_BOUND the OOD score is finite: no hostile card
# turns it into inf - inf = NaN, which compares false with any threshold.
MIN_SIDE_RANGE = (1, 65536)
SHARPNESS_RANGE = (-1.0, 10.0)
FEATURE_BOUND = 10.0
PRECISION_BOUND = 1e12
THRESHOLD_MAX = 1e12


def luminance(img: np.ndarray) -> np.ndarray:
    """uint8 [..., 3] -> float [...] Rec. 601 luma in [0, 1]."""
    x = np.asarray(img, dtype=np.float64) / 255.0
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def sharpness(img: np.ndarray) -> float:
    """log10 variance of the 4-neighbour Laplacian of the luma (0..255) over the inner pixels."""
    y = luminance(img) * 255.0
    lap = y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * y[1:-1, 1:-1]
    return float(math.log10(lap.var() + 1.0))


def features(img: np.ndarray) -> np.ndarray:
    """uint8 [S, S, 3] -> float [len(FEATURES)]: colour, texture and layout statistics."""
    x = np.asarray(img, dtype=np.float64) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    total = x.sum(-1) + _EPS
    hi, lo = x.max(-1), x.min(-1)
    sat = (hi - lo) / (hi + _EPS)
    y = luminance(img)
    gy, gx = np.abs(np.diff(y, axis=0)), np.abs(np.diff(y, axis=1))
    s = y.shape[0]
    inner = y[s // 4: s - s // 4, s // 4: s - s // 4]
    border = (y.sum() - inner.sum()) / (y.size - inner.size)
    return np.array([
        r.mean(), g.mean(), b.mean(), r.std(), g.std(), b.std(),
        (r / total).mean(), (g / total).mean(), sat.mean(), (sat < 0.1).mean(),
        ((r >= g) & (g >= b)).mean(), sharpness(img),
        math.log10(gy.mean() + gx.mean() + 1e-4), inner.mean() - border])


@dataclass(frozen=True)
class Verdict:
    """usable: no reason found; reasons: one sentence each; scores: the measured values."""

    usable: bool
    reasons: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"usable": self.usable, "reasons": list(self.reasons), "scores": dict(self.scores)}


def ood_score(feats: np.ndarray, ood: Mapping) -> float:
    """Squared Mahalanobis distance of a feature vector from the card's ``ood`` statistics."""
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite score is "not usable"
        d = np.asarray(feats, dtype=np.float64) - np.asarray(ood["mean"])
        return float(d @ np.asarray(ood["precision"]) @ d)


def assess(img: np.ndarray, size: tuple[int, int], gate: Mapping) -> Verdict:
    """The gate's verdict on a model image uint8 [S, S, 3] whose original was ``size`` (w, h)."""
    feats = features(img)
    lum = float(luminance(img).mean())
    scores = {"min_side": float(min(size)), "luminance": lum,
              "sharpness": float(feats[FEATURES.index("sharpness")]),
              "ood": ood_score(feats, gate["ood"])}
    reasons = []
    if min(size) < gate["min_side"]:
        reasons.append(f"too small: {size[0]}x{size[1]} px, under {gate['min_side']} px on the "
                       "shorter side")
    lo, hi = gate["luminance"]
    if lum < lo or lum > hi:
        reasons.append(f"too {'dark' if lum < lo else 'bright'}: mean luminance {lum:.2f}, "
                       f"outside [{lo:.2f}, {hi:.2f}]")
    if scores["sharpness"] < gate["sharpness_min"]:
        reasons.append(f"blurred: sharpness {scores['sharpness']:.2f}, under "
                       f"{gate['sharpness_min']:.2f}")
    if not math.isfinite(scores["ood"]):  # NaN > threshold is False: never "usable" on it
        reasons.append("does not look like a dermoscopic skin image: OOD score not finite "
                       "(the card's gate statistics are corrupt)")
    elif scores["ood"] > gate["ood"]["threshold"]:
        reasons.append(f"does not look like a dermoscopic skin image: OOD score "
                       f"{scores['ood']:.1f} over {gate['ood']['threshold']:.1f}")
    return Verdict(not reasons, reasons, {k: round(v, 4) for k, v in scores.items()})


def fit_gate(images: np.ndarray, min_side: int) -> dict:
    """The card's ``gate`` field fitted on validation model images uint8 [N, S, S, 3]."""
    f = np.stack([features(im) for im in images])
    lum = np.array([luminance(im).mean() for im in images])
    sharp = f[:, FEATURES.index("sharpness")]
    mean = f.mean(0)
    cov = np.cov(f, rowvar=False)
    cov = (1 - SHRINK) * cov + SHRINK * np.diag(np.diag(cov)) + 1e-9 * np.eye(len(mean))
    precision = np.linalg.inv(cov)
    ood = {"features": list(FEATURES), "mean": [float(m) for m in mean],
           "precision": [[float(v) for v in row] for row in precision]}
    d = np.array([ood_score(x, ood) for x in f])
    # Margins beyond the fitted quantiles: the validation set is small, its tails noisy.
    ood["threshold"] = round(float(np.quantile(d, OOD_QUANTILE)) * 1.25, 4)
    return {"version": 1, "min_side": int(min_side),
            "luminance": [round(max(0.0, float(np.quantile(lum, QUANTILE)) - 0.03), 4),
                          round(min(1.0, float(np.quantile(lum, 1 - QUANTILE)) + 0.03), 4)],
            "sharpness_min": round(float(np.quantile(sharp, QUANTILE)) - 0.1, 4),
            "ood": ood, "fitted_on": {"n": int(len(images))}}


def check_gate(v) -> str:
    """'' when ``v`` is a usable gate field (or empty), else what is wrong: types, and ranges
    within which every statistic is finite (the apps' card checks apply the same rules)."""
    if v == {}:
        return ""
    if not isinstance(v, dict):
        return "must be a JSON object (empty: no input gate)"
    lum, ood = v.get("luminance"), v.get("ood")
    if not isinstance(v.get("min_side"), int) or isinstance(v.get("min_side"), bool) \
            or not isinstance(lum, list) or len(lum) != 2 or not _numbers(lum) \
            or not _numbers([v.get("sharpness_min")]):
        return "must have min_side (integer), luminance [low, high] and sharpness_min"
    if not MIN_SIDE_RANGE[0] <= v["min_side"] <= MIN_SIDE_RANGE[1]:
        return f"must have min_side from {MIN_SIDE_RANGE[0]} to {MIN_SIDE_RANGE[1]} px"
    if not 0 <= lum[0] <= lum[1] <= 1:
        return "must have luminance [low, high] with 0 <= low <= high <= 1"
    if not SHARPNESS_RANGE[0] <= v["sharpness_min"] <= SHARPNESS_RANGE[1]:
        return f"must have sharpness_min in [{SHARPNESS_RANGE[0]:g}, {SHARPNESS_RANGE[1]:g}]"
    n = len(FEATURES)
    if not isinstance(ood, dict) or ood.get("features") != list(FEATURES) \
            or not _numbers(ood.get("mean"), n) or not _numbers([ood.get("threshold")]) \
            or not isinstance(ood.get("precision"), list) or len(ood["precision"]) != n \
            or not all(_numbers(row, n) for row in ood["precision"]):
        return f"must have ood statistics over the {n} features this version computes"
    if not all(abs(x) <= FEATURE_BOUND for x in ood["mean"]) \
            or not all(abs(x) <= PRECISION_BOUND for row in ood["precision"] for x in row) \
            or not 0 < ood["threshold"] <= THRESHOLD_MAX:
        return (f"must have ood mean within +-{FEATURE_BOUND:g}, precision within "
                f"+-{PRECISION_BOUND:g} and a threshold in (0, {THRESHOLD_MAX:g}]")
    return ""


def _numbers(v, n: int | None = None) -> bool:
    return isinstance(v, list) and (n is None or len(v) == n) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)


def rejection_rates(verdicts: Sequence[Verdict]) -> dict[str, float]:
    """Share of images the gate rejects, overall and per reason kind."""
    n = max(len(verdicts), 1)
    kinds = ("too small", "too dark", "too bright", "blurred", "does not look")
    out = {"rejected": sum(not v.usable for v in verdicts) / n}
    for k in kinds:
        out[k.split()[-1] if k != "does not look" else "ood"] = \
            sum(any(r.startswith(k) for r in v.reasons) for v in verdicts) / n
    return out
