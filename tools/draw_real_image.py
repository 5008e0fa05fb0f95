"""Draw the pipeline's borders (cyan) over the expert's (yellow) on the real image in tests/data/real.

    python tools/draw_real_image.py [-o docs/real_image_borders.png] [--seg-model CHECKPOINT]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from heart_segmentation.predict import DEFAULT_CHECKPOINT, image_borders, load_checkpoint
from mmode.annotations import read_borders

REAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "real"
EXPERT, OURS = (255, 230, 0), (0, 200, 255)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/real_image_borders.png"))
    parser.add_argument("--seg-model", type=Path, default=DEFAULT_CHECKPOINT)
    args = parser.parse_args(argv)
    grey = Image.open(REAL / "annotated_borders.png").convert("L")
    image = np.asarray(grey, dtype=np.float32)
    ours = image_borders(load_checkpoint(args.seg_model), image)
    expert = read_borders(REAL / "annotated_borders.borders.csv")
    picture = grey.convert("RGB")
    draw = ImageDraw.Draw(picture)
    columns = np.arange(image.shape[1])
    for borders, colour in ((expert, EXPERT), (ours, OURS)):
        for border in borders:
            traced = np.isfinite(border)
            draw.line(list(zip(columns[traced], border[traced])), fill=colour, width=3)
    picture.resize((image.shape[1] // 2, image.shape[0] // 2), Image.LANCZOS).save(args.output, optimize=True)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
