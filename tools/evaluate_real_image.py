"""The pipeline on the real expert-annotated image (tests/data/real), as figures.

    python tools/evaluate_real_image.py [--seg-model CHECKPOINT] [--quality-model CHECKPOINT]

Analyses the grey image as one stitched recording, as end2end_framework.py does a DICOM file,
and compares it with the expert's traces:

- per column: cavity Dice, and the median and 95th percentile of the LVID, LVAW and LVPW
  errors in pixels of the image and in mm, and for each border how far ours lies from the
  expert's in the median (positive: deeper);
- the expert's own precision against the image: the expert's endocardia snapped to the image's
  grey steps as the pipeline snaps its own (mmode.borders.snap_borders), and how far that moves
  LVID: in the median (which our rule's rows into the wall, EDGE_TISSUE_PX, set) and about that
  median (column to column). The expert's polylines are straight between corners a few columns
  apart; a border that follows the image's steps cannot agree with them more closely than that
  scatter;
- per beat: the expert's beats are found on the expert's LVID trace by the pipeline's own beat
  finder; for each, whether the pipeline reports it (a good beat with its end-diastole within a
  tenth of the cycle, mmode.beats.matching_beat), and the errors of LVID;d, LVID;s and the heart
  rate of the beat it found there.

The image carries no calibration. It shows a Vevo M-mode region at twice its size: 1236 rows
for the region's 616, which span 616 x 0.011526 mm, like the bundled example's; and its beats,
about 207 columns long, last 86 ms at twice the Vevo sweep of 0.83 ms per column, a heart rate of
700 bpm, the median of conscious mice. Both are assumptions; the pixel figures are not.
The image is never used for training or tuning.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from heart_segmentation import SHIPPED_CHECKPOINT
from mmode.analysis import Settings, analyse
from mmode.annotations import read_borders
from mmode.beats import detect_beats, matching_beat
from mmode.borders import diameters_mm, snap_borders
from mmode.dicom_io import Calibration, RegionBox
from mmode.metrics import border_agreement
from mmode.recording import Recording
from phantom import SECONDS_PER_PX
from pipeline.models import load_models

REAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "real"
VEVO_DEPTH_MM = 616 * 0.011526
SHOWN_AT = 2  # screen pixels per pixel of the Vevo region, down and across
MEASURES = (("LVID;d", "lvid_d_mm"), ("LVID;s", "lvid_s_mm"))


def calibration(rows: int, width: int) -> Calibration:
    """The assumed calibration of the image (module docstring)."""
    return Calibration(SECONDS_PER_PX / SHOWN_AT, VEVO_DEPTH_MM / rows, RegionBox(0, 0, width, rows))


def lvid_offset_and_scatter(borders: np.ndarray, expert: np.ndarray) -> tuple[float, float]:
    """Median of LVID(borders) - LVID(expert) over the columns where both have one (px), and the
    median distance from that median: a constant offset and the scatter column to column."""
    moved = (borders[2] - borders[1]) - (expert[2] - expert[1])
    moved = moved[np.isfinite(moved)]
    offset = float(np.median(moved))
    return offset, float(np.median(np.abs(moved - offset)))


def evaluate(models) -> dict:
    """Per-column agreement (mmode.metrics.border_agreement, plus ``mm_per_px``), the LVID offset
    and scatter of ours and of the expert's snapped endocardia (``lvid_offset_scatter_px``,
    ``expert_snapped_lvid_px``) and, under ``beats``, one (expert beat, reported beat or None)
    pair per beat of the expert's trace.

    Parameters
    ----------
    models : pipeline.models.Models
    """
    path = REAL / "annotated_borders.png"
    image = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    cal = calibration(*image.shape)
    analysis = analyse(Recording(path, image, cal), models, Settings.for_mass(25))
    expert = read_borders(REAL / "annotated_borders.borders.csv")
    result = border_agreement(expert, analysis.borders, image.shape[0])
    result["mm_per_px"] = cal.mm_per_px
    result["lvid_offset_scatter_px"] = lvid_offset_and_scatter(analysis.borders, expert)
    result["expert_snapped_lvid_px"] = lvid_offset_and_scatter(snap_borders(image, expert), expert)
    sizes = diameters_mm(expert, cal.mm_per_px)
    truth = detect_beats(np.nan_to_num(sizes["lvid"]), cal.seconds_per_px, sizes["lvaw"], sizes["lvpw"])
    result["beats"] = [(beat, matching_beat(beat.ed_index, beat.next_ed_index, analysis.good_beats))
                       for beat in truth]
    return result


def beat_errors(pairs) -> dict[str, np.ndarray]:
    """Signed errors (ours - expert) of the reported beats: mm for LVID, % for the heart rate."""
    reported = [(truth, ours) for truth, ours in pairs if ours is not None]
    errors = {label: np.array([getattr(o, key) - getattr(t, key) for t, o in reported]) for label, key in MEASURES}
    errors["HR %"] = np.array([100 * (o.heart_rate_bpm / t.heart_rate_bpm - 1) for t, o in reported])
    return errors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seg-model", type=Path, default=SHIPPED_CHECKPOINT)
    parser.add_argument("--quality-model", type=Path)
    args = parser.parse_args(argv)
    result = evaluate(load_models(args.seg_model, args.quality_model))
    mm = result["mm_per_px"]
    print(f"cavity Dice {result['cavity_dice']:.3f} over {result['columns']} columns")
    for name in ("lvid", "lvaw", "lvpw"):
        r = result[name]
        print(f"{name.upper()}: median |error| {r['median_px']:.1f} px ({r['median_px'] * mm:.3f} mm), "
              f"95th percentile {r['p95_px']:.1f} px ({r['p95_px'] * mm:.3f} mm), {r['columns']} columns")
    for name, r in result["borders"].items():
        print(f"  {name}: ours - expert median {r['signed_median_px']:+.1f} px (|error| {r['median_px']:.1f} px)")
    for label, key in (("ours", "lvid_offset_scatter_px"),
                       ("the expert's endocardia snapped to the image (mmode.borders.snap_borders)", "expert_snapped_lvid_px")):
        offset, scatter = result[key]
        print(f"LVID of {label} - expert's: {offset:+.1f} px in the median, {scatter:.1f} px about it")
    pairs = result["beats"]
    print(f"\nper beat (mm at {mm:.5f} mm per px): expert's LVID;d and LVID;s, ours where reported")
    for truth, ours in pairs:
        line = f"  ED column {truth.ed_index:4d}: expert {truth.lvid_d_mm:.3f} / {truth.lvid_s_mm:.3f}"
        print(line + (f", ours {ours.lvid_d_mm:.3f} / {ours.lvid_s_mm:.3f}" if ours else ", not reported"))
    errors = beat_errors(pairs)
    print(f"reported {len(errors['HR %'])} of the expert's {len(pairs)} beats; median |error| "
          + ", ".join(f"{label} {np.median(np.abs(e)):.3f}" + (" mm" if "LVID" in label else "")
                      for label, e in errors.items() if e.size)
          + "; median error (ours - expert) "
          + ", ".join(f"{label} {np.median(e):+.3f}" for label, e in errors.items() if e.size and "LVID" in label))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
