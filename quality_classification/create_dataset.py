"""Cut good/bad quality windows from DICOM recordings and their quality annotations.

Usage::

    python -m quality_classification.create_dataset -i DICOM_DIR -o DATA_ROOT -a quality_annotations.csv

The recordings are those ``run4all.py`` reads (``*.dcm`` and DICOM files without extension). The
annotations CSV has the original's columns Recording, Good-Start, Good-End, Bad-Start, Bad-End (seconds;
several intervals in one cell separated by spaces; see ``mmode.quality_annotations`` and
``examples/quality_annotations.csv``). Windows are square, slide by 100 columns and are centred on the
cavity of the border traces ``NAME.borders.csv`` beside the DICOM; a recording without traces is
refused (``python -m heart_segmentation.trace`` writes the segmentation network's). The
window side cycles through the body-mass crop ratios, so the classifier sees every window size the
pipeline uses. Writes DATA_ROOT/pngs/{good,bad}/*.png and DATA_ROOT/npys/{good,bad}/*.npy.

A wrong annotation file, a folder without recordings or a dataset without a window is one line on
stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mmode.annotations import borders_path, cavity_mask
from mmode.cli import EXIT_OK, warn
from mmode.dataset_inputs import annotations_for, checked_annotation, recording_borders, recordings_in, run_builder
from mmode.errors import AnnotationError
from mmode.quality_annotations import covered, recording_key
from mmode.recording import load_recording
from mmode.windows import CROP_RATIOS, stretched, vertical_start

log = logging.getLogger(__name__)

STRIDE_PX = 100
MIN_BAD_FRACTION = 0.5  # a window at least this much inside bad intervals is "bad"


def recording_cavity(recording) -> np.ndarray:
    """The cavity mask (rows, width) of the border traces beside the recording.

    Raises
    ------
    AnnotationError
        The recording has no border traces.
    """
    borders = recording_borders(recording)
    if borders is None:
        raise AnnotationError(borders_path(recording.path), "no border traces to centre the quality windows on "
                              "the cavity: trace them (python -m mmode.labelme_io), or let the segmentation "
                              "network trace them (python -m heart_segmentation.trace)")
    return cavity_mask(borders, recording.image.shape[0])


def label(lo_s: float, hi_s: float, good, bad) -> str | None:
    if covered(lo_s, hi_s, good) >= 0.999:
        return "good"
    if covered(lo_s, hi_s, bad) >= MIN_BAD_FRACTION:
        return "bad"
    return None  # ambiguous: partly bad, or not annotated


def cut_windows(recording, mask, good, bad, stride=STRIDE_PX):
    """Yield (label, start column, grey window) for every labelled window, its grey range stretched as the
    analysis shows windows to the classifier (mmode.windows.stretched)."""
    rows, width = recording.image.shape
    dt = recording.calibration.seconds_per_px
    view = stretched(recording.image)
    for k, start in enumerate(range(0, width, stride)):
        side = int(rows * CROP_RATIOS[k % len(CROP_RATIOS)])
        if start + side > width:
            break
        which = label(start * dt, (start + side) * dt, good, bad)
        if which is None:
            continue
        top = vertical_start(mask[:, start:start + side], side)
        yield which, start, view[top:top + side, start:start + side]


def build(args) -> int:
    recordings = recordings_in(args.input)
    annotations = annotations_for(args.annotations, recordings)
    for fmt in ("pngs", "npys"):
        for which in ("good", "bad"):
            (args.output / fmt / which).mkdir(parents=True, exist_ok=True)
    counts = {"good": 0, "bad": 0}
    with tqdm(recordings, desc="recordings") as progress:  # closed before an error's line is printed
        for path in progress:
            annotation = annotations.get(recording_key(path.name))
            if annotation is None:
                warn(path, f"no row in {args.annotations}; skipped")
                continue
            recording = load_recording(path)
            checked_annotation(annotation, recording, args.annotations)
            mask = recording_cavity(recording)
            for which, start, window in cut_windows(recording, mask, annotation.good_s, annotation.bad_s,
                                                    args.stride):
                name = f"{path.stem}_{start:05d}"
                Image.fromarray(np.clip(np.rint(window), 0, 255).astype(np.uint8)).save(
                    args.output / "pngs" / which / f"{name}.png")
                np.save(args.output / "npys" / which / f"{name}.npy", window.astype(np.float32))
                counts[which] += 1
    if not any(counts.values()):
        raise AnnotationError(args.annotations, f"no window for the dataset: no window of {len(annotations)} "
                              "annotated recording(s) lies wholly inside a good interval or half inside a bad one "
                              "(windows are 0.5-1 image heights wide)")
    for which, other in (("good", "bad"), ("bad", "good")):
        if not counts[which]:
            warn(args.output, f"only {other} windows: a classifier cannot learn {which} ones from this set")
    log.info("wrote %d good and %d bad windows to %s", counts["good"], counts["bad"], args.output)
    return EXIT_OK


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build the quality-classification dataset.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-i", "--input", type=Path, required=True, help="folder of DICOM recordings")
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset root")
    parser.add_argument("-a", "--annotations", type=Path, required=True, help="quality annotations CSV")
    parser.add_argument("--stride", type=int, default=STRIDE_PX, help="columns between windows")
    args = parser.parse_args(argv)
    if args.stride < 1:
        parser.error("--stride must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_builder(build, args)


if __name__ == "__main__":
    raise SystemExit(main())
