"""Evaluation metrics shared by the training and test scripts."""
from __future__ import annotations

import numpy as np

from mmode.annotations import BORDER_COLUMNS, cavity_mask

BORDER_NAMES = tuple(column.replace("_", " ") for column in BORDER_COLUMNS)  # top to bottom, as printed


def dice(pred, true, axis=None):
    """Dice overlap of two binary masks, 1.0 where both are empty.

    ``axis``: the axes to sum over, e.g. (1, 2) for one Dice per window of (n, rows, cols)
    masks (an (n,) array); None for one float over all of both masks.
    """
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    total = np.count_nonzero(pred, axis=axis) + np.count_nonzero(true, axis=axis)
    overlap = np.count_nonzero(pred & true, axis=axis)
    scores = np.where(total > 0, 2.0 * overlap / np.maximum(total, 1), 1.0)
    return float(scores) if axis is None else scores


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


def border_agreement(expert: np.ndarray, traced: np.ndarray, rows: int) -> dict:
    """How well traced borders agree with an expert's, per column, in pixels.

    Parameters
    ----------
    expert, traced : (4, width) rows of the anterior epicardium, anterior endocardium,
        posterior endocardium and posterior epicardium; NaN where not traced.

    Returns
    -------
    cavity Dice over the columns where the expert traced both endocardia, and for LVID,
    LVAW and LVPW the median and 95th percentile of |traced - expert| (px) over the
    columns the expert traced (a column where ours has no border counts as missing all
    of it), with the number of columns compared. Under ``borders``, for each of the four
    borders (BORDER_NAMES) over the columns where both have it: the median of traced -
    expert (px; positive is deeper) and of its absolute value, which say which border
    the diameters' errors come from.
    """
    expert, traced = np.asarray(expert, dtype=np.float64), np.asarray(traced, dtype=np.float64)
    both = np.isfinite(expert[1]) & np.isfinite(expert[2])
    ours = cavity_mask(traced[:, both], rows)  # a NaN border draws no cavity
    out = {"cavity_dice": dice(ours, cavity_mask(expert[:, both], rows)), "columns": int(both.sum())}
    for name, (top, bottom) in (("lvid", (1, 2)), ("lvaw", (0, 1)), ("lvpw", (2, 3))):
        truth = expert[bottom] - expert[top]
        found = traced[bottom] - traced[top]
        error = np.abs(np.where(np.isnan(found), 0.0, found) - truth)  # a border not found misses all of it
        error = error[np.isfinite(truth)]
        out[name] = {"median_px": float(np.median(error)) if error.size else float("nan"),
                     "p95_px": float(np.percentile(error, 95)) if error.size else float("nan"),
                     "columns": int(error.size)}
    out["borders"] = {}
    for name, ours, theirs in zip(BORDER_NAMES, traced, expert):
        offset = (ours - theirs)[np.isfinite(ours) & np.isfinite(theirs)]
        out["borders"][name] = {"signed_median_px": float(np.median(offset)) if offset.size else float("nan"),
                                "median_px": float(np.median(np.abs(offset))) if offset.size else float("nan"),
                                "columns": int(offset.size)}
    return out
