"""The analysis of one stitched recording: segment, classify quality, measure and gate beats.

The networks come in as an object with ``segment`` and ``classify`` (Networks):
this core module imports neither torch nor the model packages.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from mmode.annotations import cavity_mask
from mmode.beats import Beat, detect_beats, median_filter
from mmode.borders import diameters_mm
from mmode.dicom_io import Calibration
from mmode.errors import NoCavityError, RecordingTooShortError
from mmode.recording import Recording
from mmode.windows import column_scores, crop_ratio, stretched, tile_starts, vertical_start

log = logging.getLogger(__name__)

MIN_CAVITY_COLUMNS = 0.2  # below this fraction of columns with a cavity, the segmentation found none
MAX_CAVITY_ROWS = 0.85  # a "cavity" filling more of a column than this is not a ventricle
MIN_CONTRAST = 1.0  # grey-level standard deviation below which an image is blank
# A quality window is bad whatever the classifier says when the spread of its grey values (99th
# minus 50th percentile), or that of its lower half, is below MIN_ECHO_GREY or below ECHO_FRACTION
# of the recording's typical window (a probe off the chest shows noise and near-field lines, no
# heart; a shadow hides the posterior wall), or when more than MAX_SATURATED of it is full white
# (a gain too high for any border to show).
MIN_ECHO_GREY = 15.0
ECHO_FRACTION = 0.35
SATURATED_GREY, MAX_SATURATED = 250.0, 0.08
# A column is bad whatever the classifier says when its echoes below the posterior endocardium (the
# posterior wall, which always echoes, and what lies behind it: mean grey above the noise floor, the
# median grey of the cavity), over SHADOW_MEDIAN_PX columns (about one beat), fall below
# SHADOW_FRACTION of the recording's 75th percentile (not the median: a probe off the chest for most
# of a recording would set that): a shadow hides the posterior wall. Windows judged whole miss a
# shadow shorter than a window. Measured on 40 phantoms (seeds 7000-7219) with their true borders,
# as a fraction of the 75th percentile: at most 0.24 inside dropouts, 0.39 and more on clean columns
# (0.48 and more where no gain jump or clutter raised the percentile). Without the floor subtracted,
# a shadow over a noisy image kept 0.7 of the median grey.
SHADOW_MEDIAN_PX = 101
SHADOW_FRACTION = 0.3
# A column is bad whatever the classifier says when its mean grey, over BRIGHT_MEDIAN_PX columns, is
# more than BRIGHT_FRACTION times the median of the columns without a shadow: the gain was turned up or
# the probe pressed into the chest wall (clutter), and the borders drown. On the same phantoms: 1.89
# and more inside gain jumps and clutter, at most 1.38 on clean columns.
BRIGHT_MEDIAN_PX = 101
BRIGHT_FRACTION = 1.6
# A column is bad whatever the classifier says when the middle of its cavity, over DRIFT_MEDIAN_PX
# columns, lies more than DRIFT_MM from the recording's median: the probe slipped or the animal moved,
# and the cursor no longer cuts the ventricle where it did. On 50 phantoms (seeds 7000-7229) with the
# shipped segmenter: a median of 0.2-1.4 mm inside probe slips and motion bursts; on clean columns at
# most 0.33 mm where the segmenter traced the cavity (breathing moves the heart by about 0.1 mm).
DRIFT_MEDIAN_PX = 101
DRIFT_MM = 0.4
# Bad stretches fade in and out over tens of milliseconds; columns this close to one found by the
# checks above are bad too.
CHECK_MARGIN_S = 0.025
# The classifier judges windows; a column takes the score of the nearest window (column_scores),
# which puts the edge of a bad stretch half-way between two window centres, up to half a stride from
# where the image changes. On 28 phantoms (seeds 7000-7009, 7100-7109 and 7300-7309 less two whose
# stretches overlap) the bad stretches of the per-column scores ran 54-161 ms past 23 of the 68
# true edges (440 ms at one), costing the good beats next to them, and ended 37-66 ms early at 4,
# leaving a beat of seed 7106 inside a probe slip. So each edge of a stretch the classifier
# dislikes moves to the strongest change of the image (image_change) within EDGE_REACH of a stride,
# when that change is at least EDGE_CHANGE times the recording's median, and gets CHECK_MARGIN_S
# like the checks' stretches; where nothing stands out (a stretch disliked for what it shows, not
# for a change of acquisition) the edge stays. On seeds 7000-7009 and 7100-7109 the strongest
# change within 180 ms of a true edge lay within 22 ms of it at 45 of 48 edges, at 2.9-14 times the
# median; away from bad stretches it peaked at 1.7-3.3 times. Good beats reported, before -> after:
# seeds 7000-7009 360 -> 363 of 367, 7020-7029 408 -> 411 of 423, 7100-7109 339 -> 344 of 358,
# 7300-7309 297 -> 301 of 355; beats inside bad stretches 1 -> 0 in 7100-7109 and in 7300-7309.
# EDGE_CHANGE 2.5-3.5 gave the same within 2 beats; 4 left both of those beats inside.
EDGE_REACH = 0.5  # at most half a stride: the columns moved over stay inside the windows on both sides
EDGE_CHANGE = 3.0
CHANGE_HALF_S = 0.02  # image_change compares this much of the image on either side of a column
CHANGE_BANDS = 8
# A beat whose LVID;d is below MIN_DIASTOLE_FRACTION of the recording's typical one (the median of
# the beats that pass the quality gate) is not good: the cursor cut the ventricle beside its widest
# diameter (a probe slipping, an animal moving) or a stretch of nonsense made a peak of its own. On
# 40 phantoms (seeds 7000-7019 held-out, 7100-7119 training families) with the shipped networks: the
# 1452 beats that match a true beat had at least 0.81; 18 beats inside bad stretches had less than
# 0.75, one of them reported (0.64, at the end of a probe slip in seed 7005).
MIN_DIASTOLE_FRACTION = 0.7


@dataclass
class Analysis:
    """Everything both CSV modes and all plots are written from."""

    path: Path
    calibration: Calibration
    image: np.ndarray  # (rows, width) float32 grey
    mask: np.ndarray  # (rows, width) bool cavity, between the traced endocardia
    lvid_mm: np.ndarray  # (width,), 0 where no cavity was found
    column_scores: np.ndarray  # (width,) per column, classifier score of the nearest quality window or 0
    threshold: float
    beats: list[Beat]  # every detected beat, each with its quality and good flag
    timings: dict = field(default_factory=dict)
    borders: np.ndarray | None = None  # (4, width) rows: mmode.borders.trace_borders
    lvaw_mm: np.ndarray | None = None  # (width,) wall thicknesses, NaN without wall classes
    lvpw_mm: np.ndarray | None = None

    @property
    def has_walls(self) -> bool:
        return self.lvaw_mm is not None and bool(np.isfinite(self.lvaw_mm).any())

    @property
    def seconds_per_px(self) -> float:
        return self.calibration.seconds_per_px

    @property
    def good_beats(self) -> list[Beat]:
        return [b for b in self.beats if b.good]

    def good_columns(self) -> np.ndarray:
        """(width,) bool: columns whose nearest quality window is good and that no column check calls bad."""
        return self.column_scores >= self.threshold

    @property
    def good_fraction(self) -> float:
        return float(self.good_columns().mean())


def gate_beats(beats: list[Beat], scores_per_column: np.ndarray, threshold: float) -> list[Beat]:
    """Give each beat the lowest quality score of its whole cycle; good if it passes and its LVID;d
    is not much below the recording's typical one (MIN_DIASTOLE_FRACTION).

    The original kept an event when its own column was good; but a beat's heart rate
    runs to the next end-diastole, and a bad stretch anywhere in the cycle can hide a
    missed end-diastole or move the borders it was measured between.
    """
    gated = []
    for beat in beats:
        quality = float(scores_per_column[beat.ed_index:beat.next_ed_index + 1].min())
        gated.append(dataclasses.replace(beat, quality=quality, good=quality >= threshold))
    passed = [b.lvid_d_mm for b in gated if b.good]
    if passed:
        smallest = MIN_DIASTOLE_FRACTION * float(np.median(passed))
        gated = [dataclasses.replace(b, good=False) if b.good and b.lvid_d_mm < smallest else b for b in gated]
    return gated


def _spread(pixels: np.ndarray) -> float:
    return float(np.diff(np.percentile(pixels, [50, 99]))[0])


def echo_free(windows) -> np.ndarray:
    """(n,) bool: windows, or their lower halves, without echoes worth the name (MIN_ECHO_GREY, ECHO_FRACTION).

    Every fourth pixel is enough for percentiles and ten times faster.
    """
    if len(windows) == 0:
        return np.zeros(0, dtype=bool)
    sampled = [w[::4, ::4] for w in windows]
    bad = np.zeros(len(sampled), dtype=bool)
    for part in (sampled, [w[w.shape[0] // 2:] for w in sampled]):
        spread = np.array([_spread(w) for w in part])
        bad |= (spread < MIN_ECHO_GREY) | (spread < ECHO_FRACTION * np.median(spread))
    return bad


def shadowed(image: np.ndarray, borders: np.ndarray) -> np.ndarray:
    """(width,) bool: columns whose posterior wall is lost in a shadow (SHADOW_MEDIAN_PX, SHADOW_FRACTION).

    ``borders`` (4, width) rows as mmode.borders.trace_borders; every fourth row is enough.
    """
    rows, width = image.shape
    known = np.isfinite(borders[1]) & np.isfinite(borders[2])
    if not known.any():
        return np.zeros(width, dtype=bool)
    ant, post = (np.where(known, b, np.median(b[known])) for b in borders[1:3])
    sampled, r = image[::4], np.arange(0, rows, 4)[:, None]
    cavity = (r >= ant[None, :]) & (r < post[None, :]) & known[None, :]
    floor = float(np.median(sampled[cavity])) if cavity.any() else 0.0
    below = r >= post[None, :]
    echo = (sampled * below).sum(axis=0) / np.maximum(below.sum(axis=0), 1) - floor
    echo = median_filter(echo, SHADOW_MEDIAN_PX)
    return echo < SHADOW_FRACTION * np.percentile(echo[known], 75)


def brightened(image: np.ndarray, shadow: np.ndarray) -> np.ndarray:
    """(width,) bool: columns far brighter than the rest (BRIGHT_MEDIAN_PX, BRIGHT_FRACTION).

    The rest: the median of the columns not in ``shadow`` (:func:`shadowed`), all if every one is.
    """
    grey = median_filter(image[::4].mean(axis=0), BRIGHT_MEDIAN_PX)
    return grey > BRIGHT_FRACTION * np.median(grey if shadow.all() else grey[~shadow])


def displaced(borders: np.ndarray, mm_per_px: float) -> np.ndarray:
    """(width,) bool: columns whose cavity has moved away from where it usually is (DRIFT_MEDIAN_PX, DRIFT_MM)."""
    centre = (borders[1] + borders[2]) / 2
    known = np.isfinite(centre)
    if not known.any():
        return np.zeros(centre.size, dtype=bool)
    centre = median_filter(np.where(known, centre, np.median(centre[known])), DRIFT_MEDIAN_PX)
    return np.abs(centre - np.median(centre)) * mm_per_px > DRIFT_MM


def widened(flags: np.ndarray, margin: int) -> np.ndarray:
    """``flags`` with ``margin`` more columns on both sides of every flagged run."""
    if margin <= 0 or not flags.any():
        return flags
    return np.convolve(flags.astype(np.int64), np.ones(2 * margin + 1, dtype=np.int64), mode="same") > 0


def image_change(image: np.ndarray, half: int) -> np.ndarray:
    """(width,) how much the image changes at each column: the mean over CHANGE_BANDS bands of rows of
    how far their mean grey over the ``half`` columns before the column lies from that over the
    ``half`` columns from it on; 0 within ``half`` of either end.

    A probe taken off or slipping, a gain jump, clutter or a shadow changes the grey of whole bands at
    once; the heart's motion moves thin borders within them.
    """
    rows, width = image.shape
    change = np.zeros(width)
    if width <= 2 * half or half < 1:
        return change
    grey = np.stack([image[band].mean(axis=0) for band in np.array_split(np.arange(rows), CHANGE_BANDS)])
    running = np.concatenate([np.zeros((CHANGE_BANDS, 1)), np.cumsum(grey, axis=1)], axis=1)
    at = np.arange(half, width - half + 1)
    before = running[:, at] - running[:, at - half]
    after = running[:, at + half] - running[:, at]
    change[at] = np.abs(after - before).mean(axis=0) / half
    return change


def settled_edges(bad: np.ndarray, change: np.ndarray, reach: int, least: float):
    """``bad`` (width,) bool with the edge of every bad run moved to the strongest ``change`` within
    ``reach`` columns of it, where that is at least ``least``; other edges stay. Returns the new
    flags and the columns the moved edges now lie at (the first column of the run after them)."""
    out, moved = bad.copy(), []
    for edge in np.flatnonzero(bad[1:] != bad[:-1]) + 1:  # first column of a new run
        lo, hi = max(edge - reach, 1), min(edge + reach + 1, bad.size)
        to = lo + int(np.argmax(change[lo:hi]))
        if change[to] < least:
            continue
        out[min(edge, to):max(edge, to)] = bad[edge] == (to < edge)
        moved.append(to)
    return out, np.array(moved, dtype=np.int64)


def window_extremes(starts: np.ndarray, side: int, scores: np.ndarray, width: int):
    """(lowest, highest) score per column of the windows that cover it, each (width,)."""
    lowest, highest = np.full(width, np.inf), np.full(width, -np.inf)
    for start, score in zip(starts, scores):
        lowest[start:start + side] = np.minimum(lowest[start:start + side], score)
        highest[start:start + side] = np.maximum(highest[start:start + side], score)
    return lowest, highest


def saturated(windows) -> np.ndarray:
    """(n,) bool: windows of which more than MAX_SATURATED is full white."""
    return np.array([np.mean(w[::4, ::4] >= SATURATED_GREY) > MAX_SATURATED for w in windows], dtype=bool)


class Networks(Protocol):
    """What the analysis needs of the two networks; pipeline.models.Models is one."""

    def segment(self, image: np.ndarray) -> np.ndarray:
        """The four LV borders (4, width) rows of a stitched grey image (rows, width): mmode.borders."""

    def classify(self, windows: list[np.ndarray]) -> np.ndarray:
        """Quality scores (n,) 0-1 of grey windows; from ``threshold`` on, a window is good."""


@dataclass(frozen=True)
class Settings:
    """The options of one analysis.

    crop_ratio : quality-window side as a fraction of the image height (mmode.windows.crop_ratio).
    threshold : quality score (0-1) from which a window is good.
    """

    crop_ratio: float
    threshold: float = 0.5

    @classmethod
    def for_mass(cls, mass_g, path=None, threshold: float = 0.5) -> "Settings":
        """Settings for a mouse of ``mass_g`` grams; BadMassError (naming ``path``) for an unusable mass."""
        return cls(crop_ratio(mass_g, path), threshold)


@contextmanager
def timed(timings: dict, stage: str):
    """Add the seconds the block takes to ``timings[stage]``: every stage time is taken this way."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - started


