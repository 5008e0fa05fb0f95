"""Synthetic Vevo-like M-mode recordings with exact ground truth.

A phantom is a scrolling M-mode trace of a mouse left ventricle rendered
into the screenshots a VisualSonics Vevo scanner exports: an Ultrasound
Multi-frame Image whose frames overlap, with screen furniture around the
M-mode region and a SequenceOfUltrasoundRegions that calibrates it.

Beside every ``NAME.dcm`` the generator writes

* ``NAME.truth.json``: calibration, region box, stitched width, the per-beat
  table, good/bad intervals and the settings that made it;
* ``NAME.borders.csv``: the four border traces per stitched column (rows
  inside the M-mode region) and the true LVID in mm, the annotation format
  ``heart_segmentation/create_dataset.py`` reads;
* ``quality_annotations.csv`` in the output folder: one row per recording in
  the original's Recording/Good-Start/Good-End/Bad-Start/Bad-End format.

Time is discrete: a column is one sample, end-diastoles and end-systoles fall
on whole columns, so a beat's true heart rate is exactly
``60 / (columns between end-diastoles * seconds_per_px)``.

Usage::

    python phantom.py -o phantoms --seed 7 -n 4 --jpeg
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from mmode.annotations import BORDER_COLUMNS, borders_path, cavity_mask
from mmode.cli import in_range

log = logging.getLogger(__name__)

SECONDS_PER_PX = 0.00083334
MM_PER_PX = 0.011526
CM_PER_MM = 0.1
BAD_KINDS = ("probe_slip", "gain_jump", "motion_burst", "probe_off", "clutter", "dropout")
# Rendering families: different texture models, not only different parameters. The shipped networks
# never train on HELD_OUT_FAMILY, so that accuracy on it measures generalisation, not fit, nor on
# LAB_FAMILY, which stands in for a lab's own recordings in tools/fine_tune_curve.py: a scanner whose
# blood is echogenic ("smoke", grey rather than black) and whose tissue is a sum of point scatterers.
FAMILIES = ("streaks", "mottled", "fibres", "speckle", "smoke")
HELD_OUT_FAMILY = "speckle"
LAB_FAMILY = "smoke"
TRAINING_FAMILIES = tuple(f for f in FAMILIES if f not in (HELD_OUT_FAMILY, LAB_FAMILY))
EARLY_FILLING = 0.55  # fraction of the diameter change regained before the atrial kick
MIN_SWING_MM = 0.7  # LVID;d - LVID;s at least this
MIN_TIP_SLOPE_PX = 2.5  # rows per column that the diameter changes beside each end-diastole
EDGE_PX = 30  # beats with an end-diastole this close to either end are not ground truth (unconfirmable)
# An operator sets gain and dynamic range so that the myocardium shows: under log compression its
# echo stays this far above the display's floor. Without it, a dim wall under a narrow dynamic range
# drew as black as the blood (seeds 7100 and 7107: 64 % and 85 % of the posterior wall's pixels 0),
# and a "good" recording had borders that nobody could see. 9 dB: the bundled example (9.8) is kept.
MIN_WALL_DB = 9.0

# DICOM code values (PS3.3 C.8.5.5.1).
SPATIAL_2D, SPATIAL_MMODE, SPATIAL_WAVEFORM = 1, 2, 4
DATA_TISSUE, DATA_ECG = 1, 9
UNITS_NONE, UNITS_CM, UNITS_SECONDS = 0, 3, 4
US_MULTIFRAME_SOP = "1.2.840.10008.5.1.4.1.1.3.1"


@dataclass(frozen=True)
class PhantomConfig:
    """Everything that shapes one phantom; ``None`` means drawn from the seed."""

    seed: int = 0
    n_frames: int = 49
    region_rows: int = 616
    region_cols: int = 1024
    frame_rows: int = 800
    frame_cols: int = 1200
    mmode_index: int = 2
    photometric: str = "RGB"  # or "MONOCHROME2"
    jpeg: bool = False
    jpeg_quality: int = 92
    implicit_vr: bool = False
    seconds_per_px: float = SECONDS_PER_PX
    mm_per_px: float | None = None  # None: a depth setting drawn so that the heart fits
    shift_px: tuple[int, int] = (92, 112)
    duplicate_prob: float = 0.05
    heart_rate_bpm: float | None = None
    lvid_d_mm: float | None = None
    lvid_s_mm: float | None = None
    wall_mm: float | None = None
    # Bad-acquisition segments: (kind, start_s, duration_s); None draws 0-2.
    bad_segments: tuple[tuple[str, float, float], ...] | None = None
    # Domain randomisation; None draws a value per phantom.
    gain: float | None = None
    contrast: float | None = None
    speckle_px: float | None = None
    noise: float | None = None
    wall_brightness: float | None = None
    heart_depth_mm: float | None = None
    family: str | None = None  # one of FAMILIES; None draws one of TRAINING_FAMILIES
    # 0: ejection slows to a rounded end-systole, as in every phantom the shipped networks were trained
    # on; 1: it reaches end-systole at full speed, a pointed turn as in some beats of the real
    # annotated_borders.png. None draws 0-1 per recording (README: Accuracy, the pointed-turn run).
    systolic_tip: float | None = 0.0


@dataclass
class Phantom:
    """A generated recording: the stitched trace and its ground truth."""

    config: PhantomConfig
    image: np.ndarray  # (rows, width) uint8, the true stitched M-mode image
    borders: np.ndarray  # (4, width) float rows: ant. epi, ant. endo, post. endo, post. epi
    frame_starts: np.ndarray  # (n_frames,) first stitched column shown by each frame
    beats: list[dict]
    bad_intervals: list[tuple[float, float]]  # seconds
    ecg: np.ndarray  # (width,) ECG amplitude, -1..1
    settings: dict = field(default_factory=dict)
    bad_kinds: list[str] = field(default_factory=list)  # one of BAD_KINDS per bad interval

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def lvid_mm(self) -> np.ndarray:
        """True per-column LV inner diameter (mm), shape (width,)."""
        return (self.borders[2] - self.borders[1]) * self.config.mm_per_px

    def cavity_mask(self) -> np.ndarray:
        """Ground-truth cavity mask (rows, width) bool: ant. endo <= row < post. endo."""
        return cavity_mask(self.borders, self.image.shape[0])

    def good_intervals(self) -> list[tuple[float, float]]:
        duration = self.width * self.config.seconds_per_px
        return complement(self.bad_intervals, duration)


def complement(intervals: list[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """Intervals of [0, duration] not covered by the sorted ``intervals``."""
    out, start = [], 0.0
    for lo, hi in sorted(intervals):
        if lo > start:
            out.append((start, lo))
        start = max(start, hi)
    if start < duration:
        out.append((start, duration))
    return out


def _draw(rng: np.random.Generator, value, lo: float, hi: float, log: bool = False) -> float:
    """``value``, or one drawn uniformly (log-uniformly) from lo-hi when it is None."""
    if value is not None:
        return float(value)
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if log else float(rng.uniform(lo, hi))


def _cycle_shape(n: int, n_sys: int, fall_px: float = 100.0, rise_px: float = 100.0,
                 tip: float = 0.0) -> np.ndarray:
    """Normalised LV diameter over one beat of ``n`` columns, 1 at end-diastole.

    End-diastole is the point of a V: ejection falls almost linearly to an
    end-systolic trough at column ``n_sys``, rounded or pointed (``tip``); relaxation fills in two
    phases, rapid early filling and the accelerating atrial kick that ends in
    the next V. ``fall_px`` and ``rise_px`` are the diameter changes of the two
    sides in pixels: where they are small for the beat's length, the tip is made
    sharper so that both sides fall by at least MIN_TIP_SLOPE_PX pixels per
    column, and the end-diastolic column stays the largest after the borders are
    rasterised to whole pixels. ``tip`` (0-1) is the share of the ejection that keeps its
    speed up to end-systole: 0 rounds the trough off, 1 makes it pointed; relaxation starts
    slowly either way (isovolumic relaxation).
    """
    t = np.arange(n, dtype=np.float64)
    n_relax = n - n_sys
    steep_power = MIN_TIP_SLOPE_PX * n_sys / max(fall_px, 1e-6)  # the power that makes the tip sharp enough
    fall_power = max(1.3, steep_power)
    rise_power = max(1.6, MIN_TIP_SLOPE_PX * 0.5 * n_relax / ((1 - EARLY_FILLING) * max(rise_px, 1e-6)))
    falling = 1.0 - np.minimum(t / n_sys, 1)
    # A linear fall keeps its speed at end-systole; where it would be too slow beside end-diastole,
    # the power that makes that tip sharp enough applies to it too.
    contraction = (1 - tip) * falling ** fall_power + tip * falling ** max(1.0, steep_power)
    y = np.clip((t - n_sys) / n_relax, 0, 1)
    early = EARLY_FILLING * 0.5 * (1 - np.cos(np.pi * np.minimum(y / 0.5, 1)))
    atrial = (1 - EARLY_FILLING) * (np.maximum(y - 0.5, 0) / 0.5) ** rise_power
    return np.where(t <= n_sys, contraction, early + atrial)


def _beats(rng, cfg, width, hr, lvid_d, lvid_s, tip=0.0):
    """Beat table and per-column diameter (mm) for ``width`` columns."""
    period = 60.0 / hr / cfg.seconds_per_px
    start = -int(rng.integers(0, int(period)))
    diameter = np.empty(width)
    beats = []
    d_next = lvid_d * (1 + 0.04 * rng.standard_normal())
    while start < width:
        n = int(round(period * (1 + 0.035 * rng.standard_normal())))
        n = int(np.clip(n, 60.0 / 1000 / cfg.seconds_per_px + 2, 60.0 / 250 / cfg.seconds_per_px))
        n_sys = int(round(n * rng.uniform(0.38, 0.46)))
        d_d = d_next
        d_s = min(lvid_s * (1 + 0.06 * rng.standard_normal()), d_d - MIN_SWING_MM)
        d_next = lvid_d * (1 + 0.04 * rng.standard_normal())
        shape = _cycle_shape(n, n_sys, (d_d - d_s) / cfg.mm_per_px, (d_next - d_s) / cfg.mm_per_px, tip)
        lo = np.where(np.arange(n) <= n_sys, d_d, d_next)  # level the cusp returns to
        segment = d_s + (lo - d_s) * shape
        a, b = max(start, 0), min(start + n, width)
        if b > a:
            diameter[a:b] = segment[a - start:b - start]
        beats.append({"ed_index": start, "es_index": start + n_sys, "next_ed_index": start + n,
                      "lvid_d_mm": d_d, "lvid_s_mm": d_s})
        start += n
    return beats, diameter


def _smooth_noise(rng, shape, sigma) -> np.ndarray:
    noise = rng.standard_normal(shape).astype(np.float32)
    return ndimage.gaussian_filter(noise, sigma, mode="wrap")


def _field(rng, shape, sigma) -> np.ndarray:
    """Smooth noise of zero mean and unit standard deviation."""
    field = _smooth_noise(rng, shape, sigma)
    return field / (field.std() + 1e-9)


def _bad_segments(rng, cfg, duration):
    if cfg.bad_segments is not None:
        return [(k, float(s), min(float(s + d), duration)) for k, s, d in cfg.bad_segments if s < duration]
    segments = []
    for _ in range(int(rng.integers(0, 3))):
        length = rng.uniform(0.35, 1.2)
        start = rng.uniform(0, max(duration - length, 0.01))
        if all(start > e + 0.3 or start + length < s - 0.3 for _, s, e in segments):
            segments.append((str(rng.choice(BAD_KINDS)), start, min(start + length, duration)))
    return sorted(segments, key=lambda s: s[1])


def _ecg(beats, width, seconds_per_px) -> np.ndarray:
    """A schematic ECG: an R wave shortly before each end-diastole."""
    t = np.arange(width)
    ecg = np.zeros(width)
    for beat in beats:
        r = beat["ed_index"] - int(0.004 / seconds_per_px)
        ecg += np.exp(-0.5 * ((t - r) / 3.0) ** 2) - 0.25 * np.exp(-0.5 * ((t - r - 8) / 4.0) ** 2)
        ecg += 0.2 * np.exp(-0.5 * ((t - r - 40) / 10.0) ** 2)
    return np.clip(ecg, -1, 1)


def generate(cfg: PhantomConfig) -> Phantom:
    """Build the stitched trace and ground truth of one phantom (no DICOM yet)."""
    rng = np.random.default_rng(cfg.seed)
    shifts = rng.integers(cfg.shift_px[0], cfg.shift_px[1] + 1, size=cfg.n_frames - 1)
    shifts[rng.random(cfg.n_frames - 1) < cfg.duplicate_prob] = 0
    frame_starts = np.concatenate([[0], np.cumsum(shifts)]).astype(np.int64)
    width = int(frame_starts[-1]) + cfg.region_cols
    rows = cfg.region_rows

    family = cfg.family or str(rng.choice(TRAINING_FAMILIES))
    if family not in FAMILIES:
        raise ValueError(f"unknown rendering family {family!r}; one of {', '.join(FAMILIES)}")
    hr = _draw(rng, cfg.heart_rate_bpm, 450, 800)
    lvid_d = _draw(rng, cfg.lvid_d_mm, 2.6, 4.5)
    lvid_s = _draw(rng, cfg.lvid_s_mm, max(1.1, lvid_d - 2.4), lvid_d - 0.9)
    wall = _draw(rng, cfg.wall_mm, 0.6, 1.9)
    # Parasternal view from the probe down: chest wall, right ventricle (free wall and cavity,
    # sometimes out of view), then the septum, which is the LV's anterior wall.
    chest_mm, rv_wall_mm = rng.uniform(0.15, 0.9), rng.uniform(0.12, 0.35)
    rv_cavity_mm = 0.0 if rng.random() < 0.35 else rng.uniform(0.15, 1.0)
    stacked = chest_mm + rv_wall_mm + rv_cavity_mm
    depth = _draw(rng, cfg.heart_depth_mm, stacked, stacked)  # one draw, so the seeds keep their phantoms
    settings = {
        "family": family, "heart_rate_bpm": hr, "lvid_d_mm": lvid_d, "lvid_s_mm": lvid_s,
        "wall_mm": wall, "posterior_wall_mm": wall * rng.uniform(0.8, 1.25),
        "heart_depth_mm": depth, "chest_mm": chest_mm, "rv_wall_mm": rv_wall_mm, "rv_cavity_mm": rv_cavity_mm,
        "gain": _draw(rng, cfg.gain, 0.75, 1.35),
        "contrast": _draw(rng, cfg.contrast, 0.7, 1.5),  # gamma of the grey map
        "speckle_px": _draw(rng, cfg.speckle_px, 2.0, 16.0),  # speckle length along time
        "noise": _draw(rng, cfg.noise, 0.0005, 0.008),  # electronic noise against the pericardium
        "wall_brightness": _draw(rng, cfg.wall_brightness, 0.005, 0.1, log=True),  # myocardium / pericardium
        "log_compression": bool(rng.random() < 0.75),  # else a power law
        "power": rng.uniform(0.3, 0.55),
        "dynamic_range_db": rng.uniform(40.0, 65.0),
        "blood": _draw(rng, None, 0.005, 0.1, log=True),  # blood echo against the myocardium
        "tgc_db": rng.uniform(-8.0, 10.0),  # gain change from top to bottom after attenuation
        "blur_px": (rng.uniform(0.3, 1.8), rng.uniform(0.2, 1.5)),  # (rows, columns)
        "specular": rng.uniform(0.0, 1.0),  # endocardial specular lines
        "broken": rng.uniform(0.2, 0.8),  # fraction of time the specular lines are missing
        "chordae": rng.uniform(0.0, 1.0),
        "wall_core": rng.uniform(0.0, 0.95),  # how much darker the middle of a wall is than its edges
    }
    if family == LAB_FAMILY:  # blood nearly as bright as the myocardium's dark middle, faint endocardia
        settings.update(blood=rng.uniform(0.15, 0.4), specular=rng.uniform(0.0, 0.3),
                        wall_core=rng.uniform(0.5, 0.95))
    settings["dynamic_range_db"] = max(settings["dynamic_range_db"],
                                       MIN_WALL_DB - 20 * np.log10(settings["wall_brightness"]))
    if cfg.mm_per_px is None:  # scanner depth setting: the whole heart fits
        needed = depth + 1.8 * wall + 1.1 * lvid_d + 1.7 * settings["posterior_wall_mm"] + 0.5
        cfg = dataclasses.replace(cfg, mm_per_px=max(rng.uniform(0.0095, 0.0135), needed / rows))
    cfg = dataclasses.replace(cfg, family=family)
    px = 1.0 / cfg.mm_per_px  # pixels per mm
    # Drawn from a stream of its own, so that every other draw of a seed stays what it was.
    tip = _draw(np.random.default_rng((cfg.seed, 1)), cfg.systolic_tip, 0.0, 1.0)
    settings["systolic_tip"] = tip
    beats, diameter = _beats(rng, cfg, width, hr, lvid_d, lvid_s, tip)
    duration = width * cfg.seconds_per_px
    segments = _bad_segments(rng, cfg, duration)

    # Border traces (rows). Respiration moves the whole heart; walls thicken in systole.
    t = np.arange(width) * cfg.seconds_per_px
    resp = 0.08 * px * np.sin(2 * np.pi * rng.uniform(1.8, 3.2) * t + rng.uniform(0, 6.3))
    squeeze = (diameter.max() - diameter) / max(np.ptp(diameter), 1e-6)  # 0 at diastole, 1 at systole
    # The anterior epicardium barely moves; the walls thicken in systole.
    ant_epi = depth * px + resp + rng.uniform(0.05, 0.2) * (diameter.max() - diameter) * px
    ant_endo = ant_epi + wall * px * (1 + rng.uniform(0.4, 0.9) * squeeze)
    post_endo = ant_endo + diameter * px
    # Papillary muscles rise from the posterior wall into the cavity around end-systole (rows above
    # the endocardium, per column). They are drawn, but the endocardium runs beneath them: LVID
    # excludes papillary muscles and chordae, and experts trace it so (in the real annotated_borders.png,
    # spikes of about 0.25 mm at end-systole rise above the expert's line). They used to be part of the
    # border and 0.01-0.07 mm high, and the segmenter took real ones for wall.
    papillary = np.zeros(width)
    for beat in beats:
        for _ in range(int(rng.integers(1, 4))):
            centre = beat["es_index"] + rng.integers(-12, 12)
            papillary += rng.uniform(0.03, 0.25) * px * np.exp(
                -0.5 * ((np.arange(width) - centre) / rng.uniform(2.0, 6.0)) ** 2)
    papillary = np.minimum(papillary, 0.4 * diameter * px)
    post_epi = post_endo + settings["posterior_wall_mm"] * px * (1.1 + rng.uniform(0.3, 0.7) * squeeze)
    rv_top = ant_epi - rv_cavity_mm * px * (1 - 0.35 * squeeze)  # the RV empties with the LV
    rv = np.stack([rv_top - rv_wall_mm * px, rv_top])
    # Keep the whole heart inside the region, with room for the pericardium below.
    overshoot = max(0.0, post_epi.max() - (rows - 0.25 * px))
    room = max(0.0, min(ant_epi.min() - 0.3 * px, rv[0].min() - 0.1 * px))
    lift = min(overshoot, room)
    ant_epi, ant_endo, post_endo, post_epi = (b - lift for b in (ant_epi, ant_endo, post_endo, post_epi))
    rv -= lift
    borders = np.stack([ant_epi, ant_endo, post_endo, post_epi])

    # Recompute beats from the actual traces so that the truth is exactly what is drawn.
    lvid = (post_endo - ant_endo) * cfg.mm_per_px
    table = []
    for beat in beats:
        ed, nxt = beat["ed_index"], beat["next_ed_index"]
        if ed < EDGE_PX or nxt >= width - EDGE_PX:
            continue
        es = ed + int(np.argmin(lvid[ed:nxt]))
        table.append({
            "ed_index": ed, "ed_time_s": ed * cfg.seconds_per_px,
            "es_index": es, "es_time_s": es * cfg.seconds_per_px,
            "next_ed_index": nxt, "lvid_d_mm": float(lvid[ed]), "lvid_s_mm": float(lvid[es]),
            "heart_rate_bpm": 60.0 / ((nxt - ed) * cfg.seconds_per_px),
            **wall_truth(borders.astype(np.float32), ed, es, cfg.mm_per_px),
        })
    for beat in table:
        lo, hi = beat["ed_time_s"], beat["next_ed_index"] * cfg.seconds_per_px
        beat["good"] = all(hi <= s or lo >= e for _, s, e in segments)

    image = _render(rng, cfg, settings, borders, rv, beats, segments, papillary)
    return Phantom(cfg, image, borders.astype(np.float32), frame_starts, table,
                   [(s, e) for _, s, e in segments], _ecg(beats, width, cfg.seconds_per_px), settings,
                   [k for k, _, _ in segments])


def wall_truth(borders: np.ndarray, ed: int, es: int, mm_per_px: float) -> dict:
    """True wall thicknesses (mm) at end-diastole and end-systole, and the Vevo LV mass (mg)."""
    aw = (borders[1] - borders[0]) * mm_per_px
    pw = (borders[3] - borders[2]) * mm_per_px
    lvid_d = float((borders[2, ed] - borders[1, ed]) * mm_per_px)
    mass = 1.053 * ((lvid_d + aw[ed] + pw[ed]) ** 3 - lvid_d ** 3)
    return {"lvaw_d_mm": float(aw[ed]), "lvaw_s_mm": float(aw[es]), "lvpw_d_mm": float(pw[ed]),
            "lvpw_s_mm": float(pw[es]), "lv_mass_mg": float(mass)}


# --- rendering --------------------------------------------------------------------------------
# Echo amplitudes are linear, relative to the myocardium's mean before ``wall_brightness``; the
# imaging chain (blur, attenuation, time-gain compensation, noise, log or power compression,
# grey map) turns them into grey values. Each family has its own texture model.

def _texture(rng, family: str, shape, settings) -> np.ndarray:
    """A tissue texture of mean about 1, sampled later in tissue-following coordinates."""
    sp = settings["speckle_px"]
    if family == "streaks":  # smooth speckle stretched along time: bright streaks
        tex = np.abs(_smooth_noise(rng, shape, (0.8, sp)))
        tex += 0.6 * np.abs(_smooth_noise(rng, shape, (1.5, sp * 2.5)))
    elif family == "mottled":  # fine speckle under coarse patches, parts nearly as dark as blood
        blobs = np.exp(rng.uniform(0.5, 1.1) * _field(rng, shape, (rng.uniform(3, 8), rng.uniform(6, 20))))
        tex = blobs * np.abs(_smooth_noise(rng, shape, (0.7, max(sp / 3, 1.0))))
    elif family == "fibres":  # thin layers parallel to the walls that come and go along time
        k = shape[0] // 6
        rows = np.arange(shape[0], dtype=np.float32)[:, None]
        profiles = rng.uniform(0.5, 2.5, size=k) * np.exp(
            -0.5 * ((rows - rng.uniform(0, shape[0], size=k)) / rng.uniform(0.6, 1.4, size=k)) ** 2)
        presence = np.clip(_field(rng, (k, shape[1]), (0, rng.uniform(8, 40))) + 0.3, 0, 1)
        tex = profiles.astype(np.float32) @ presence + 0.25 * np.abs(_field(rng, shape, (0.8, sp / 2)))
    elif family == "smoke":  # sparse point scatterers seen through the probe's point-spread function
        scatterers = rng.exponential(1.0, shape) * (rng.random(shape) < rng.uniform(0.05, 0.2))
        tex = ndimage.gaussian_filter(scatterers.astype(np.float32), (rng.uniform(0.7, 1.4), sp / 3 + 0.5))
    else:  # "speckle": fully developed speckle, the envelope of a filtered complex field (Rayleigh)
        sigma = (rng.uniform(0.6, 2.0), rng.uniform(1.0, sp / 2 + 1))
        re, im = _smooth_noise(rng, shape, sigma), _smooth_noise(rng, shape, sigma)
        tex = np.hypot(re, im) * np.exp(0.4 * _field(rng, shape, (10, 30)))
    return (tex / tex.mean()).astype(np.float32)


def _band(r, top, bottom):
    """Fraction of each pixel row inside [top, bottom), soft over one pixel."""
    return np.clip(r - top + 0.5, 0, 1) * np.clip(bottom - r + 0.5, 0, 1)


def _core(r, top, bottom, darkness):
    """Echo strength across a wall: 1 at its borders, 1 - ``darkness`` in its middle."""
    u = np.clip((r - top) / np.maximum(bottom - top, 1.0), 0, 1)
    return 1 - darkness * np.abs(np.sin(np.pi * u)) ** 0.7


def _line(r, centre, width_px):
    return np.exp(-0.5 * ((r - centre) / width_px) ** 2)


def _render(rng, cfg, settings, borders, rv, beats, segments, papillary) -> np.ndarray:
    rows, width = cfg.region_rows, borders.shape[1]
    px = 1.0 / cfg.mm_per_px
    shown, shown_rv = borders.copy(), rv.copy()
    fade = np.ones(width, dtype=np.float32)
    gain = np.full(width, settings["gain"], dtype=np.float32)
    replace = []  # (columns, weight, amplitude image of the bad stretch)
    for kind, start, end in segments:
        a, b = int(start / cfg.seconds_per_px), int(end / cfg.seconds_per_px)
        n = b - a
        ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / 25.0).astype(np.float32)
        if kind == "probe_slip":  # the heart drifts away and fades into clutter
            drift = ramp * np.linspace(0, rng.uniform(-1.5, 1.5) * px, n)
            shown[:, a:b] += drift
            shown_rv[:, a:b] += drift
            fade[a:b] = 1 - 0.85 * ramp
        elif kind == "gain_jump":  # overall gain jumps and saturates
            gain[a:b] *= 1 + rng.uniform(1.8, 3.0) * ramp
        elif kind == "motion_burst":  # the walls jerk up and down and blur into clutter
            jerk = ndimage.gaussian_filter1d(np.cumsum(rng.standard_normal(n)) * 2 * rng.uniform(2.0, 4.0), 2.0)
            shown[:, a:b] += ramp * jerk
            shown_rv[:, a:b] += ramp * jerk
            fade[a:b] = 1 - 0.55 * ramp
        else:
            replace.append((kind, a, b, ramp))

    r = np.arange(rows, dtype=np.float32)[:, None]
    ant_epi, ant_endo, post_endo, post_epi = (b[None, :].astype(np.float32) for b in shown)
    rv_wall_top, rv_top = (b[None, :].astype(np.float32) for b in shown_rv)
    family = settings["family"]
    tex_rows = rows + 200
    tex = _texture(rng, family, (tex_rows, width), settings)

    def follow(top, bottom, thickness_px, offset):
        """Texture in coordinates that stretch with the tissue between ``top`` and ``bottom``."""
        u = (r - top) / np.maximum(bottom - top, 1.0) * thickness_px + offset
        return np.take_along_axis(tex, np.clip(np.rint(u).astype(np.int64), 0, tex_rows - 1), axis=0)

    myo = settings["wall_brightness"]
    aw_px, pw_px = settings["wall_mm"] * px, settings["posterior_wall_mm"] * px
    amp = np.zeros((rows, width), dtype=np.float32)
    core = settings["wall_core"]
    amp += _band(r, ant_epi, ant_endo) * myo * follow(ant_epi, ant_endo, aw_px, 20) * _core(r, ant_epi, ant_endo, core)
    amp += (_band(r, post_endo, post_epi) * myo * 1.2 * follow(post_endo, post_epi, pw_px, 120)
            * _core(r, post_endo, post_epi, core))
    tips = post_endo - papillary[None, :].astype(np.float32)  # papillary muscles: wall-like echo, not wall
    amp += _band(r, tips, post_endo) * myo * rng.uniform(0.4, 1.2) * follow(tips, post_endo, 0.3 * px, 300)
    # Chest wall: skin and muscle layers that barely move; RV free wall; blood in both cavities.
    chest = np.clip(rv_wall_top - r + 0.5, 0, 1)
    layers = np.full((rows, 1), 0.4, dtype=np.float32)
    for layer_depth in rng.uniform(0.02, 1.0, size=int(rng.integers(3, 8))) * float(rv_wall_top.min()):
        layers += rng.uniform(0.5, 3.0) * _line(r, layer_depth, rng.uniform(1.5, 6))
    amp += chest * myo * layers * follow(np.zeros_like(rv_top), np.full_like(rv_top, rows), rows, 0)
    amp += _band(r, rv_wall_top, rv_top) * myo * follow(rv_wall_top, rv_top, settings["rv_wall_mm"] * px, 60)
    blood = settings["blood"] * myo * np.abs(_field(rng, (rows, width), (0.7, 1.5)))
    amp += (_band(r, rv_top, ant_epi) + _band(r, ant_endo, post_endo)) * blood
    # Endocardium: a thin specular line that breaks up; the pericardium is the brightest echo.
    for border, side in ((ant_endo, -1.0), (post_endo, 1.0)):
        present = np.clip(1.5 * _field(rng, (1, width), (0, rng.uniform(5, 30)))
                          - 2 * (settings["broken"] - 0.5) + 0.5, 0, 1)
        amp += 3.0 * myo * settings["specular"] * present * _line(r, border + side * 0.8, rng.uniform(0.6, 1.3))
    pericardium = rng.uniform(0.7, 1.3)
    amp += pericardium * _line(r, post_epi + 2, rng.uniform(1.5, 3.5)) * (0.6 + 0.4 * follow(post_epi, post_epi + 1, 1, 10))
    # Lung: reverberations of the pericardium that fade with depth.
    spacing = rng.uniform(0.4, 0.9) * px
    lung = sum(0.15 * pericardium * 0.5 ** k * _line(r, post_epi + 2 + k * spacing, 4.0) for k in range(1, 6))
    amp += (r >= post_epi) * (0.1 * myo + lung) * follow(post_epi, post_epi + rows, rows, 100)
    amp += _cavity_echoes(rng, settings, beats, r, ant_endo, post_endo, px) * myo

    amp *= fade[None, :]
    amp += (1 - fade[None, :]) * 0.6 * myo * tex[50:50 + rows]
    for kind, a, b, ramp in replace:
        bad = _bad_amplitude(rng, kind, amp[:, a:b], myo, r, float(np.min(post_endo[0, a:b])))
        amp[:, a:b] = (1 - ramp) * amp[:, a:b] + ramp * bad

    # Imaging chain.
    amp = ndimage.gaussian_filter(amp, settings["blur_px"])
    depth_db = settings["tgc_db"] * (r / rows) + 3 * _field(rng, (rows, 1), (rows / 8, 0))
    amp *= np.power(10.0, depth_db / 20.0)
    amp += settings["noise"] * np.abs(rng.standard_normal((rows, width), dtype=np.float32))
    if settings["log_compression"]:
        dr = settings["dynamic_range_db"]
        grey = np.clip((20 * np.log10(np.maximum(amp, 1e-6)) + dr) / dr, 0, 1)
    else:
        grey = np.power(np.clip(amp, 0, None), settings["power"])
    grey = np.power(grey, settings["contrast"]) * gain[None, :]
    return np.clip(grey * 255.0, 0, 255).astype(np.uint8)


def _cavity_echoes(rng, settings, beats, r, ant_endo, post_endo, px) -> np.ndarray:
    """Chordae above the posterior wall around systole, the mitral leaflets flicking in diastole, and
    faint blood echoes beside the walls around end-systole."""
    width = ant_endo.shape[1]
    out = np.zeros((r.shape[0], width), dtype=np.float32)
    for beat in beats:
        n = beat["next_ed_index"] - beat["ed_index"]
        for _ in range(int(rng.integers(0, 3))):  # chordae: faint lines riding the posterior wall
            a = max(beat["ed_index"] + int(n * rng.uniform(0.15, 0.35)), 0)
            b = min(beat["ed_index"] + int(n * rng.uniform(0.5, 0.7)), width)
            if b - a < 4:
                continue
            envelope = np.sin(np.linspace(0, np.pi, b - a)) ** 2
            height = post_endo[0, a:b] - rng.uniform(0.1, 0.5) * px
            out[:, a:b] += settings["chordae"] * rng.uniform(0.3, 1.2) * envelope * _line(r, height, 1.0)
        if rng.random() < 0.5:  # a mitral leaflet tip flicks through early in diastole
            a = max(beat["es_index"] + int(n * rng.uniform(0.05, 0.2)), 0)
            b = min(a + int(rng.integers(8, 30)), width)
            if b - a < 4:
                continue
            lo, hi = ant_endo[0, a:b], post_endo[0, a:b]
            height = lo + (hi - lo) * rng.uniform(0.3, 0.7) + np.linspace(0, rng.uniform(-0.4, 0.4) * px, b - a)
            out[:, a:b] += rng.uniform(0.3, 1.5) * np.sin(np.linspace(0, np.pi, b - a)) * _line(r, height, 1.2)
    # Slow blood and trabeculae beside the walls echo faintly around end-systole: speckle that hangs
    # below the anterior endocardium and above the posterior one, inside the cavity (as under the
    # septum at end-systole in the real annotated_borders.png).
    systole = np.zeros(width, dtype=np.float32)
    for beat in beats:
        n = beat["next_ed_index"] - beat["ed_index"]
        a, b = beat["es_index"] - int(0.3 * n), beat["es_index"] + int(0.25 * n)
        columns = np.arange(max(a, 0), min(b, width))
        systole[columns] = np.maximum(systole[columns], np.sin(np.pi * (columns - a) / max(b - a, 1)) ** 2)
    reach = rng.uniform(0.05, 0.25) * px
    near = (np.exp(-np.clip(r - ant_endo, 0, None) / reach) * (r > ant_endo)
            + np.exp(-np.clip(post_endo - r, 0, None) / reach) * (r < post_endo))
    out += rng.uniform(0.0, 0.4) * systole[None, :] * near * np.abs(_field(rng, out.shape, (0.8, 2.0)))
    return out


def _bad_amplitude(rng, kind: str, amp: np.ndarray, myo: float, r, post_endo: float) -> np.ndarray:
    """What the probe shows in a bad stretch of kind probe_off, clutter or dropout.

    ``post_endo``: the highest row of the posterior endocardium in the stretch.
    """
    rows, n = amp.shape
    if kind == "probe_off":  # no contact: only near-field ringing, nothing below
        ring = sum(rng.uniform(0.5, 2.0) * _line(r, d, 2.0) for d in rng.uniform(0, 0.08 * rows, size=3))
        return (ring * np.abs(_field(rng, (rows, n), (1, 20))) + 0.02) * myo
    if kind == "clutter":  # probe pressed into the chest wall: bright bands fill the view
        bands = 1.0 + 2.0 * np.abs(_field(rng, (rows, n), (rng.uniform(2, 6), rng.uniform(20, 80))))
        return (bands * np.abs(_field(rng, (rows, n), (1, 6))) + 0.1 * amp / max(myo, 1e-6)) * myo
    # dropout: everything below some depth is lost in a shadow, the posterior wall at least (a shadow
    # that starts below the heart hides nothing that is measured: that stretch would be good)
    top = 0.15 * rows + rng.uniform(0, 1) * max(post_endo - 0.15 * rows, 0.0)
    shadow = np.where(r > top, rng.uniform(0.01, 0.1), 1.0)
    return amp * shadow


# --- screenshots and DICOM -----------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """Where the regions sit on the scanner's screen (x0, y0, x1, y1; x1/y1 exclusive)."""

    mmode: tuple[int, int, int, int]
    bmode: tuple[int, int, int, int]
    ecg: tuple[int, int, int, int]


