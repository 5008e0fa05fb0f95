"""LV borders per column from the segmenter's class probabilities, and the diameters they give.

A column of a parasternal M-mode image is, top to bottom: background (chest wall,
right ventricle), the anterior wall, the cavity, the posterior wall, background
(pericardium, lung). :func:`trace_borders` finds, in every column, the one split
of the rows into these runs that agrees best with the network: the most likely
sequence of runs, found exactly by dynamic programming over the rows. Islands of
"cavity" inside a wall and holes of "wall" inside the cavity therefore cannot
shorten or lengthen a diameter: each band is a single run by construction, unlike
counting a mask's pixels per column. The posterior endocardium, whose wall may be as dark
as the blood, is then traced again as one path in time that moves at most MAX_STEP_PX rows
per column (:func:`posterior_endocardium`, dynamic programming over the columns); a running
median of the borders removes single-column glitches.
:func:`snap_borders` then moves both endocardia and the anterior epicardium onto the step in
grey between blood and tissue next to them, which the network blurs.

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
# The posterior endocardium moves at most this many rows (of a 616-row region) from one network column
# to the next (about 1 ms at Vevo's sweep of 0.83 ms per image column): 4 is a third above the
# fastest wall of the phantoms (their end-diastolic tips, 2.5 rows per image column, 3 per network
# column), set from them before the real image was looked at. Traced column by column, the border
# jumped 230 of 1236 rows into the real annotated_borders.png's dark posterior wall for 80 columns and
# back, where the network was unsure (cavity 0.6-0.8 inside the wall); as one path it cannot. On that
# image (tools/evaluate_real_image.py) cavity Dice 0.958 -> 0.965, median LVID error 14.2 -> 12.7 px,
# LVPW 10.9 -> 10.1 px, 6 -> 7 of 9 beats reported, LVID;s 0.096 -> 0.083 mm; on the phantoms of
# tools/evaluate_pipeline.py the medians stayed or improved (held-out LVID;s 0.062 -> 0.059 mm, LVPW;s
# 0.064 -> 0.063 mm; training families 344 -> 346 good beats, LVPW;s 0.066 -> 0.062 mm). 8 rows, tried
# after 4 on the real image, was nearer column by column: LVID 13.9 px and 6 beats.
MAX_STEP_PX = 4
OUTSIDE_RANGE = 300 * MIN_LOG_PROB


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
    # Rows last: numpy's running sums and maxima along the last, contiguous axis run 2.7 times as fast
    # as down the rows of a (rows, width) array (0.3 of 0.9 s of segmentation per recording before).
    by_column = np.ascontiguousarray(np.swapaxes(log_prob, 1, 2), dtype=np.float32)
    # cumulative[c][:, b] = sum of log_prob[c] over rows < b, so a run [a, b) of class c scores cum[b] - cum[a].
    cumulative = np.zeros((n_classes, width, rows + 1), dtype=np.float32)
    np.cumsum(by_column, axis=2, out=cumulative[:, :, 1:])
    best = cumulative[runs[0]]  # best score of the runs so far, ending at each boundary
    offsets = []
    for cls in runs[1:]:
        offset = best - cumulative[cls]  # a run of ``cls`` that starts at this boundary
        offsets.append(offset)
        best = cumulative[cls] + np.maximum.accumulate(offset, axis=1)
    # Walk back from the bottom: each boundary is the best start at or above the next one.
    boundaries = np.empty((len(runs) - 1, width), dtype=np.int64)
    limit = np.full(width, rows)
    above = np.arange(rows + 1)[None, :]
    for j in reversed(range(len(runs) - 1)):
        allowed = np.where(above <= limit[:, None], offsets[j], -np.inf)
        limit = np.argmax(allowed, axis=1)
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
        borders[2] = posterior_endocardium(evidence, borders)
    borders = np.stack([median_filter(b, BORDER_MEDIAN_PX) if np.isfinite(b).all() else b for b in borders])
    borders[:, ~(borders[2] > borders[1])] = np.nan  # no cavity, no borders
    return borders


def posterior_endocardium(log_prob: np.ndarray, borders: np.ndarray) -> np.ndarray:
    """The posterior endocardium (width,) as one path in time, the other three borders kept.

    In each column the border may lie between the anterior endocardium (exclusive) and the
    posterior epicardium; its score is that of the cavity above it and the posterior wall below
    (best_runs' objective for that border alone). continuous_path finds the best path whose row
    changes by at most MAX_STEP_PX (scaled to the rows) from column to column. Columns where
    best_runs found no cavity keep none.
    """
    rows = log_prob.shape[1]
    cavity = borders[2] > borders[1]
    top, bottom = int(borders[1].min()) + 1, int(borders[3].max())  # the rows any column allows
    if bottom < top:
        return borders[2]
    # Boundary b (top <= b <= bottom) scores the sum of log p(cavity) over the rows above it, less
    # that of log p(posterior wall); only differences between boundaries of a column count.
    difference = log_prob[CAVITY, top - 1:bottom] - log_prob[POSTERIOR_WALL, top - 1:bottom]
    score = np.cumsum(difference, axis=0, dtype=np.float64).T  # (width, bottom - top + 1)
    boundary = np.arange(top, bottom + 1)[None, :]
    # Outside its column's range a row costs as much as 300 rows certainly wrong: it is taken only where
    # the range moves faster than the path may. A column without cavity says nothing about the path.
    score[(boundary <= borders[1][:, None]) | (boundary > borders[3][:, None])] = OUTSIDE_RANGE
    score[~cavity] = 0.0
    path = top + continuous_path(score, max(1, int(round(MAX_STEP_PX * rows / VEVO_ROWS))))
    path = np.clip(path, borders[1] + 1, np.maximum(borders[3], borders[1] + 1))
    return np.where(cavity, path, borders[2])  # a column without cavity stays without


def continuous_path(score: np.ndarray, max_step: int) -> np.ndarray:
    """The rows (width,) that maximise the sum of ``score[t, row_t]`` (width, rows) over the columns,
    each row within ``max_step`` of the one before: dynamic programming along the columns.

    The best score of a path up to each row of the next column is a running maximum over
    2 * max_step + 1 rows, taken here by doubling (np.maximum of shifted copies, a few calls per
    column): 1.6-3 ms per window of 256 columns, where numpy's argmax over sliding windows took 15-28 ms.
    """
    width, rows = score.shape
    span = 2 * max_step + 1
    best = np.empty((width, rows))  # best score of a path ending at (column, row)
    best[0] = score[0]
    padded = np.full(rows + 2 * max_step, -np.inf)  # no path starts outside the rows
    for t in range(1, width):
        padded[max_step:max_step + rows] = best[t - 1]
        running, reach = padded, 1
        while 2 * reach <= span:
            running = np.maximum(running[:-reach], running[reach:])
            reach *= 2
        best[t] = np.maximum(running[:rows], running[span - reach:span - reach + rows]) + score[t]
    path = np.empty(width, dtype=np.int64)
    path[-1] = int(np.argmax(best[-1]))
    for t in range(width - 1, 0, -1):  # back along the columns: the best row within reach of the next
        low = max(path[t] - max_step, 0)
        path[t - 1] = low + int(np.argmax(best[t - 1, low:path[t] + max_step + 1]))
    return path


def remove_spikes(borders: np.ndarray, rows: int) -> np.ndarray:
    """The borders (4, width) with narrow excursions of both endocardia removed (SPIKE_MEDIAN_PX, SPIKE_PX).

    Columns without a cavity (NaN) keep their NaN and are bridged for the running median. An
    endocardium put back on its median stays on its side of its epicardium, as snap_borders keeps it,
    so that no wall thickness falls below zero; and the cavity stays at least one row high.
    """
    out = borders.copy()
    limit = SPIKE_PX * rows / VEVO_ROWS
    for j in (1, 2):
        border = borders[j]
        known = np.isfinite(border)
        if np.count_nonzero(known) <= SPIKE_MEDIAN_PX:
            continue
        columns = np.arange(border.size)
        filled = np.where(known, border, np.interp(columns, columns[known], border[known]))
        median = median_filter(filled, SPIKE_MEDIAN_PX)
        out[j] = np.where(known & (np.abs(filled - median) > limit), median, border)
    return in_order(out)


def in_order(borders: np.ndarray) -> np.ndarray:
    """``borders`` (4, width), changed in place and returned: each endocardium on its side of its
    epicardium (no wall thinner than nothing) and the cavity at least one row high. A NaN epicardium
    (a one-class network) leaves its endocardium free."""
    with np.errstate(invalid="ignore"):
        borders[1] = np.where(borders[1] < borders[0], borders[0], borders[1])
        borders[2] = np.where(borders[2] > borders[3], borders[3], borders[2])
        borders[2] = np.where(borders[2] < borders[1] + 1, borders[1] + 1, borders[2])
    return borders


def diameters_mm(borders: np.ndarray, mm_per_px: float) -> dict[str, np.ndarray]:
    """Per column LVID, LVAW and LVPW (mm) from the four borders; NaN where a border is missing."""
    return {
        "lvid": (borders[2] - borders[1]) * mm_per_px,
        "lvaw": (borders[1] - borders[0]) * mm_per_px,
        "lvpw": (borders[3] - borders[2]) * mm_per_px,
    }


# Snapping the endocardia to the image. The segmenter sees a window shrunk to 128 rows and, like
# any network trained with a pixel loss, pulls a border towards where it usually is: on phantoms
# the anterior endocardium came out 6.6 px (of 616 rows) inside the cavity at end-diastole and the
# posterior one 5 px inside the wall at end-systole, LVID;d 0.12 mm short. The grey step between
# blood and tissue is sharper than that, so each endocardium is moved to the strongest step of the
# right sign near the network's border (snap_borders). Lengths are in rows of a 616-row Vevo
# region and scale with the image's height, as the network's input does. The values were chosen on
# the training families of phantom.py; tools/evaluate_pipeline.py reports the held-out one.
VEVO_ROWS = 616
EDGE_SEARCH_PX = 10
EDGE_SMOOTH_PX = 1.0  # Gaussian sigma down each column before the grey steps are taken
EDGE_ALONG_PX = 1.0  # and along the border, in columns (profiles aligned on the network's border)
EDGE_PRIOR = 1.0  # cost of the farthest offset; an edge of typical strength is worth 1
# The steepest step lies on the blood side of the endocardial echo, whose blurred tail reaches into
# the cavity; the first tissue row is this much deeper into the wall.
EDGE_TISSUE_PX = 1.5
# After snapping, an endocardium that leaves its running median over SPIKE_MEDIAN_PX columns by more
# than SPIKE_PX rows (of 616) is put back on it: a few columns where the network took wall for
# cavity or the reverse. A tip of end-diastole, 2.5 rows per column on either side, stays within
# about 19 rows of that median. On tools/evaluate_pipeline.py's phantoms this took the training
# families' 95th percentile of the LVID;s error from 0.92 to 0.26 mm and of LVPW;s from 0.26 to
# 0.15 mm; the medians moved by at most 0.002 mm, and the beats reported, the held-out family's
# figures and the real image's stayed as they were.
SPIKE_MEDIAN_PX = 31
SPIKE_PX = 20


def _blur(values: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """Gaussian blur of a 2-D array along ``axis``, edges repeated.

    scipy.ndimage.gaussian_filter1d(mode="nearest") does the same; ours, because importing
    scipy.ndimage costs a tenth of a second of a cold start.
    """
    radius = max(1, int(np.ceil(3 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(values, [(radius, radius) if a == axis else (0, 0) for a in range(2)], mode="edge")
    length = values.shape[axis]
    return sum(w * np.take(padded, np.arange(k, k + length), axis=axis) for k, w in enumerate(kernel))


def snap_borders(image: np.ndarray, borders: np.ndarray) -> np.ndarray:
    """The borders (4, width) with both endocardia and the anterior epicardium moved onto the grey
    steps of ``image`` (rows, width).

    Each column's rows around the network's border are blurred down the column and, aligned on
    that border, along it over neighbouring columns (speckle in the blood averages out, the
    moving edge does not); then the strongest step of the right sign within EDGE_SEARCH_PX,
    less EDGE_PRIOR for going far, is the border. Per column, without a smoothness constraint
    from column to column: one rounded the tips of end-diastole off and cost a second per
    recording. Columns without a cavity keep their NaN, as does a border the network has not
    (the epicardia of a one-class network); each endocardium stays on its side of its
    epicardium, and the cavity at least one row high.

    The anterior epicardium steps from the blood of the right ventricle to the septum. Snapped
    like the endocardia, the LVAW error on phantoms went from 0.048 / 0.052 mm (diastole /
    systole, training families) to 0.035 / 0.029 mm, and on the held-out family from 0.056 /
    0.051 to 0.050 / 0.043 mm (tools/evaluate_pipeline.py). Where no right-ventricular cavity
    shows above the septum there may be no step of that sign to find, and the border stays where
    the network put it; the posterior epicardium, the pericardium's bright echo, the network
    finds well (LVPW within 0.03 mm).
    """
    rows, width = image.shape
    scale = rows / VEVO_ROWS
    search = max(1, int(round(EDGE_SEARCH_PX * scale)))
    offsets = np.arange(-search, search + 1)
    margin = int(np.ceil(3 * EDGE_SMOOTH_PX * scale))  # rows the blur down the column reaches
    band = np.arange(-search - margin, search + 2 + margin)  # rows on both sides of every step, and the margin
    columns = np.arange(width)
    known = np.isfinite(borders[1]) & np.isfinite(borders[2])
    out = borders.copy()
    if not known.any():
        return out
    # (border, sign of the grey step going down, rows from the step into the wall): the anterior
    # epicardium steps from blood down to tissue, the anterior endocardium from tissue to blood, the
    # posterior one from blood to tissue. The epicardium has no specular echo whose tail would pull
    # its steepest step into the blood: no rows are added. Median LVAW;d error of the beats with a
    # right-ventricular cavity on phantoms of the training families (seeds 7100-7119, 7300-7305):
    # fibres 0.041 mm without, 0.050 mm with EDGE_TISSUE_PX added; mottled 0.028 / 0.039; streaks
    # 0.020 / 0.024 (0.048, 0.059 and 0.046 mm before the epicardium was snapped at all).
    for j, sign, into_wall in ((0, 1.0, 0.0), (1, -1.0, -EDGE_TISSUE_PX), (2, 1.0, EDGE_TISSUE_PX)):
        here = known & np.isfinite(borders[j])
        if not here.any():
            continue
        centre = np.rint(np.interp(columns, columns[here], borders[j, here])).astype(np.int64)
        grey = image[np.clip(centre[None, :] + band[:, None], 0, rows - 1), columns[None, :]].astype(np.float32)
        profiles = _blur(_blur(grey, EDGE_SMOOTH_PX * scale, axis=0)[margin:band.size - margin], EDGE_ALONG_PX, axis=1)
        rise = sign * np.diff(profiles, axis=0)  # row i: the step from row centre + offsets[i] to the next
        typical = np.percentile(np.abs(rise), 95) + 1e-6
        cost = -np.clip(rise / typical, -1.0, 1.5) + EDGE_PRIOR * (offsets[:, None] / search) ** 2
        best = np.argmin(cost, axis=0)
        snapped = centre + offsets[best] + 0.5 + into_wall * scale
        if j == 0:  # no step of the right sign at all (no blood above the septum): the network's border
            snapped = np.where(rise[best, columns] > 0, snapped, borders[0])
        out[j] = np.where(here, snapped, np.nan)
    return in_order(out)
