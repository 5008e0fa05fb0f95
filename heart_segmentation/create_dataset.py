"""Cut square image/mask windows from DICOM recordings and their LV border traces.

Usage::

    python -m heart_segmentation.create_dataset -i DICOM_DIR -o DATA_ROOT [-a quality_annotations.csv]

Each ``NAME.dcm`` needs ``NAME.borders.csv`` beside it (columns: column,
anterior_epicardium, anterior_endocardium, posterior_endocardium,
posterior_epicardium; rows inside the M-mode region). The mask holds one class
per pixel (mmode.annotations.label_mask): 0 background, 1 anterior wall (between
the anterior epicardium and endocardium), 2 cavity (between the endocardia), 3
posterior wall (between the posterior endocardium and epicardium). Windows are as tall as the
image and slide by ``--stride`` columns; with a quality annotations CSV only
windows inside good intervals are kept. Writes DATA_ROOT/img/*.png and
DATA_ROOT/mask/*.png (class numbers 0-3) with the same names.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mmode.annotations import borders_path, label_mask, read_borders
from mmode.recording import load_recording

log = logging.getLogger(__name__)


def main(argv=None) -> int:
    from quality_classification.create_dataset import covered, read_annotations

    parser = argparse.ArgumentParser(description="Build the heart-segmentation dataset.")
    parser.add_argument("-i", "--input", type=Path, required=True, help="folder of DICOM files with border traces")
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset root")
    parser.add_argument("-a", "--annotations", type=Path, help="quality annotations CSV: keep only good windows")
    parser.add_argument("--stride", type=int, default=154, help="columns between windows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    annotations = read_annotations(args.annotations) if args.annotations else {}
    (args.output / "img").mkdir(parents=True, exist_ok=True)
    (args.output / "mask").mkdir(parents=True, exist_ok=True)
    written = 0
    for path in tqdm(sorted(args.input.glob("*.dcm")), desc="recordings"):
        if not borders_path(path).exists():
            log.warning("%s: no border traces (%s), skipped", path, borders_path(path).name)
            continue
        recording = load_recording(path)
        rows, width = recording.image.shape
        mask = label_mask(read_borders(borders_path(path))[:, :width], rows)
        good = annotations.get(path.stem, ([(0.0, float("inf"))], []))[0]
        dt = recording.calibration.seconds_per_px
        for start in range(0, width - rows + 1, args.stride):
            if covered(start * dt, (start + rows) * dt, good) < 0.999:
                continue
            name = f"{path.stem}_{start:05d}.png"
            window = np.clip(np.rint(recording.image[:, start:start + rows]), 0, 255).astype(np.uint8)
            Image.fromarray(window).save(args.output / "img" / name)
            Image.fromarray(mask[:, start:start + rows]).save(args.output / "mask" / name)
            written += 1
    log.info("wrote %d windows to %s", written, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
