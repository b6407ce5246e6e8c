"""Classification metrics for imbalanced HAM10000 (ISIC 2018 Task 3 uses balanced accuracy).

Plain numpy so every runtime's outputs are scored the same way; the tests check each
figure against scikit-learn.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from .labels import CLASSES


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int = len(CLASSES)) -> np.ndarray:
    """[k, k] counts; rows are true classes, columns predicted."""
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true`` (labels as class indices); the
    figure ``classification_metrics`` reports, without its probabilities."""
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def binary_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank statistic (ties count one half)."""
    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(y_true, probs, labels=CLASSES) -> dict:
    """y_true: [N] class indices; probs: [N, K] probabilities.

    Classes absent from y_true are left out of the means (balanced accuracy, macro-F1,
    AUC), as scikit-learn does for recall-based scores; their support is 0.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    k = len(labels)
    y_pred = probs.argmax(1)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1).astype(np.float64)
    predicted = cm.sum(0).astype(np.float64)
    recall = _safe_div(tp, support)
    precision = _safe_div(tp, predicted)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = support > 0
    # sklearn's macro-F1 averages over the union of true and predicted labels
    f1_labels = present | (predicted > 0)
    aucs = [binary_auc(y_true == c, probs[:, c]) for c in range(k)]
    valid_auc = [a for a, p in zip(aucs, present) if p and not np.isnan(a)]
    return {
        "n": int(len(y_true)),
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(f1[f1_labels].mean()) if f1_labels.any() else float("nan"),
        "auc_ovr": float(np.mean(valid_auc)) if valid_auc else float("nan"),
        "per_class": {
            c: {"recall": float(recall[i]), "precision": float(precision[i]),
                "f1": float(f1[i]), "support": int(support[i]),
                "auc": None if np.isnan(aucs[i]) else float(aucs[i])}
            for i, c in enumerate(labels)
        },
        "confusion_matrix": cm.tolist(),
        "labels": list(labels),
    }