def analyse(recording: Recording, networks: Networks, settings: Settings) -> Analysis:
    """Segment, classify quality, find and gate the beats of a stitched recording.

    The one analysis of the project: the command lines, ``timeseries`` and the tools
    all call it. Stage times go to ``Analysis.timings``; the callers add theirs
    (reading, graphs) with :func:`timed`.

    Raises
    ------
    mmode.errors.EchoInputError subclasses for unusable input; a NoCavityError carries
    what the segmenter found as ``error.analysis``.
    """
    path, image, cal = recording.path, recording.image, recording.calibration
    rows, width = image.shape
    if width < rows:
        raise RecordingTooShortError(path, f"stitched recording has {width} columns ({recording.duration_s:.2f} s), "
                                           f"shorter than one {rows}-column analysis window")

    if image.std() < MIN_CONTRAST:
        raise NoCavityError(path, "no left-ventricular cavity: the M-mode image is blank")
    timings = {}
    with timed(timings, "segmentation"):
        borders = networks.segment(image)
        sizes = diameters_mm(borders, cal.mm_per_px)
        lvid = np.nan_to_num(sizes["lvid"], nan=0.0)
        mask = cavity_mask(borders, rows)
    plausible = (lvid > 0) & (lvid < MAX_CAVITY_ROWS * rows * cal.mm_per_px)
    if np.count_nonzero(plausible) < MIN_CAVITY_COLUMNS * width:
        error = NoCavityError(path, "no left-ventricular cavity found by the segmentation")
        # What the segmenter did find, so that the command lines can draw it for the user to see why.
        error.analysis = Analysis(path, cal, image, mask, lvid, np.full(width, np.nan), settings.threshold, [],
                                  timings, borders, sizes["lvaw"], sizes["lvpw"])
        raise error

    with timed(timings, "quality"):
        side = min(int(rows * settings.crop_ratio), width)
        starts = tile_starts(width, side, max(side // 2, 1))
        tops = [vertical_start(mask[:, s:s + side], side) for s in starts]
        windows = [image[t:t + side, s:s + side] for t, s in zip(tops, starts)]
        view = stretched(image)  # what the classifier sees (mmode.windows.stretched); the checks see the grey as it is
        scores = np.where(echo_free(windows) | saturated(windows), 0.0,
                          networks.classify([view[t:t + side, s:s + side] for t, s in zip(tops, starts)]))
        per_column = column_scores(starts, side, scores, width)
        margin = int(round(CHECK_MARGIN_S / cal.seconds_per_px))
        disliked = per_column < settings.threshold
        if disliked.any() and not disliked.all():  # settle the classifier's edges on the image (EDGE_REACH)
            change = image_change(image, max(1, int(round(CHANGE_HALF_S / cal.seconds_per_px))))
            settled, moved = settled_edges(disliked, change, int(EDGE_REACH * max(side // 2, 1)),
                                           EDGE_CHANGE * float(np.median(change[change > 0])))
            lowest, highest = window_extremes(starts, side, scores, width)
            per_column = np.where(settled & ~disliked, lowest, np.where(disliked & ~settled, highest, per_column))
            at_moved = np.zeros(width, dtype=bool)
            at_moved[moved] = True
            per_column = np.where(widened(at_moved, margin) & ~settled, 0.0, per_column)
        shadow = shadowed(image, borders)
        unusable = shadow | brightened(image, shadow) | displaced(borders, cal.mm_per_px)
        per_column = np.where(widened(unusable, margin), 0.0, per_column)

    with timed(timings, "beats"):
        beats = gate_beats(detect_beats(lvid, cal.seconds_per_px, sizes["lvaw"], sizes["lvpw"]), per_column,
                           settings.threshold)
    if not beats:
        log.info("%s: no complete heart beat found", path)  # the command lines warn in one line (mmode.cli)
    return Analysis(path, cal, image, mask, lvid, per_column, settings.threshold, beats, timings, borders,
                    sizes["lvaw"], sizes["lvpw"])
