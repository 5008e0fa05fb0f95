"""Cut good/bad quality windows from DICOM recordings and their quality annotations.

Usage::

    python -m quality_classification.create_dataset -i DICOM_DIR -o DATA_ROOT -a annotations.csv

The annotations CSV has the original's columns Recording, Good-Start, Good-End,
Bad-Start, Bad-End (seconds; several intervals in one cell separated by
spaces). Windows are square, slide by 100 columns and are centred on the
cavity (from the border traces ``NAME.borders.csv`` beside the DICOM when
present, otherwise from the segmentation network). Their side cycles through
the body-mass crop ratios, so the classifier sees every window size the
pipeline uses. Writes DATA_ROOT/pngs/{good,bad}/*.png and
DATA_ROOT/npys/{good,bad}/*.npy.
"""
from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mmode.annotations import borders_path, cavity_mask, read_borders
from mmode.recording import load_recording
from mmode.windows import CROP_RATIOS, vertical_start

log = logging.getLogger(__name__)

STRIDE_PX = 100
MIN_BAD_FRACTION = 0.5  # a window at least this much inside bad intervals is "bad"


def read_annotations(path: Path) -> dict[str, tuple[list, list]]:
    """Recording name -> (good intervals, bad intervals), each a list of (start_s, end_s)."""
    def intervals(starts: str, ends: str):
        lo, hi = [float(v) for v in starts.split()], [float(v) for v in ends.split()]
        if len(lo) != len(hi):
            raise ValueError(f"{path}: {len(lo)} interval starts but {len(hi)} ends")
        return list(zip(lo, hi))

    with open(path, newline="") as fh:
        return {Path(row["Recording"]).stem: (intervals(row["Good-Start"], row["Good-End"]),
                                              intervals(row["Bad-Start"], row["Bad-End"]))
                for row in csv.DictReader(fh)}


def covered(lo: float, hi: float, intervals) -> float:
    """Fraction of [lo, hi) covered by ``intervals``."""
    return sum(max(0.0, min(hi, b) - max(lo, a)) for a, b in intervals) / (hi - lo)


def recording_cavity(recording, dicom_path: Path) -> np.ndarray:
    """The cavity mask from the border traces beside the DICOM, else from the segmentation network."""
    borders_file = borders_path(dicom_path)
    if borders_file.exists():
        return cavity_mask(read_borders(borders_file)[:, :recording.image.shape[1]], recording.image.shape[0])
    from heart_segmentation import load_checkpoint, segment_image

    return segment_image(load_checkpoint(), recording.image)


def label(lo_s: float, hi_s: float, good, bad) -> str | None:
    if covered(lo_s, hi_s, good) >= 0.999:
        return "good"
    if covered(lo_s, hi_s, bad) >= MIN_BAD_FRACTION:
        return "bad"
    return None  # ambiguous: partly bad


def cut_windows(recording, mask, good, bad, stride=STRIDE_PX):
    """Yield (label, start column, grey window) for every labelled window."""
    rows, width = recording.image.shape
    dt = recording.calibration.seconds_per_px
    for k, start in enumerate(range(0, width, stride)):
        side = int(rows * CROP_RATIOS[k % len(CROP_RATIOS)])
        if start + side > width:
            break
        which = label(start * dt, (start + side) * dt, good, bad)
        if which is None:
            continue
        top = vertical_start(mask[:, start:start + side], side)
        yield which, start, recording.image[top:top + side, start:start + side]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build the quality-classification dataset.")
    parser.add_argument("-i", "--input", type=Path, required=True, help="folder of DICOM files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset root")
    parser.add_argument("-a", "--annotations", type=Path, required=True, help="quality annotations CSV")
    parser.add_argument("--stride", type=int, default=STRIDE_PX, help="columns between windows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    annotations = read_annotations(args.annotations)
    for fmt in ("pngs", "npys"):
        for which in ("good", "bad"):
            (args.output / fmt / which).mkdir(parents=True, exist_ok=True)
    counts = {"good": 0, "bad": 0}
    for path in tqdm(sorted(args.input.glob("*.dcm")), desc="recordings"):
        if path.stem not in annotations:
            log.warning("%s: no quality annotation, skipped", path)
            continue
        recording = load_recording(path)
        mask = recording_cavity(recording, path)
        for which, start, window in cut_windows(recording, mask, *annotations[path.stem], args.stride):
            name = f"{path.stem}_{start:05d}"
            Image.fromarray(np.clip(np.rint(window), 0, 255).astype(np.uint8)).save(
                args.output / "pngs" / which / f"{name}.png")
            np.save(args.output / "npys" / which / f"{name}.npy", window.astype(np.float32))
            counts[which] += 1
    log.info("wrote %d good and %d bad windows to %s", counts["good"], counts["bad"], args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
