"""Turn the expert-annotated real M-mode screenshot into a grey test image and per-column traces.

    python tools/extract_real_traces.py [--source PNG] [--output tests/data/real]

The source (``annotated_borders.png`` from the original repository's documentation) is a
1926 x 1236 screenshot of a mouse M-mode recording on which an expert drew four yellow polylines,
each with a small yellow digit on a dark, semi-transparent box near its left end: 4 = anterior
epicardium (top), 3 = anterior endocardium, 1 = posterior endocardium, 2 = posterior epicardium.

Method, and why:

- Yellowness ``min(R, G) - B``. The recording itself is exactly grey (R = G = B), so a grey pixel
  has yellowness 0 whatever its brightness, and an anti-aliased pixel that is a fraction ``a`` line
  over grey ``v`` has yellowness ``a * (min(Yr, Yg) - Yb)`` (about 140 a): proportional to how much
  of the pixel the line covers, independent of the echo underneath. Every pixel that is not exactly
  grey lies within 3 px of a line or digit, so "not exactly grey" is the whole footprint of the
  drawing.
- Digits are drawn at full strength on top of their boxes; the lines that pass under a box are
  dimmed to about a quarter (yellowness about 35 instead of 140). Digits are therefore the bright
  (yellowness >= 70) connected components of glyph size (10-20 px tall, at most 14 px wide); the
  dot that starts line 1 and the little hook that starts line 3 are too short or too wide.
- Lines are the connected components of yellowness >= 20 (dimmed stretches included) that span
  at least half the width; they never cross, so their mean rows order them top to bottom. The
  faint anti-aliased fringe is given to the nearest line.
- Per column, the centre of a line is the yellowness-weighted mean row of its pixels (sub-pixel,
  symmetric in the anti-aliasing); inside a label box the weights are divided by the box's
  transmission so that a box edge does not pull the centre. Where a digit is drawn over a line
  (digit 1 sits on line 1), the columns under the digit are linearly interpolated from both sides:
  the expert's polyline is straight there.
- The grey picture keeps every exactly-grey pixel's value (its luminance). Where a line covers a
  pixel only in part, the echo under it still shows: the pixel is ``(1 - a) * grey + a * yellow``
  with the coverage ``a`` given by its yellowness, so the grey is recovered exactly up to rounding
  (see :func:`unmix`). Only the lines' cores (coverage above MAX_UNMIXED_COVERAGE, where rounding
  would be amplified more than 3.3 times) and the four label boxes are filled, with a normalised
  Gaussian interpolation plus speckle borrowed from just beyond the hole (see :func:`inpaint`).
  Filling the whole footprint instead (97 000 pixels rather than 28 000) wiped out the thin
  endocardial echo under the expert's lines. The footprint needs no dilation: a pixel that the
  line covers even by 1 % is already not exactly grey.

The screenshot's 2-px white frame (rows 0-1 and 1234-1235, columns 1924-1925) is kept as it is.
"""
from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage import measure

log = logging.getLogger(__name__)

REAL_EXAMPLES = Path(os.environ.get("MMODE_REAL_EXAMPLES", "/work/shared/reference/real_examples"))
DEFAULT_SOURCE = REAL_EXAMPLES / "annotated_borders.png"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "real"

# Top to bottom; the expert's digit for each is in EXPERT_LABELS.
BORDERS = ("anterior_epicardium", "anterior_endocardium", "posterior_endocardium", "posterior_epicardium")
EXPERT_LABELS = (4, 3, 1, 2)