def layout(cfg: PhantomConfig) -> Layout:
    x0 = (cfg.frame_cols - cfg.region_cols) // 2
    y0 = cfg.frame_rows - cfg.region_rows - 60
    if x0 < 0 or y0 < 80:
        raise ValueError("frame too small for the M-mode region and its furniture")
    return Layout(mmode=(x0, y0, x0 + cfg.region_cols, y0 + cfg.region_rows),
                  bmode=(x0, 8, x0 + 140, y0 - 8),
                  ecg=(x0, y0 + cfg.region_rows + 6, x0 + cfg.region_cols, cfg.frame_rows - 4))


def _furniture(rng, cfg, lay: Layout) -> np.ndarray:
    """The static part of the screen: text boxes, depth ticks, a B-mode thumbnail."""
    screen = np.zeros((cfg.frame_rows, cfg.frame_cols, 3), dtype=np.uint8)
    x0, y0, x1, y1 = lay.mmode
    for k in range(6):  # text boxes with glyph-like blocks
        bx, by = x1 - 260 + 40 * (k % 2), 10 + 12 * k
        for g in range(int(rng.integers(8, 20))):
            if rng.random() < 0.8:
                screen[by:by + 8, bx + 6 * g:bx + 6 * g + 4] = (230, 230, 120)
    px_per_mm = 1.0 / cfg.mm_per_px
    for mm in range(int(cfg.region_rows / px_per_mm) + 1):  # depth ticks every mm
        y = y0 + int(mm * px_per_mm)
        if y < y1:
            screen[y, x0 - 14:x0 - 4] = 200
            screen[y:y + 7, x0 - 30:x0 - 22] = 160
    bx0, by0, bx1, by1 = lay.bmode
    fan = rng.integers(0, 120, size=(by1 - by0, bx1 - bx0), dtype=np.uint8)
    screen[by0:by1, bx0:bx1] = fan[..., None]
    return screen


