"""The pipeline's borders on the real expert-annotated image (tests/data/real), as figures.

    python tools/evaluate_real_image.py [--seg-model CHECKPOINT]

Segments the grey image as one stitched recording, traces the four borders and compares
them per column with the expert's traces: cavity Dice, and the median and 95th
percentile of the LVID, LVAW and LVPW errors in pixels of the image and in mm, assuming
the image spans the depth of a Vevo M-mode region like the bundled example's (616 rows of
0.011526 mm: its true pixel size is not known). The image is never used for training.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from heart_segmentation.predict import DEFAULT_CHECKPOINT, image_borders, load_checkpoint
from mmode.annotations import read_borders
from mmode.metrics import border_agreement

REAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "real"
VEVO_DEPTH_MM = 616 * 0.011526


def evaluate(net) -> dict:
    image = np.asarray(Image.open(REAL / "annotated_borders.png").convert("L"), dtype=np.float32)
    expert = read_borders(REAL / "annotated_borders.borders.csv")
    traced = image_borders(net, image)
    result = border_agreement(expert, traced, image.shape[0])
    result["mm_per_px"] = VEVO_DEPTH_MM / image.shape[0]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seg-model", type=Path, default=DEFAULT_CHECKPOINT)
    args = parser.parse_args(argv)
    result = evaluate(load_checkpoint(args.seg_model))
    mm = result["mm_per_px"]
    print(f"cavity Dice {result['cavity_dice']:.3f} over {result['columns']} columns")
    for name in ("lvid", "lvaw", "lvpw"):
        r = result[name]
        print(f"{name.upper()}: median |error| {r['median_px']:.1f} px ({r['median_px'] * mm:.3f} mm), "
              f"95th percentile {r['p95_px']:.1f} px ({r['p95_px'] * mm:.3f} mm), {r['columns']} columns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