# --- measured on annotated_borders.png -------------------------------------------------------
LINE_CORE_MIN = 20  # yellowness of a line's core: 140 in the open, about 35 under a label box
DIGIT_CORE_MIN = 70  # digits are drawn at full strength on top of their boxes
DIGIT_HEIGHT_PX = (10, 20)  # glyphs are 14 px tall; the dot starting line 1 is 4 px
DIGIT_MAX_WIDTH_PX = 14  # glyphs are 6-10 px wide; the hook starting line 3 is 22 px
DIGIT_PAD_PX = 3  # the digit's anti-aliased edge
MAX_FRINGE_PX = 3  # every non-grey pixel is within 3 px of a line's or a digit's core
MIN_LINE_SPAN_FRACTION = 0.5  # a line spans at least half the width; digits span 6-10 px
BOX_TRANSMISSION = 0.25  # a box passes a quarter of what lies under it (line 35 vs 140)
# Each box reaches 10 rows above its digit's bright core and 7 below, 6-8 columns left and
# 9-11 right; one more pixel on each side takes in the box's blurred edge.
BOX_MARGIN_PX = {"above": 11, "below": 8, "left": 9, "right": 12}
# --- recovering the grey under the drawing ------------------------------------------------
# The line colour at full coverage: the 38 most yellow pixels (yellowness >= 160) are (251, 249, 85)
# in the median, and (R - B) / (G - B) is 1.016 (1.009-1.023) over every pixel the lines cover.
LINE_RGB = (251.0, 249.0, 85.0)
MAX_UNMIXED_COVERAGE = 0.7  # the grey is (pixel - a * line) / (1 - a): rounding grows by 1 / (1 - a)
FILL_SIGMAS_PX = (1.5, 3, 6, 12, 24)  # the largest sees across the biggest label box
GAUSSIAN_TRUNCATE = 4.0  # scipy's default: the kernel reaches 4 sigma
FILL_FULL_WEIGHT = 0.2  # Gaussian weight of valid pixels at which a scale is fully trusted
TEXTURE_SIGMA_PX = 2  # speckle = pixel minus its local mean at this scale
TEXTURE_SHIFTS_PX = (9, 15, 25, 40)  # lines are 4-8 px thick, label boxes up to 40 px
TEXTURE_LIMIT_FRACTION, TEXTURE_LIMIT_GREY = 0.25, 4  # borrowed speckle within +-(0.25 x level + 4)
# --- checks -------------------------------------------------------------------------------
MAX_STEP_PX = 40  # largest row change between neighbouring traced columns
MIN_COVERAGE = 0.9  # fraction of the columns each border must be traced in

N_DIGITS = len(EXPERT_LABELS)


class AnnotationError(ValueError):
    """The screenshot's drawing is not four lines with four digits as expected."""


@dataclass(frozen=True)
class Drawing:
    """What the expert drew on the screenshot.

    Attributes
    ----------
    yellowness : np.ndarray, shape (rows, columns), int16
        ``min(R, G) - B``, clipped at 0; 0 on the grey recording.
    footprint : np.ndarray, shape (rows, columns), bool
        Pixels that are not exactly grey: lines, digits and their anti-aliased fringes.
    digit_boxes : tuple of (row0, row1, col0, col1)
        Bounding boxes (half-open) of the digits' bright cores.
    label_boxes : np.ndarray, shape (rows, columns), bool
        The dark boxes drawn behind the digits.
    """

    yellowness: np.ndarray
    footprint: np.ndarray
    digit_boxes: tuple[tuple[int, int, int, int], ...]
    label_boxes: np.ndarray


