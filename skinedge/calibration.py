"""Calibrated probabilities from a model's raw outputs: prior correction and temperature scaling.

A model trained with a class-balanced sampler (or loss) has learned a world in which every
class is equally common, so on real data its softmax under-states the common classes. The
card's ``calibration`` turns raw outputs ``z`` ([N, K] logits or log-probabilities) into

    p = softmax(z / T + log(prevalence) - log(model_prior))

``model_prior`` is the class distribution the training objective saw (uniform when it was
balanced), ``prevalence`` the population the probabilities should describe (default: the
training data's class frequencies), and ``T`` is fitted on the validation split by
maximum likelihood *after* the prior correction. Both are stored per label in the card as
one vector, ``bias = log(prevalence) - log(model_prior)``, so every runtime and app applies
the same two lines; a card without ``calibration`` gives plain ``softmax(z)`` and says so.

Pure numpy; shapes: ``z`` float [N, K], ``y`` int [N] class indices in the model's order.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from .errors import ConfigError

ECE_BINS = 15
METHOD = "temperature+prior"
# Training configs whose objective saw equal classes; ``sqrt`` draws class c in proportion to
# sqrt(n_c) and weights its loss by n_c^-1/2, so each class's expected share of the loss is equal.
BALANCED_MODES = ("sampler", "loss", "both", "sqrt")
T_RANGE = (0.05, 20.0)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def calibrated(z: np.ndarray, temperature: float = 1.0,
               bias: Sequence[float] | None = None) -> np.ndarray:
    """Probabilities [N, K] from raw outputs [N, K]: softmax(z / T + bias)."""
    z = np.asarray(z, dtype=np.float64) / float(temperature)
    if bias is not None:
        z = z + np.asarray(bias, dtype=np.float64)[None, :]
    return softmax(z)


def apply_card(z: np.ndarray, calibration: Mapping | None) -> np.ndarray:
    """Probabilities per a card's ``calibration`` field; plain softmax when it is empty."""
    if not calibration:
        return softmax(z)
    return calibrated(z, calibration["temperature"], calibration["bias"])


def nll(z: np.ndarray, y: np.ndarray, temperature: float = 1.0,
        bias: np.ndarray | None = None) -> float:
    """Mean negative log-likelihood of ``y`` under softmax(z / T + bias)."""
    zz = np.asarray(z, dtype=np.float64) / temperature
    if bias is not None:
        zz = zz + bias[None, :]
    return float(-log_softmax(zz)[np.arange(len(y)), np.asarray(y)].mean())


def fit_temperature(z: np.ndarray, y: np.ndarray, bias: np.ndarray | None = None) -> float:
    """The T in T_RANGE minimising :func:`nll` (golden-section search on log T; the NLL of
    temperature scaling is unimodal in T). Raises ConfigError on an empty or one-class set."""
    y = np.asarray(y)
    if len(y) == 0:
        raise ConfigError("calibration needs labelled validation images; the set is empty")
    if len(np.unique(y)) < 2:
        raise ConfigError("calibration needs validation images of at least two classes")
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(z, y, math.exp(a), bias), nll(z, y, math.exp(b), bias)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(z, y, math.exp(a), bias)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(z, y, math.exp(b), bias)
    return float(math.exp((lo + hi) / 2))


def model_prior(training: Mapping, labels: Sequence[str]) -> tuple[np.ndarray, str]:
    """The class distribution a model's training objective saw, from its card's ``training``:
    uniform when balanced (sampler/loss), else the training class counts; and why."""
    k = len(labels)
    mode = (training.get("config") or {}).get("balance")
    counts = training.get("class_counts") or {}
    if mode in BALANCED_MODES:
        return np.full(k, 1.0 / k), f"uniform (trained with balance={mode})"
    if counts and all(c in counts for c in labels):
        c = np.array([float(counts[x]) for x in labels])
        if (c > 0).all():
            return c / c.sum(), "training class frequencies"
    return np.full(k, 1.0 / k), "uniform (training balance not recorded)"


