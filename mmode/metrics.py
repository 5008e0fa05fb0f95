"""Evaluation metrics shared by the training and test scripts."""
from __future__ import annotations

import numpy as np


def dice(pred, true) -> float:
    """Dice overlap of two binary masks (1.0 when both are empty)."""
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(pred, true).sum() / total


def classification_metrics(predicted, true) -> dict:
    """Accuracy, FPR, FNR and F1 with 'good' (1) as the positive class."""
    predicted, true = np.asarray(predicted, dtype=bool), np.asarray(true, dtype=bool)
    tp = np.sum(predicted & true)
    tn = np.sum(~predicted & ~true)
    fp = np.sum(predicted & ~true)
    fn = np.sum(~predicted & true)
    return {
        "accuracy": (tp + tn) / max(len(true), 1),
        "fpr": fp / max(fp + tn, 1),
        "fnr": fn / max(fn + tp, 1),
        "f1": 2 * tp / max(2 * tp + fp + fn, 1),
        "n": int(len(true)),
    }