def read_rgb(path: Path) -> np.ndarray:
    """Read a PNG as RGB, shape (rows, columns, 3), uint8; alpha is dropped (it is opaque)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def find_drawing(rgb: np.ndarray) -> Drawing:
    """Locate the expert's yellow lines, digits and label boxes.

    Parameters
    ----------
    rgb : np.ndarray, shape (rows, columns, 3), uint8

    Returns
    -------
    Drawing
    """
    channels = rgb.astype(np.int16)
    red, green, blue = channels[..., 0], channels[..., 1], channels[..., 2]
    yellowness = np.clip(np.minimum(red, green) - blue, 0, None)
    footprint = (red != green) | (green != blue)

    digit_boxes = []
    for region in measure.regionprops(measure.label(yellowness >= DIGIT_CORE_MIN, connectivity=2)):
        row0, col0, row1, col1 = region.bbox
        if DIGIT_HEIGHT_PX[0] <= row1 - row0 <= DIGIT_HEIGHT_PX[1] and col1 - col0 <= DIGIT_MAX_WIDTH_PX:
            digit_boxes.append((row0, row1, col0, col1))
    if len(digit_boxes) != N_DIGITS:
        raise AnnotationError(f"found {len(digit_boxes)} digit labels, expected {N_DIGITS}: {digit_boxes}")

    label_boxes = np.zeros(yellowness.shape, dtype=bool)
    for row0, row1, col0, col1 in digit_boxes:
        label_boxes[max(row0 - BOX_MARGIN_PX["above"], 0):row1 + BOX_MARGIN_PX["below"],
                    max(col0 - BOX_MARGIN_PX["left"], 0):col1 + BOX_MARGIN_PX["right"]] = True
    return Drawing(yellowness, footprint, tuple(digit_boxes), label_boxes)


def find_lines(drawing: Drawing) -> np.ndarray:
    """Give each pixel of the drawing to one of the four lines.

    Parameters
    ----------
    drawing : Drawing

    Returns
    -------
    np.ndarray, shape (rows, columns), int8
        0-3 for the borders of ``BORDERS`` (top to bottom), -1 elsewhere (grey, or a digit that
        does not touch a line).
    """
    core = drawing.yellowness >= LINE_CORE_MIN
    components = measure.label(core, connectivity=2)
    width = core.shape[1]
    lines = [region for region in measure.regionprops(components)
             if region.bbox[3] - region.bbox[1] >= MIN_LINE_SPAN_FRACTION * width]
    if len(lines) != len(BORDERS):
        raise AnnotationError(f"found {len(lines)} lines spanning half the width, expected {len(BORDERS)}")
    lines.sort(key=lambda region: region.centroid[0])

    border_of_component = np.full(components.max() + 1, -1, dtype=np.int8)
    for border, region in enumerate(lines):
        border_of_component[region.label] = border
    # The faint fringe below LINE_CORE_MIN belongs to the nearest core pixel's line.
    distance_px, (nearest_row, nearest_col) = ndi.distance_transform_edt(~core, return_indices=True)
    owner = border_of_component[components[nearest_row, nearest_col]]
    owner[~drawing.footprint | (distance_px > MAX_FRINGE_PX)] = -1
    return owner


def trace_borders(drawing: Drawing, owner: np.ndarray) -> np.ndarray:
    """Centre row of each border in each column.

    Parameters
    ----------
    drawing : Drawing
    owner : np.ndarray, shape (rows, columns), int8
        From :func:`find_lines`.

    Returns
    -------
    np.ndarray, shape (4, columns), float64
        Row (pixels of the full-size image, 0 = top) of the line's centre; NaN where the border
        is not traced. Rows follow ``BORDERS``.
    """
    n_columns = owner.shape[1]
    weight = drawing.yellowness.astype(np.float64)
    weight[drawing.label_boxes] /= BOX_TRANSMISSION
    digits = [(slice(max(row0 - DIGIT_PAD_PX, 0), row1 + DIGIT_PAD_PX),
               slice(max(col0 - DIGIT_PAD_PX, 0), min(col1 + DIGIT_PAD_PX, n_columns)))
              for row0, row1, col0, col1 in drawing.digit_boxes]
    under_digit = np.zeros(owner.shape, dtype=bool)
    for digit in digits:
        under_digit[digit] = True

    rows, columns = np.nonzero((owner >= 0) & ~under_digit)
    borders = owner[rows, columns]
    pixel_weight = weight[rows, columns]
    traces = np.full((len(BORDERS), n_columns), np.nan)
    for border, trace in enumerate(traces):
        mine = borders == border
        total = np.bincount(columns[mine], weights=pixel_weight[mine], minlength=n_columns)
        moment = np.bincount(columns[mine], weights=pixel_weight[mine] * rows[mine], minlength=n_columns)
        traced = total > 0
        trace[traced] = moment[traced] / total[traced]

        # Where a digit is drawn over this line, its columns are interpolated from both sides.
        for digit_rows, digit_columns in digits:
            line_core = (owner[digit_rows, digit_columns] == border) & \
                (drawing.yellowness[digit_rows, digit_columns] >= LINE_CORE_MIN)
            if line_core.any():
                covered = np.arange(digit_columns.start, digit_columns.stop)
                trace[covered] = np.nan
                known = np.flatnonzero(~np.isnan(trace))
                inside = covered[(covered > known[0]) & (covered < known[-1])]
                trace[inside] = np.interp(inside, known, trace[known])
    return traces


def check_traces(traces: np.ndarray) -> None:
    """Raise AnnotationError unless the traces are continuous, ordered and cover the width.

    Parameters
    ----------
    traces : np.ndarray, shape (4, columns), float64
        From :func:`trace_borders`.
    """
    n_columns = traces.shape[1]
    for name, trace in zip(BORDERS, traces):
        traced = np.flatnonzero(~np.isnan(trace))
        if traced.size < MIN_COVERAGE * n_columns:
            raise AnnotationError(f"{name}: traced in {traced.size} of {n_columns} columns")
        if traced[-1] - traced[0] + 1 != traced.size:
            raise AnnotationError(f"{name}: the trace has gaps between columns {traced[0]} and {traced[-1]}")
        step_px = np.abs(np.diff(trace[traced])).max()
        if step_px >= MAX_STEP_PX:
            raise AnnotationError(f"{name}: jumps {step_px:.1f} px between neighbouring columns")
    all_traced = ~np.isnan(traces).any(axis=0)
    if not (np.diff(traces[:, all_traced], axis=0) > 0).all():
        raise AnnotationError(f"borders are not ordered {' < '.join(BORDERS)} in every column")


def _normalised_blur(values: np.ndarray, valid: np.ndarray, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian average of the valid pixels only, and the Gaussian weight of valid pixels there."""
    weight = ndi.gaussian_filter(valid.astype(np.float32), sigma_px, mode="nearest", truncate=GAUSSIAN_TRUNCATE)
    total = ndi.gaussian_filter(np.where(valid, values, 0), sigma_px, mode="nearest", truncate=GAUSSIAN_TRUNCATE)
    return total / np.maximum(weight, np.finfo(np.float32).tiny), weight