def prevalence_from(spec: Mapping[str, float] | None, training: Mapping,
                    labels: Sequence[str]) -> np.ndarray:
    """Target class prevalence: ``spec`` (label -> share; normalised) or the training data's
    class frequencies. ConfigError names a missing, unknown or non-positive entry."""
    source = spec if spec else training.get("class_counts") or {}
    where = "--prevalence" if spec else "the card's training class_counts"
    unknown = sorted(set(source) - set(labels))
    if unknown:
        raise ConfigError(f"{where}: unknown label(s) {', '.join(unknown)}; labels are "
                          f"{', '.join(labels)}")
    missing = [c for c in labels if c not in source]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}: give a share for every label")
    v = np.array([float(source[c]) for c in labels])
    if not np.isfinite(v).all() or (v <= 0).any():
        raise ConfigError(f"{where}: every share must be a positive number")
    return v / v.sum()


def fit_calibration(z: np.ndarray, y: np.ndarray, labels: Sequence[str], training: Mapping,
                    prevalence: Mapping[str, float] | None = None,
                    prior_correction: bool = True) -> dict:
    """The card's ``calibration`` field fitted on validation outputs ``z`` [N, K], ``y`` [N]."""
    k = len(labels)
    prior, prior_why = model_prior(training, labels)
    target = prevalence_from(prevalence, training, labels) if prior_correction else prior
    bias = np.log(target) - np.log(prior)
    t = fit_temperature(z, y, bias)
    return {"method": METHOD, "temperature": round(t, 6),
            "bias": [round(float(b), 6) for b in bias],
            "prevalence": {c: round(float(p), 6) for c, p in zip(labels, target)},
            "model_prior": prior_why, "fitted_on": {"n": int(len(y)), "classes": k},
            "nll_before": round(nll(z, y), 6), "nll_after": round(nll(z, y, t, bias), 6)}


def check_calibration(v, n_labels: int) -> str:
    """'' when ``v`` is a usable calibration field for a card of ``n_labels`` labels (or empty),
    else what is wrong: the card rule (card.py) and the apps read the same two keys."""
    if v == {}:
        return ""
    if not isinstance(v, dict):
        return "must be a JSON object (empty: uncalibrated)"
    t, b = v.get("temperature"), v.get("bias")
    if not _finite(t) or not T_RANGE[0] <= t <= T_RANGE[1]:
        return f"must have a temperature in [{T_RANGE[0]:g}, {T_RANGE[1]:g}]"
    if not isinstance(b, list) or len(b) != n_labels or not all(_finite(x) and abs(x) < 50
                                                                for x in b):
        return f"must have a bias of {n_labels} finite numbers (one per label)"
    return ""


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Equal-width bins over [0, 1] of ``confidence`` [N]; ``correct`` [N] bool. Returns the
    ECE (sum over bins of |accuracy - mean confidence| weighted by the bin's share) and per
    bin its count, mean confidence and accuracy (None where empty). Bin i holds
    (i/bins, (i+1)/bins]; confidence 0 falls in the first."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    idx = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(idx, minlength=bins)
    conf_sum = np.bincount(idx, conf, minlength=bins)
    ok_sum = np.bincount(idx, ok, minlength=bins)
    nz = count > 0
    mean_conf = np.where(nz, conf_sum / np.maximum(count, 1), np.nan)
    acc = np.where(nz, ok_sum / np.maximum(count, 1), np.nan)
    ece = float((np.abs(acc - mean_conf)[nz] * count[nz]).sum() / max(len(conf), 1))
    return {"ece": ece, "bins": bins, "count": count.tolist(),
            "confidence": [None if not n else float(c) for n, c in zip(nz, mean_conf)],
            "accuracy": [None if not n else float(a) for n, a in zip(nz, acc)]}


def ece(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label expected calibration error of probabilities [N, K] against ``y`` [N]."""
    probs = np.asarray(probs)
    return reliability(probs.max(1), probs.argmax(1) == np.asarray(y), bins)["ece"]
