"""LV borders per column from the segmenter's class probabilities, and the diameters they give.

A column of a parasternal M-mode image is, top to bottom: background (chest wall,
right ventricle), the anterior wall, the cavity, the posterior wall, background
(pericardium, lung). :func:`trace_borders` finds, in every column, the one split
of the rows into these runs that agrees best with the network: the most likely
sequence of runs, found exactly by dynamic programming over the rows. Islands of
"cavity" inside a wall and holes of "wall" inside the cavity therefore cannot
shorten or lengthen a diameter: each band is a single run by construction, unlike
counting a mask's pixels per column. A running median of the borders removes
single-column glitches; the network's own smoothness keeps them continuous in time.

Why not skimage.measure.label: choosing the largest connected cavity first needs
scikit-image, whose import and first call cost 0.9 s (measured here) on the
critical path of a 3.6 s cold start, and it would still need a rule per column.
The dynamic programme needs neither; heart_segmentation.predict runs it on each window at
the network's column resolution, which makes it cheap.
"""
from __future__ import annotations

import numpy as np

from mmode.annotations import ANTERIOR_WALL, BACKGROUND, CAVITY, POSTERIOR_WALL
from mmode.beats import median_filter

FOUR_CLASS_RUNS = (BACKGROUND, ANTERIOR_WALL, CAVITY, POSTERIOR_WALL, BACKGROUND)
CAVITY_RUNS = (BACKGROUND, CAVITY, BACKGROUND)
MIN_LOG_PROB = -30.0  # a certain "no" still costs a finite amount
BORDER_MEDIAN_PX = 3  # running median of each border along time: single-column glitches go


def best_runs(log_prob: np.ndarray, runs) -> np.ndarray:
    """Boundaries of the most likely top-to-bottom sequence of runs, per column.

    Parameters
    ----------
    log_prob : (n_classes, rows, width) log-probability of each class per pixel.
    runs : class of each run from top to bottom; a run may be empty.

    Returns
    -------
    (len(runs) - 1, width) int rows: run j covers rows [boundary j-1, boundary j).
    """
    n_classes, rows, width = log_prob.shape
    # cumulative[c][b] = sum of log_prob[c] over rows < b, so a run [a, b) of class c scores cum[b] - cum[a].
    cumulative = np.zeros((n_classes, rows + 1, width), dtype=np.float32)
    np.cumsum(log_prob, axis=1, out=cumulative[:, 1:])
    best = cumulative[runs[0]]  # best score of the runs so far, ending at each boundary
    offsets = []
    for cls in runs[1:]:
        offset = best - cumulative[cls]  # a run of ``cls`` that starts at this boundary
        offsets.append(offset)
        best = cumulative[cls] + np.maximum.accumulate(offset, axis=0)
    # Walk back from the bottom: each boundary is the best start at or above the next one.
    boundaries = np.empty((len(runs) - 1, width), dtype=np.int64)
    limit = np.full(width, rows)
    above = np.arange(rows + 1)[:, None]
    for j in reversed(range(len(runs) - 1)):
        allowed = np.where(above <= limit[None, :], offsets[j], -np.inf)
        limit = np.argmax(allowed, axis=0)
        boundaries[j] = limit
    return boundaries


def trace_borders(log_prob: np.ndarray) -> np.ndarray:
    """The four LV borders per column from class log-probabilities.

    Parameters
    ----------
    log_prob : (4, rows, width) for background, anterior wall, cavity, posterior wall,
        or (2, rows, width) for background and cavity (the published one-class network).

    Returns
    -------
    (4, width) float rows of the anterior epicardium, anterior endocardium, posterior
    endocardium and posterior epicardium (the band [top, bottom) convention of
    mmode.annotations); NaN where the network has no such border: the epicardia of a
    one-class network, and every border of a column without cavity.
    """
    evidence = np.maximum(log_prob, MIN_LOG_PROB)
    borders = np.full((4, log_prob.shape[2]), np.nan)
    if log_prob.shape[0] == 2:
        filler = np.full_like(evidence[0], MIN_LOG_PROB)  # the class numbers of the runs index this stack
        borders[1:3] = best_runs(np.stack([evidence[0], filler, evidence[1]]), CAVITY_RUNS)
    else:
        borders[:] = best_runs(evidence, FOUR_CLASS_RUNS)
    borders = np.stack([median_filter(b, BORDER_MEDIAN_PX) if np.isfinite(b).all() else b for b in borders])
    borders[:, ~(borders[2] > borders[1])] = np.nan  # no cavity, no borders
    return borders


def diameters_mm(borders: np.ndarray, mm_per_px: float) -> dict[str, np.ndarray]:
    """Per column LVID, LVAW and LVPW (mm) from the four borders; NaN where a border is missing."""
    return {
        "lvid": (borders[2] - borders[1]) * mm_per_px,
        "lvaw": (borders[1] - borders[0]) * mm_per_px,
        "lvpw": (borders[3] - borders[2]) * mm_per_px,
    }
