"""Border traces from the segmentation network, for recordings nobody has traced yet.

Usage::

    python -m heart_segmentation.trace -i DICOM_DIR [--seg-model CHECKPOINT] [--replace]

Writes ``NAME.borders.csv`` (mmode.annotations) beside every recording of the folder that has
none: the four borders the segmenter finds, NaN where it finds no cavity. The quality builder
centres its windows on these; for segmentation training, correct them first (python -m
mmode.labelme_io export, fix the lines in labelme, import), or the network learns its own errors.
Existing traces are kept unless ``--replace``. Exit status 0, or 2 with one line for unusable input.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm import tqdm

from heart_segmentation import SHIPPED_CHECKPOINT
from heart_segmentation.predict import image_borders, load_checkpoint
from mmode.annotations import borders_path, write_borders
from mmode.cli import EXIT_OK
from mmode.dataset_inputs import recordings_in, run_builder
from mmode.outputs import written_atomically
from mmode.recording import load_recording

log = logging.getLogger(__name__)


def trace(args) -> int:
    recordings = recordings_in(args.input)
    net = load_checkpoint(args.seg_model, args.device)
    written = 0
    for path in tqdm(recordings, desc="recordings", disable=None):
        target = borders_path(path)
        if target.exists() and not args.replace:
            log.info("%s: traced already; kept", target)
            continue
        borders = image_borders(net, load_recording(path).image, args.device)
        with written_atomically(target) as tmp:
            write_borders(tmp, borders)
        written += 1
    log.info("wrote %d border traces of %d recordings", written, len(recordings))
    return EXIT_OK


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write border traces from the segmentation network.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-i", "--input", type=Path, required=True, help="folder of DICOM recordings")
    parser.add_argument("--seg-model", type=Path, default=SHIPPED_CHECKPOINT, help="segmentation weights")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--replace", action="store_true", help="replace existing NAME.borders.csv files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_builder(trace, args)


if __name__ == "__main__":
    raise SystemExit(main())