def frames(ph: Phantom) -> np.ndarray:
    """The exported screenshots, (n_frames, frame_rows, frame_cols, 3) uint8 RGB."""
    cfg = ph.config
    rng = np.random.default_rng(cfg.seed + 1)
    lay = layout(cfg)
    screen = _furniture(rng, cfg, lay)
    x0, y0, x1, y1 = lay.mmode
    ex0, ey0, ex1, ey1 = lay.ecg
    ecg_rows = np.clip(np.rint((ey1 - ey0) / 2 - ph.ecg * (ey1 - ey0) * 0.4), 0, ey1 - ey0 - 1).astype(int)
    out = np.empty((cfg.n_frames, cfg.frame_rows, cfg.frame_cols, 3), dtype=np.uint8)
    for k, start in enumerate(ph.frame_starts):
        out[k] = screen
        out[k, y0:y1, x0:x1] = ph.image[:, start:start + cfg.region_cols, None]
        cols = np.arange(cfg.region_cols)
        out[k, ey0 + ecg_rows[start:start + cfg.region_cols], ex0 + cols] = (60, 220, 60)
    return out


def _region_item(box, spatial, data_type, units_x, units_y, dx, dy):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.RegionSpatialFormat = spatial
    item.RegionDataType = data_type
    item.RegionFlags = 0
    item.RegionLocationMinX0, item.RegionLocationMinY0 = box[0], box[1]
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = box[2], box[3]
    item.PhysicalUnitsXDirection = units_x
    item.PhysicalUnitsYDirection = units_y
    item.PhysicalDeltaX = dx
    item.PhysicalDeltaY = dy
    item.ReferencePixelX0 = 0
    item.ReferencePixelY0 = 0
    return item


