"""The original's helper module, with its public names and meanings kept.

``EchoCard(filepath)`` reads and stitches a DICOM M-mode export; the functions
below are the original's steps. The work is done in :mod:`mmode`; this module
keeps scripts written against the original working.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mmode.analysis import Analysis, Settings, analyse
from mmode.beats import CORRECTED_MASS_FACTOR, Beat, detect_beats, lv_mass_mg, teichholz_ul
from mmode.borders import MIN_LOG_PROB, best_runs, diameters_mm, trace_borders
from mmode.dicom_io import Frames, RegionBox
from mmode.errors import RecordingTooShortError
from mmode.recording import load_recording
from mmode.stitch import find_shift, stitch
from mmode.windows import crop_ratio, tile_starts, vertical_start

__all__ = ["EchoCard", "make_timeseries", "make_seg_windows", "connect_masks", "get_vols", "get_diastoles",
           "get_systoles", "get_heartrate", "weight_to_size", "make_quality_windows_aut",
           "make_quality_windows_man", "compute_teicholz", "find_overlap", "get_borders", "get_wall_thickness",
           "get_walls", "compute_lv_mass"]


class EchoCard:
    """A stitched M-mode recording, with the original's methods and attributes.

    The original's scripts call, in this order: ``make_timeseries()``,
    ``make_seg_windows()``, a segmenter on each window (e.g.
    ``heart_segmentation.predict_single``), ``connect_masks(masks)``, ``get_vols()``,
    ``get_diastoles()``, ``get_systoles()``, ``get_heartrate(peaks)``,
    ``weight_to_size(weight)`` and ``make_quality_windows_man()`` or ``_aut()``. The
    methods keep those meanings and return shapes; the work is the pipeline's: the
    LVID of a column is measured between the borders of the one cavity run
    (mmode.borders), and the diastoles and systoles are the paired end-diastoles and
    end-systoles of whole beats (mmode.beats), in the same order.

    Attributes
    ----------
    recording : the mmode.recording.Recording read from the file; ``analyse`` measures it as the
        command lines do.
    image : (rows, width) float32 grey 0-255, stitched when the file is read.
    time_res : seconds per pixel (column).
    len_res : millimetres per pixel (row).
    region_min_x, region_max_x, region_min_y, region_max_y : the M-mode region in the frames.
    mask : (rows, width) cavity mask once connected (or set), else None.
    overlap : columns of the last segmentation window already in the one before (make_seg_windows).
    crop_size : side of the quality windows (weight_to_size).
    lvids, vols : LVID (mm) and Teichholz volume (uL) per column, lists (get_vols).
    """

    QUALITY_TOP = 60  # first row of the original's make_quality_windows_aut windows

    def __init__(self, filepath):
        self.filepath = Path(filepath)
        self.recording = recording = load_recording(self.filepath)
        self.calibration = recording.calibration
        self.time_res = recording.calibration.seconds_per_px
        self.len_res = recording.calibration.mm_per_px
        box = recording.calibration.region
        self.region_min_x, self.region_max_x, self.region_min_y, self.region_max_y = box.x0, box.x1, box.y0, box.y1
        self.image = recording.image
        self.mask = None
        self.overlap = self.crop_size = None
        self.lvids = self.vols = None

    @property
    def region(self) -> RegionBox:
        return self.calibration.region

    def make_timeseries(self) -> None:
        """The original stitched the frames here; ours are stitched when the file is read."""

    def make_seg_windows(self) -> list[np.ndarray]:
        """Square windows of side = image height tiling the image (last right-aligned); sets ``overlap``."""
        windows, self.overlap = make_seg_windows(self.image)
        return windows

    def connect_masks(self, masks, overlap: int | None = None) -> np.ndarray:
        """One mask from the windows' masks, each resized (nearest) to its window; sets ``mask``."""
        side = self.image.shape[0]
        fitted = [np.asarray(m) if np.shape(m) == (side, side) else _resized_nearest(np.asarray(m), side)
                  for m in masks]
        self.mask = connect_masks(fitted, self.overlap if overlap is None else overlap)
        return self.mask

    def lvid(self) -> np.ndarray:
        """LV inner diameter per column (mm): the length of the mask's one cavity run in each column.

        The run is the most likely single one (mmode.borders.best_runs): islands and holes
        in a mask cannot change a diameter; a clean mask gives its pixel count.
        """
        if self.mask is None:
            raise RecordingTooShortError(self.filepath, "no cavity mask yet; segment the image first")
        cavity = np.asarray(self.mask, dtype=bool)
        certain = np.where(np.stack([~cavity, cavity]), 0.0, MIN_LOG_PROB).astype(np.float32)
        top, bottom = best_runs(certain, (0, 1, 0))  # the mask's classes: 0 outside, 1 cavity
        return (bottom - top) * self.len_res

    def beats(self) -> list[Beat]:
        return detect_beats(self.lvid(), self.time_res)

    def get_vols(self) -> None:
        """Set ``lvids`` (mm) and ``vols`` (uL, Teichholz) per column, as lists."""
        lvid = self.lvid()
        self.lvids, self.vols = lvid.tolist(), teichholz_ul(lvid).tolist()

    def _paired_beats(self) -> list[Beat]:
        if self.lvids is None:
            self.get_vols()
        return detect_beats(np.asarray(self.lvids), self.time_res)

    def get_diastoles(self):
        """(columns, LVID;d list in mm, LV Vol;d list in uL) of the end-diastoles."""
        beats = self._paired_beats()
        lvid = [b.lvid_d_mm for b in beats]
        return np.array([b.ed_index for b in beats], dtype=int), lvid, teichholz_ul(lvid).tolist()

    def get_systoles(self):
        """(columns, LVID;s list in mm, LV Vol;s list in uL) of the end-systoles, in the order of get_diastoles."""
        beats = self._paired_beats()
        lvid = [b.lvid_s_mm for b in beats]
        return np.array([b.es_index for b in beats], dtype=int), lvid, teichholz_ul(lvid).tolist()

    def get_heartrate(self, peaks) -> list[float]:
        """Heart rate (bpm) between each two consecutive columns of ``peaks`` (one fewer than peaks)."""
        return [60.0 / (int(b - a) * self.time_res) for a, b in zip(peaks[:-1], peaks[1:])]

    def weight_to_size(self, weight) -> None:
        """Set ``crop_size``, the quality windows' side, from the mouse's body mass (g)."""
        self.crop_size = weight_to_size(weight, self.image.shape[0])

    def _quality_windows(self, top: int):
        side, width = self.crop_size, self.image.shape[1]
        starts = list(range(0, width - side + 1, side)) + [width - side]  # the last one right-aligned
        times = [(k * side, min((k + 1) * side, width)) for k in range(len(starts))]
        return [self.image[top:top + side, s:s + side] for s in starts], times

    def make_quality_windows_aut(self):
        """(windows, (first column, end column) of each): rows from QUALITY_TOP, ``crop_size`` tiles."""
        return self._quality_windows(self.QUALITY_TOP)

    def make_quality_windows_man(self):
        """As make_quality_windows_aut, with the rows centred on the mask's mean cavity row."""
        rows = np.nonzero(np.asarray(self.mask, dtype=bool))[0]
        return self._quality_windows(max(int(rows.mean()) - self.crop_size // 2, 0) if rows.size else 0)

    def analyse(self, networks, weight, threshold: float = 0.5) -> Analysis:
        """What end2end_framework.py measures in this recording: mmode.analysis.analyse with ``networks``
        (e.g. ``pipeline.models.load_models(...)``), a mouse of ``weight`` grams, the quality ``threshold``."""
        return analyse(self.recording, networks, Settings.for_mass(weight, self.filepath, threshold))


def _resized_nearest(mask: np.ndarray, side: int) -> np.ndarray:
    """A 2-D mask resized to side x side with nearest neighbour (cv2.INTER_NEAREST's pixel centres)."""
    rows = (np.arange(side) * mask.shape[0] / side).astype(int)
    cols = (np.arange(side) * mask.shape[1] / side).astype(int)
    return mask[rows][:, cols]


def find_overlap(prev: np.ndarray, nxt: np.ndarray) -> int | None:
    """Columns that frame ``nxt`` adds to ``prev`` (0: identical); None when they do not overlap."""
    return find_shift(prev, nxt)


def make_timeseries(frames: np.ndarray) -> np.ndarray:
    """Stitch grey frames (n, rows, cols) of a scrolling display into one (rows, width) image."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[..., None]
    return stitch(Frames(Path("<array>"), None, frames))  # stitching needs no calibration


def make_seg_windows(image: np.ndarray):
    """Square windows of side = image height tiling the image; the last is right-aligned.

    Returns
    -------
    windows : list of (rows, rows) arrays
    overlap : int, columns of the last window already covered by the one before
    """
    rows, width = image.shape
    starts = tile_starts(width, rows)
    overlap = int(starts[-2] + rows - starts[-1]) if len(starts) > 1 else 0
    return [image[:, s:s + rows] for s in starts], overlap


def connect_masks(masks, overlap: int) -> np.ndarray:
    """Concatenate window masks back into one, dropping the last window's overlap."""
    if len(masks) == 1:
        return np.asarray(masks[0])
    return np.concatenate([*masks[:-1], np.asarray(masks[-1])[:, overlap:]], axis=1)


def compute_teicholz(diameter_mm):
    """Teichholz volume (uL) of an LV inner diameter (mm)."""
    return teichholz_ul(diameter_mm)


def get_vols(lvid):
    """Volume (uL) per column of an LVID series (mm)."""
    return teichholz_ul(lvid)


def _beats(lvid, time_res: float):
    return detect_beats(np.asarray(lvid, dtype=np.float64), time_res)


def get_diastoles(lvid, time_res: float):
    """End-diastoles of the accepted beats: (column indices, LVID;d mm, times s)."""
    beats = _beats(lvid, time_res)
    return (np.array([b.ed_index for b in beats], dtype=int), np.array([b.lvid_d_mm for b in beats]),
            np.array([b.ed_time_s for b in beats]))


def get_systoles(lvid, time_res: float):
    """End-systoles of the same beats, in the same order: (indices, LVID;s mm, times s)."""
    beats = _beats(lvid, time_res)
    return (np.array([b.es_index for b in beats], dtype=int), np.array([b.lvid_s_mm for b in beats]),
            np.array([b.es_time_s for b in beats]))


def get_heartrate(lvid, time_res: float):
    """Heart rate of each accepted beat: (bpm, time of its end-diastole s)."""
    beats = _beats(lvid, time_res)
    return np.array([b.heart_rate_bpm for b in beats]), np.array([b.ed_time_s for b in beats])


def get_borders(log_prob):
    """The four LV borders per column (4, width) rows from class log-probabilities (mmode.borders)."""
    return trace_borders(np.asarray(log_prob, dtype=np.float32))


def get_wall_thickness(borders, len_res: float):
    """Per column (LVID, LVAW, LVPW) in mm from the four borders (NaN where a border is missing)."""
    sizes = diameters_mm(np.asarray(borders, dtype=np.float64), len_res)
    return sizes["lvid"], sizes["lvaw"], sizes["lvpw"]


def compute_lv_mass(lvid_d, lvaw_d, lvpw_d):
    """LV Mass AW (mg) and LV Mass AW (Corrected) (mg), Vevo LAB's formulas."""
    mass = lv_mass_mg(np.asarray(lvid_d), np.asarray(lvaw_d), np.asarray(lvpw_d))
    return mass, CORRECTED_MASS_FACTOR * mass


def get_walls(lvid, lvaw, lvpw, time_res: float) -> dict:
    """Wall thicknesses and LV mass of each accepted beat, in the order of get_diastoles.

    Returns a dict of arrays: ``LVAW;d``, ``LVAW;s``, ``LVPW;d``, ``LVPW;s`` (mm),
    ``LV Mass AW`` and ``LV Mass AW (Corrected)`` (mg).
    """
    beats = detect_beats(np.nan_to_num(np.asarray(lvid, dtype=np.float64)), time_res, lvaw, lvpw)
    out = {name: np.array([getattr(b, f"{key}_mm") for b in beats])
           for name, key in (("LVAW;d", "lvaw_d"), ("LVAW;s", "lvaw_s"), ("LVPW;d", "lvpw_d"), ("LVPW;s", "lvpw_s"))}
    out["LV Mass AW"] = np.array([b.lv_mass_mg for b in beats])
    out["LV Mass AW (Corrected)"] = np.array([b.lv_mass_corrected_mg for b in beats])
    return out


def weight_to_size(weight_g: float, height_px: int) -> int:
    """Quality-window side (px) for a mouse of ``weight_g`` grams and an image ``height_px`` tall."""
    return int(height_px * crop_ratio(weight_g))


def make_quality_windows_man(image: np.ndarray, side: int, top: int = 0):
    """Windows of ``side`` x ``side`` starting at row ``top``, tiled along time (last right-aligned).

    Returns (windows, left columns).
    """
    starts = tile_starts(image.shape[1], side)
    return [image[top:top + side, s:s + side] for s in starts], starts


def make_quality_windows_aut(image: np.ndarray, mask: np.ndarray, weight_g: float):
    """Windows sized by body mass and centred (per window) on the segmented cavity.

    Returns (windows, left columns).
    """
    side = min(weight_to_size(weight_g, image.shape[0]), image.shape[1])
    starts = tile_starts(image.shape[1], side)
    tops = [vertical_start(mask[:, s:s + side], side) for s in starts]
    return [image[t:t + side, s:s + side] for t, s in zip(tops, starts)], starts
