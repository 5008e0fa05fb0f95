"""Cut square image/mask windows from DICOM recordings and their LV border traces.

Usage::

    python -m heart_segmentation.create_dataset -i DICOM_DIR -o DATA_ROOT [-a quality_annotations.csv]

The recordings are those ``run4all.py`` reads (``*.dcm`` and DICOM files without extension); each needs
``NAME.borders.csv`` beside it (columns, read by name: column, anterior_epicardium,
anterior_endocardium, posterior_endocardium, posterior_epicardium; see ``mmode.annotations`` for the
coordinates and ``mmode.labelme_io`` to trace them). The mask holds one class per pixel
(mmode.annotations.label_mask): 0 background, 1 anterior wall (between the anterior epicardium and
endocardium), 2 cavity (between the endocardia), 3 posterior wall (between the posterior endocardium and
epicardium). Windows are as tall as the image and slide by ``--stride`` columns; only windows with all
four borders traced in every column are kept, and with a quality annotations CSV only windows inside
good intervals (a recording without a row there is skipped). Writes DATA_ROOT/img/*.png and
DATA_ROOT/mask/*.png (class numbers 0-3) with the same names.

A wrong border or annotation file, a folder without recordings or a dataset without a window is one
line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mmode.annotations import borders_path, fully_traced, label_mask
from mmode.cli import EXIT_OK, warn
from mmode.dataset_inputs import annotations_for, checked_annotation, recording_borders, recordings_in, run_builder
from mmode.errors import AnnotationError, EchoInputError
from mmode.quality_annotations import covered, recording_key
from mmode.recording import load_recording

log = logging.getLogger(__name__)

STRIDE_PX = 154


def build(args) -> int:
    recordings = recordings_in(args.input)
    annotations = annotations_for(args.annotations, recordings)
    traced = []
    for path in recordings:
        if not borders_path(path).exists():
            warn(path, f"no border traces ({borders_path(path).name}); skipped")
        elif annotations is not None and recording_key(path.name) not in annotations:
            warn(path, f"no row in {args.annotations}; skipped")
        else:
            traced.append(path)
    if not traced:
        raise EchoInputError(args.input, "no recording with border traces (NAME.borders.csv beside NAME.dcm)"
                             + (" and a quality annotation" if annotations is not None else ""))
    (args.output / "img").mkdir(parents=True, exist_ok=True)
    (args.output / "mask").mkdir(parents=True, exist_ok=True)
    written = not_good = untraced = 0
    with tqdm(traced, desc="recordings") as progress:  # closed before an error's line is printed
        for path in progress:
            recording = load_recording(path)
            rows, width = recording.image.shape
            borders = recording_borders(recording)
            mask = label_mask(borders, rows)
            complete = fully_traced(borders)
            if annotations is None:
                good = [(0.0, float("inf"))]
            else:
                good = checked_annotation(annotations[recording_key(path.name)], recording, args.annotations).good_s
            dt = recording.calibration.seconds_per_px
            for start in range(0, width - rows + 1, args.stride):
                if covered(start * dt, (start + rows) * dt, good) < 0.999:
                    not_good += 1
                    continue
                if not complete[start:start + rows].all():
                    untraced += 1
                    continue
                name = f"{path.stem}_{start:05d}.png"
                window = np.clip(np.rint(recording.image[:, start:start + rows]), 0, 255).astype(np.uint8)
                Image.fromarray(window).save(args.output / "img" / name)
                Image.fromarray(mask[:, start:start + rows]).save(args.output / "mask" / name)
                written += 1
    if not written:
        raise AnnotationError(args.annotations or args.input,
                              f"no window for the dataset: of the windows of {len(traced)} traced recording(s), "
                              f"{not_good} are not wholly inside good intervals and {untraced} lack one of the four "
                              "borders in some column (a window is as wide as the image is tall)")
    log.info("wrote %d windows to %s (%d outside good intervals, %d not fully traced, left out)",
             written, args.output, not_good, untraced)
    return EXIT_OK


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build the heart-segmentation dataset.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-i", "--input", type=Path, required=True,
                        help="folder of DICOM recordings with border traces")
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset root")
    parser.add_argument("-a", "--annotations", type=Path, help="quality annotations CSV: keep only good windows")
    parser.add_argument("--stride", type=int, default=STRIDE_PX, help="columns between windows")
    args = parser.parse_args(argv)
    if args.stride < 1:
        parser.error("--stride must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_builder(build, args)


if __name__ == "__main__":
    raise SystemExit(main())