def to_dataset(ph: Phantom):
    """A pydicom Dataset shaped like a Vevo M-mode export of ``ph``."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit,
                             generate_uid)

    cfg = ph.config
    lay = layout(cfg)
    pixels = frames(ph)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME_SOP
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[f"phantom-{cfg.seed}"])
    if cfg.jpeg:
        meta.TransferSyntaxUID = JPEGBaseline8Bit
    else:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if cfg.implicit_vr else ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = US_MULTIFRAME_SOP
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Manufacturer = "Phantom (Vevo-like)"
    ds.PatientID = f"phantom-{cfg.seed}"
    ds.StudyDate = "20261127"
    ds.NumberOfFrames = cfg.n_frames
    ds.Rows, ds.Columns = cfg.frame_rows, cfg.frame_cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = 1000.0 * np.mean(cfg.shift_px) * cfg.seconds_per_px  # ms

    dx, dy = cfg.seconds_per_px, cfg.mm_per_px * CM_PER_MM
    items = [
        _region_item(lay.bmode, SPATIAL_2D, DATA_TISSUE, UNITS_CM, UNITS_CM, 0.003, 0.003),
        _region_item(lay.ecg, SPATIAL_WAVEFORM, DATA_ECG, UNITS_SECONDS, UNITS_NONE, dx, 1.0),
    ]
    items.insert(cfg.mmode_index, _region_item(lay.mmode, SPATIAL_MMODE, DATA_TISSUE,
                                               UNITS_SECONDS, UNITS_CM, dx, dy))
    ds.SequenceOfUltrasoundRegions = items

    if cfg.photometric == "MONOCHROME2" and not cfg.jpeg:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        grey = np.rint(pixels @ np.array([0.2989, 0.5870, 0.1140])).astype(np.uint8)
        ds.PixelData = grey.tobytes()
    elif cfg.jpeg:
        from PIL import Image
        from pydicom.encaps import encapsulate

        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        ds.PhotometricInterpretation = "YBR_FULL_422"
        encoded = []
        for frame in pixels:
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, "JPEG", quality=cfg.jpeg_quality, subsampling=1)
            encoded.append(buffer.getvalue())
        ds.PixelData = encapsulate(encoded)
        ds["PixelData"].VR = "OB"
        ds.LossyImageCompression = "01"
    else:
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        ds.PhotometricInterpretation = "RGB"
        ds.PixelData = pixels.tobytes()
    return ds


def write(ph: Phantom, path: Path) -> Path:
    """Write ``ph`` as DICOM plus its ground-truth files; return the DICOM path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = to_dataset(ph)
    implicit = ph.config.implicit_vr and not ph.config.jpeg
    ds.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=True)
    cfg = ph.config
    truth = {
        "file": path.name,
        "seconds_per_px": cfg.seconds_per_px,
        "mm_per_px": cfg.mm_per_px,
        "region_box": list(layout(cfg).mmode),
        "stitched_width": ph.width,
        "frame_starts": ph.frame_starts.tolist(),
        "beats": ph.beats,
        "bad_intervals_s": ph.bad_intervals,
        "bad_kinds": ph.bad_kinds,
        "good_intervals_s": ph.good_intervals(),
        "settings": ph.settings,
        "config": {k: v for k, v in dataclasses.asdict(cfg).items()},
    }
    truth_path(path).write_text(json.dumps(truth, indent=1))
    with open(borders_path(path), "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["column", *BORDER_COLUMNS, "lvid_mm"])
        for col, (b4, b3, b1, b2, lvid) in enumerate(zip(*ph.borders, ph.lvid_mm)):
            # %.9g round-trips float32 exactly, so masks rebuilt from the CSV equal cavity_mask().
            writer.writerow([col, *(f"{b:.9g}" for b in (b4, b3, b1, b2)), f"{lvid:.5f}"])
    return path


def truth_path(dicom_path: Path) -> Path:
    return Path(dicom_path).with_suffix(".truth.json")


def write_quality_annotations(rows: list[tuple[str, Phantom]], path: Path) -> None:
    """The quality CSV in the original's format (seconds, space-separated intervals)."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Recording", "Good-Start", "Good-End", "Bad-Start", "Bad-End"])
        for name, ph in rows:
            good, bad = ph.good_intervals(), ph.bad_intervals

            def fmt(values):
                return " ".join(f"{v:.3f}" for v in values)
            writer.writerow([name, fmt(g[0] for g in good), fmt(g[1] for g in good),
                             fmt(b[0] for b in bad), fmt(b[1] for b in bad)])


def make_set(out_dir: Path, seeds, **overrides) -> list[Path]:
    """Write one phantom per seed into ``out_dir`` plus quality_annotations.csv."""
    out_dir = Path(out_dir)
    written = []
    for seed in seeds:
        ph = generate(PhantomConfig(seed=int(seed), **overrides))
        written.append((f"phantom_{seed:05d}.dcm", ph, write(ph, out_dir / f"phantom_{seed:05d}.dcm")))
    write_quality_annotations([(name, ph) for name, ph, _ in written], out_dir / "quality_annotations.csv")
    return [p for _, _, p in written]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("-n", "--count", type=int, default=1, help="number of phantoms (seeds seed..seed+n-1)")
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--mmode-index", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument("--monochrome", action="store_true", help="MONOCHROME2 instead of RGB")
    parser.add_argument("--jpeg", action="store_true", help="JPEG baseline (YBR_FULL_422)")
    parser.add_argument("--jpeg-quality", type=int, default=92)
    parser.add_argument("--implicit-vr", action="store_true")
    parser.add_argument("--heart-rate", type=float, help="bpm (default: drawn from 450-800)")
    parser.add_argument("--lvid-d", type=float, help="mm")
    parser.add_argument("--lvid-s", type=float, help="mm")
    parser.add_argument("--no-bad", action="store_true", help="no bad-acquisition segments")
    parser.add_argument("--family", choices=FAMILIES,
                        help=f"rendering family (default: drawn from {', '.join(TRAINING_FAMILIES)})")
    fraction = in_range(float, 0.0, 1.0)
    parser.add_argument("--systolic-tip", type=lambda text: None if text == "drawn" else fraction(text), default=0.0,
                        metavar="0-1|drawn",
                        help="end-systolic turn, 0 rounded to 1 pointed, or 'drawn' 0-1 per recording (default 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    overrides = dict(n_frames=args.frames, mmode_index=args.mmode_index,
                     photometric="MONOCHROME2" if args.monochrome else "RGB", jpeg=args.jpeg,
                     jpeg_quality=args.jpeg_quality, implicit_vr=args.implicit_vr,
                     heart_rate_bpm=args.heart_rate, lvid_d_mm=args.lvid_d, lvid_s_mm=args.lvid_s,
                     family=args.family, systolic_tip=args.systolic_tip)
    if args.no_bad:
        overrides["bad_segments"] = ()
    paths = make_set(args.output, range(args.seed, args.seed + args.count), **overrides)
    for path in paths:
        log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