def _shifted(values: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """``out[r, c] = values[r + rows, c + columns]``, NaN where that falls outside."""
    out = np.full(values.shape, np.nan, dtype=values.dtype)
    n_rows, n_columns = values.shape
    out[max(-rows, 0):n_rows - max(rows, 0), max(-columns, 0):n_columns - max(columns, 0)] = \
        values[max(rows, 0):n_rows + min(rows, 0), max(columns, 0):n_columns + min(columns, 0)]
    return out


def inpaint(grey: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill holes with a smooth estimate plus speckle borrowed from just beyond the hole.

    The smooth part is a normalised Gaussian interpolation over several scales: each finer scale
    takes a pixel in proportion to how much valid image it sees, so thin holes take their
    surroundings within 1-2 px and the 30 x 40 px label boxes a wider average, without seams
    between scales. A smooth band would show in the speckle, so each hole pixel also gets
    the fine texture (pixel minus its 2-px local mean) of the nearest valid pixel 9, 15, 25 or 40 px
    away along its row, or else along its column, clipped to speckle size so that bright edges
    are not copied as ghosts.

    Parameters
    ----------
    grey : np.ndarray, shape (rows, columns), uint8
    hole : np.ndarray, shape (rows, columns), bool
        Pixels to replace; all others are returned unchanged.

    Returns
    -------
    np.ndarray, shape (rows, columns), uint8
    """
    values = grey.astype(np.float32)
    valid = ~hole
    # Fine to coarse: each scale fills the share of a pixel that the finer ones left unfilled. Coarse scales
    # are needed only near the label boxes, so each is computed on the bounding box of what is
    # left, grown by the filter's reach (which leaves the result as on the whole image).
    smooth = np.zeros(values.shape, dtype=np.float32)
    unfilled = hole.astype(np.float32)  # share of each pixel not yet filled
    for sigma_px in sorted(FILL_SIGMAS_PX):
        rows, columns = np.flatnonzero(unfilled.any(axis=1)), np.flatnonzero(unfilled.any(axis=0))
        if rows.size == 0:
            break
        reach = int(GAUSSIAN_TRUNCATE * sigma_px) + 1
        region = (slice(max(rows[0] - reach, 0), rows[-1] + reach + 1),
                  slice(max(columns[0] - reach, 0), columns[-1] + reach + 1))
        estimate, weight = _normalised_blur(values[region], valid[region], sigma_px)
        confidence = 1 if sigma_px == max(FILL_SIGMAS_PX) else np.clip(weight / FILL_FULL_WEIGHT, 0, 1)
        smooth[region] += unfilled[region] * confidence * estimate
        unfilled[region] *= 1 - confidence

    local_mean, _ = _normalised_blur(values, valid, TEXTURE_SIGMA_PX)
    speckle = np.where(valid, values - local_mean, np.nan)
    texture = np.full(values.shape, np.nan, dtype=np.float32)
    for distance_px in TEXTURE_SHIFTS_PX:
        for row_shift, column_shift in ((0, distance_px), (0, -distance_px), (distance_px, 0), (-distance_px, 0)):
            np.copyto(texture, _shifted(speckle, row_shift, column_shift), where=np.isnan(texture))
    limit = TEXTURE_LIMIT_FRACTION * smooth + TEXTURE_LIMIT_GREY
    texture = np.clip(np.nan_to_num(texture), -limit, limit)

    out = grey.copy()
    out[hole] = np.clip(np.rint(smooth[hole] + texture[hole]), 0, 255).astype(np.uint8)
    return out


def line_coverage(yellowness: np.ndarray) -> np.ndarray:
    """Fraction (0-1) of each pixel that a line covers, from its yellowness ``min(R, G) - B``."""
    return np.clip(yellowness / (min(LINE_RGB[:2]) - LINE_RGB[2]), 0.0, 1.0)


def unmix(rgb: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """The grey under a partly covering line: ``(pixel - a * LINE_RGB) / (1 - a)``, averaged over
    the three channels (which divides their rounding by about 1.7); float, not clipped.

    Parameters
    ----------
    rgb : np.ndarray, shape (..., 3), uint8
    coverage : np.ndarray, shape (...), float
        From :func:`line_coverage`; below 1 wherever the result is used.
    """
    covered = coverage[..., None] * np.asarray(LINE_RGB)
    return ((rgb - covered) / np.maximum(1.0 - coverage[..., None], 1e-6)).mean(axis=-1)


def remove_drawing(rgb: np.ndarray, drawing: Drawing) -> np.ndarray:
    """The recording as 8-bit grey without the lines, digits and label boxes.

    Parameters
    ----------
    rgb : np.ndarray, shape (rows, columns, 3), uint8
    drawing : Drawing

    Returns
    -------
    np.ndarray, shape (rows, columns), uint8
        Outside the drawing, the pixel's own grey value (R = G = B there, so it is its luminance);
        under the thin edges of a line, the grey unmixed from the line's yellow.
    """
    grey = rgb[..., 1].copy()
    coverage = line_coverage(drawing.yellowness)
    hole = drawing.label_boxes | (drawing.footprint & (coverage > MAX_UNMIXED_COVERAGE))
    edges = drawing.footprint & ~hole
    grey[edges] = np.clip(np.rint(unmix(rgb[edges], coverage[edges])), 0, 255).astype(np.uint8)
    return inpaint(grey, hole)


def summarise(traces: np.ndarray) -> list[str]:
    """Lines of text: each border's traced columns and row range, and the cavity height."""
    lines = []
    for label, name, trace in zip(EXPERT_LABELS, BORDERS, traces):
        traced = np.flatnonzero(~np.isnan(trace))
        lines.append(f"{label} {name:22s} columns {traced[0]:4d}-{traced[-1]:4d} ({traced.size:4d} traced), "
                     f"rows {np.nanmin(trace):6.1f}-{np.nanmax(trace):6.1f}")
    cavity_px = traces[2] - traces[1]
    cavity_px = cavity_px[~np.isnan(cavity_px)]
    p5, median, p95 = np.percentile(cavity_px, [5, 50, 95])
    lines.append(f"cavity (border 1 - border 3) over {cavity_px.size} columns: median {median:.1f} px, "
                 f"5-95 % {p5:.1f}-{p95:.1f} px")
    return lines


def write_traces(traces: np.ndarray, path: Path) -> None:
    """CSV: a row per image column, a column per border, empty where not traced."""
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(("column", *BORDERS))
        for column, rows in enumerate(traces.T):
            writer.writerow((column, *("" if np.isnan(row) else f"{row:.4f}" for row in rows)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the annotated screenshot")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder for the CSV and grey PNG")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        rgb = read_rgb(args.source)
        drawing = find_drawing(rgb)
        traces = trace_borders(drawing, find_lines(drawing))
        check_traces(traces)
        grey = remove_drawing(rgb, drawing)
    except OSError as error:
        print(f"extract_real_traces: {error}", file=sys.stderr)
        return 1
    except AnnotationError as error:
        print(f"extract_real_traces: {args.source}: {error}", file=sys.stderr)
        return 1

    args.output.mkdir(parents=True, exist_ok=True)
    stem = args.source.stem
    write_traces(traces, args.output / f"{stem}.borders.csv")
    Image.fromarray(grey).save(args.output / f"{stem}.png", optimize=True)
    log.info("wrote %s and %s", args.output / f"{stem}.borders.csv", args.output / f"{stem}.png")
    print("\n".join(summarise(traces)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
