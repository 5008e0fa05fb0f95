"""Annotating recordings in labelme: export the stitched image, import the traced borders and bad stretches.

A lab traces its own recordings in `labelme <https://github.com/wkentaro/labelme>`_ (``pip install
labelme``), a well-kept annotation tool that saves one plain JSON file per image; this module writes
the images and JSON files for it and reads them back into the two training formats: the border traces
``NAME.borders.csv`` (:mod:`mmode.annotations`) and the quality annotations CSV
(:mod:`mmode.quality_annotations`). labelme itself is not needed here.

::

    python -m mmode.labelme_io export study/mouse_01.dcm -o labels/ [--piece-px 1500] [--prefill]
    labelme labels/ --validatelabel exact --labels anterior_epicardium,anterior_endocardium,\\
        posterior_endocardium,posterior_epicardium,bad          # labelme 5: add --nodata --autosave
    python -m mmode.labelme_io import labels/ -o study/

Export writes the stitched grey M-mode image (all frames, the region only) as ``NAME.png``, or cut into
pieces of at most ``--piece-px`` columns as ``NAME_c01500.png`` (the number is the piece's first column),
each with a labelme file ``NAME.json`` / ``NAME_c01500.json`` that records, under the key ``"mmode"``, the
recording's file name, the piece's first column (``column_offset``), the stitched width and the seconds
per pixel. labelme keeps that key when it saves. ``--prefill`` draws the traces of ``NAME.borders.csv``
(a vertex every ``--vertex-px`` columns) and the bad intervals of ``--quality CSV`` as a start to correct.

What to draw (labels; the expert numbering 4, 3, 1, 2 of the original is accepted too):

- ``anterior_epicardium`` (4), ``anterior_endocardium`` (3), ``posterior_endocardium`` (1),
  ``posterior_epicardium`` (2): one line strip each (labelme's "Create LineStrip", or "Create Line" for
  two points), clicked along the border from left to right; a border may be drawn in several pieces
  that do not overlap in time, and left out where it cannot be seen.
- ``bad``: a rectangle over each stretch of bad acquisition quality; only its left and right edges count.

Coordinates
-----------
labelme stores points in image coordinates whose origin is the top-left *corner* of the image: pixel
column c, row r covers ``c <= x < c + 1`` and ``r <= y < r + 1``, its centre at (c + 0.5, r + 0.5). Our
files count pixel centres (see :mod:`mmode.annotations`), so

- stitched column = ``column_offset + x - 0.5``; border row = ``y - 0.5`` (row 0 = top of the M-mode
  region, the probe side);
- a line strip covers the columns whose pixels it passes over (``floor(x_first)`` to ``ceil(x_last) - 1``);
  each covered column c gets the strip's height at its centre, linearly interpolated between the
  vertices (the end vertices' rows beyond them); other columns are empty (NaN);
- time in seconds = stitched x * seconds_per_px, with the stitched x = ``column_offset + x``: column c
  covers ``[c, c + 1) * seconds_per_px``, so a rectangle from x0 to x1 is the interval
  ``[(offset + x0), (offset + x1)] * seconds_per_px``;
- the imported stretches of a recording (the pieces imported) not covered by a ``bad`` rectangle are
  good; columns of pieces not imported are not annotated at all.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from mmode.annotations import BORDER_COLUMNS, borders_path, read_borders, write_borders
from mmode.cli import EXIT_BAD_INPUT, EXIT_OK
from mmode.errors import AnnotationError, EchoInputError, shown
from mmode.quality_annotations import (QualityAnnotation, merge, read_quality_annotations, recording_key,
                                       subtract, write_quality_annotations)

log = logging.getLogger(__name__)

LABELME_VERSION = "5.5.0"  # the format of labelme 5 and 6 (a file's version only makes labelme warn)
META_KEY = "mmode"
BAD_LABEL = "bad"
BORDER_SHAPES = ("linestrip", "line")
BAD_SHAPES = ("rectangle",)
EXPERT_NUMBERS = {"4": BORDER_COLUMNS[0], "3": BORDER_COLUMNS[1], "1": BORDER_COLUMNS[2], "2": BORDER_COLUMNS[3]}
VERTEX_PX = 10  # columns between the vertices of prefilled line strips
MAX_BACKSTEP_PX = 1.0  # a hand-drawn strip may step back this far in x (steep edges); further is an error
EDGE_SLACK_PX = 1.0  # points this far outside the image are clamped (labelme keeps them inside)


@dataclass
class Piece:
    """One exported image's annotations and where it lies in its recording.

    ``lines[k]`` holds the line strips of border ``BORDER_COLUMNS[k]``, each as (shape number in the file,
    (n, 2) array of (x, y) in the piece's labelme coordinates, left to right); ``bad_x`` the rectangles'
    (x0, x1) in the same coordinates.
    """

    path: Path
    recording: str
    column_offset: int
    width: int
    height: int
    stitched_width: int
    seconds_per_px: float
    lines: list[list[tuple[int, np.ndarray]]] = field(default_factory=lambda: [[] for _ in BORDER_COLUMNS])
    bad_x: list[tuple[float, float]] = field(default_factory=list)

    @property
    def span_s(self) -> tuple[float, float]:
        return (self.column_offset * self.seconds_per_px,
                (self.column_offset + self.width) * self.seconds_per_px)


# --- writing --------------------------------------------------------------------------------------------------

def _shape(label: str, points, shape_type: str) -> dict:
    return {"label": label, "points": [[round(float(x), 3), round(float(y), 3)] for x, y in points],
            "group_id": None, "description": "", "shape_type": shape_type, "flags": {}, "mask": None}


def border_shapes(borders: np.ndarray, offset: int, width: int, vertex_px: int = VERTEX_PX) -> list[dict]:
    """labelme line strips of border traces (4, stitched width) inside columns [offset, offset + width).

    One strip per run of traced columns, a vertex every ``vertex_px`` columns and at the run's ends.
    """
    shapes = []
    for name, rows in zip(BORDER_COLUMNS, borders[:, offset:offset + width]):
        traced = np.isfinite(rows)
        edges = np.flatnonzero(np.diff(np.concatenate([[False], traced, [False]]).astype(np.int8)))
        for first, stop in zip(edges[::2], edges[1::2]):
            columns = np.unique(np.append(np.arange(first, stop, vertex_px), stop - 1))
            shapes.append(_shape(name, np.stack([columns + 0.5, rows[columns] + 0.5], axis=1), "linestrip"))
    return shapes


def bad_shapes(bad_s, seconds_per_px: float, offset: int, width: int, height: int) -> list[dict]:
    """labelme rectangles of bad intervals (seconds) that fall inside columns [offset, offset + width)."""
    shapes = []
    for start_s, end_s in merge(bad_s):
        x0 = min(max(start_s / seconds_per_px - offset, 0.0), width)
        x1 = min(max(end_s / seconds_per_px - offset, 0.0), width)
        if x1 > x0:
            shapes.append(_shape(BAD_LABEL, [(x0, 0.0), (x1, height)], "rectangle"))
    return shapes


def labelme_document(image_name: str, height: int, width: int, shapes: list[dict], meta: dict) -> dict:
    """A labelme file's content for an image beside it (no embedded image data)."""
    return {"version": LABELME_VERSION, "flags": {}, "shapes": shapes, "imagePath": image_name,
            "imageData": None, "imageHeight": int(height), "imageWidth": int(width), META_KEY: meta}


def export_recording(dicom_path, out_dir, piece_px: int | None = None, borders: np.ndarray | None = None,
                     bad_s=(), vertex_px: int = VERTEX_PX, overwrite: bool = False) -> list[Path]:
    """Write a recording's stitched image as PNG piece(s) with labelme files beside; return the JSON paths.

    Parameters
    ----------
    piece_px : at most this many columns per image (None: one image of the whole recording).
    borders : border traces (4, stitched width) rows to draw as a start, or None.
    bad_s : bad intervals (start_s, end_s) to draw as rectangles.
    overwrite : replace labelme files that exist (they may hold a person's traces).

    Raises
    ------
    AnnotationError
        A labelme file of the recording exists already and ``overwrite`` is false.
    """
    from mmode.recording import load_recording

    dicom_path, out_dir = Path(dicom_path), Path(out_dir)
    recording = load_recording(dicom_path)
    rows, width = recording.image.shape
    grey = np.clip(np.rint(recording.image), 0, 255).astype(np.uint8)
    step = piece_px or width
    stem = recording_key(dicom_path.name)
    pieces = [(offset, min(step, width - offset), stem if step >= width else f"{stem}_c{offset:05d}")
              for offset in range(0, width, step)]
    existing = [out_dir / f"{name}.json" for _, _, name in pieces if (out_dir / f"{name}.json").exists()]
    if existing and not overwrite:
        raise AnnotationError(existing[0], "labelme file exists (traced already?): import it, move it away, or "
                                           "export with --overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for offset, piece_width, name in pieces:
        Image.fromarray(grey[:, offset:offset + piece_width]).save(out_dir / f"{name}.png")
        shapes = [] if borders is None else border_shapes(borders, offset, piece_width, vertex_px)
        shapes += bad_shapes(bad_s, recording.calibration.seconds_per_px, offset, piece_width, rows)
        meta = {"recording": dicom_path.name, "column_offset": offset, "stitched_width": width,
                "seconds_per_px": recording.calibration.seconds_per_px, "mm_per_px": recording.calibration.mm_per_px}
        document = labelme_document(f"{name}.png", rows, piece_width, shapes, meta)
        json_path = out_dir / f"{name}.json"
        json_path.write_text(json.dumps(document, indent=1), encoding="utf-8")
        written.append(json_path)
    return written


# --- reading --------------------------------------------------------------------------------------------------

def border_index(label: str) -> int | None:
    """Which border a label names (our names in any case, spaces or hyphens for underscores, or the expert
    numbers 4, 3, 1, 2), ``-1`` for ``bad``, None for anything else."""
    key = label.strip().lower().replace(" ", "_").replace("-", "_")
    key = EXPERT_NUMBERS.get(key, key)
    if key == BAD_LABEL:
        return -1
    return BORDER_COLUMNS.index(key) if key in BORDER_COLUMNS else None


def _number(value, path: Path, where: str, what: str, whole: bool = False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (whole and value != int(value)):
        raise AnnotationError(path, f"labelme file: {where}: {what} {value!r} is not a {'whole ' if whole else ''}"
                                    "number")
    return int(value) if whole else float(value)


def _meta(data: dict, path: Path) -> dict:
    meta = data.get(META_KEY)
    if not isinstance(meta, dict):
        raise AnnotationError(path, f"labelme file: no {META_KEY!r} entry, so its recording and columns are "
                                    "unknown: export the recording with python -m mmode.labelme_io export")
    for key in ("recording", "column_offset", "stitched_width", "seconds_per_px"):
        if key not in meta:
            raise AnnotationError(path, f"labelme file: the {META_KEY!r} entry has no {key!r}")
    if not isinstance(meta["recording"], str) or not meta["recording"].strip():
        raise AnnotationError(path, f"labelme file: {META_KEY}.recording is not a file name")
    return meta


def _points(shape: dict, path: Path, where: str, piece: Piece) -> np.ndarray:
    points = shape.get("points")
    if not isinstance(points, list) or not points or not all(isinstance(p, list) and len(p) == 2 for p in points):
        raise AnnotationError(path, f"labelme file: {where}: points must be a list of [x, y]")
    xy = np.array([[_number(v, path, where, "coordinate") for v in p] for p in points], dtype=np.float64)
    for axis, size, name in ((0, piece.width, "x"), (1, piece.height, "y")):
        outside = (xy[:, axis] < -EDGE_SLACK_PX) | (xy[:, axis] > size + EDGE_SLACK_PX)
        if outside.any():
            k = int(np.argmax(outside))
            raise AnnotationError(path, f"labelme file: {where}: point {k + 1} has {name} = {xy[k, axis]:g}, "
                                        f"outside the {piece.width} x {piece.height} image")
        xy[:, axis] = np.clip(xy[:, axis], 0, size)
    return xy


def _strip(xy: np.ndarray, path: Path, where: str) -> np.ndarray:
    """The strip's points from left to right; a strip drawn right to left is turned round."""
    if len(xy) < 2:
        raise AnnotationError(path, f"labelme file: {where}: a border needs at least two points")
    if xy[-1, 0] < xy[0, 0]:
        xy = xy[::-1]
    reach = np.maximum.accumulate(xy[:, 0])
    back = reach - xy[:, 0]
    if back.max() > MAX_BACKSTEP_PX:
        k = int(np.argmax(back > MAX_BACKSTEP_PX))
        raise AnnotationError(path, f"labelme file: {where}: the line goes back in time at point {k + 1} "
                                    f"(x = {xy[k, 0]:.1f} after {reach[k]:.1f}); a border has one row per column")
    return xy[np.argsort(xy[:, 0], kind="stable")]


def read_piece(path) -> Piece:
    """One labelme file written by :func:`export_recording` (and edited in labelme), checked.

    Raises
    ------
    AnnotationError
        Not JSON, not a labelme file of an exported recording, an unknown label, a border not drawn as a
        line strip or a bad stretch not as a rectangle, points outside the image, a border that goes back in
        time. Each message names the file and the shape (its number in the file and its label).
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
        data = json.loads(text)
    except OSError as exc:
        raise AnnotationError(path, f"labelme file: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise AnnotationError(path, "labelme file: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise AnnotationError(path, f"labelme file: line {exc.lineno}, column {exc.colno}: not valid JSON "
                                    f"({exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise AnnotationError(path, "labelme file: no list of shapes")
    meta = _meta(data, path)
    piece = Piece(path, meta["recording"].strip(),
                  _number(meta["column_offset"], path, META_KEY, "column_offset", whole=True),
                  _number(data.get("imageWidth"), path, "imageWidth", "width", whole=True),
                  _number(data.get("imageHeight"), path, "imageHeight", "height", whole=True),
                  _number(meta["stitched_width"], path, META_KEY, "stitched_width", whole=True),
                  _number(meta["seconds_per_px"], path, META_KEY, "seconds_per_px"))
    if piece.width < 1 or piece.height < 1 or piece.seconds_per_px <= 0 or piece.column_offset < 0 \
            or piece.column_offset + piece.width > piece.stitched_width:
        raise AnnotationError(path, f"labelme file: image {piece.width} x {piece.height} at column "
                                    f"{piece.column_offset} does not fit a recording of {piece.stitched_width} "
                                    "columns")
    for k, shape in enumerate(data["shapes"], 1):
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            raise AnnotationError(path, f"labelme file: shape {k}: no label")
        where = f"shape {k} ({shape['label']!r})"
        which = border_index(shape["label"])
        shape_type = shape.get("shape_type", "polygon")
        if which is None:
            raise AnnotationError(path, f"labelme file: {where}: unknown label (expected one of "
                                        f"{', '.join(BORDER_COLUMNS)}, {BAD_LABEL}; or 4, 3, 1, 2)")
        if which < 0:
            if shape_type not in BAD_SHAPES:
                raise AnnotationError(path, f"labelme file: {where}: draw bad stretches as rectangles, not "
                                            f"{shape_type!r}")
            xy = _points(shape, path, where, piece)
            if len(xy) != 2:
                raise AnnotationError(path, f"labelme file: {where}: a rectangle has two corners, not {len(xy)}")
            piece.bad_x.append((float(xy[:, 0].min()), float(xy[:, 0].max())))
        else:
            if shape_type not in BORDER_SHAPES:
                raise AnnotationError(path, f"labelme file: {where}: draw borders as line strips "
                                            f"(Create LineStrip), not {shape_type!r}")
            piece.lines[which].append((k, _strip(_points(shape, path, where, piece), path, where)))
    return piece


def strip_rows(xy: np.ndarray, column_offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Stitched columns a line strip covers and its border row in each, from its (x, y) labelme points.

    Returns
    -------
    columns : (n,) int, the columns whose pixels the strip passes over.
    rows : (n,) float32, the strip's height at each column's centre minus half a pixel (pixel-centre rows).
    """
    first = math.floor(xy[0, 0])
    stop = max(math.ceil(xy[-1, 0]), first + 1)
    local = np.arange(first, stop)
    rows = np.interp(local + 0.5, xy[:, 0], xy[:, 1]) - 0.5
    return local + column_offset, rows.astype(np.float32)


def recording_borders(pieces: list[Piece]) -> np.ndarray:
    """The border traces (4, stitched width) of a recording's pieces; NaN where nothing is drawn.

    Raises
    ------
    AnnotationError
        Two strips of the same border cover one column.
    """
    width = pieces[0].stitched_width
    borders = np.full((len(BORDER_COLUMNS), width), np.nan, dtype=np.float32)
    drawn_by = np.full((len(BORDER_COLUMNS), width), -1, dtype=np.int64)
    sources = []
    for piece in pieces:
        for which, strips in enumerate(piece.lines):
            for number, xy in strips:
                columns, rows = strip_rows(xy, piece.column_offset)
                inside = columns < piece.column_offset + piece.width  # a strip ending on the right edge
                columns, rows = columns[inside], rows[inside]
                clash = drawn_by[which, columns] >= 0
                if clash.any():
                    other_path, other_number = sources[drawn_by[which, columns[clash][0]]]
                    raise AnnotationError(piece.path, f"labelme file: shape {number} and shape {other_number} of "
                                                      f"{shown(other_path.name)} both trace {BORDER_COLUMNS[which]} "
                                                      f"in column {columns[clash][0]}")
                drawn_by[which, columns] = len(sources)
                sources.append((piece.path, number))
                borders[which, columns] = rows
    return borders


def recording_quality(pieces: list[Piece]) -> QualityAnnotation:
    """Good and bad intervals (seconds) of a recording's pieces: bad = the rectangles, good = the rest of the
    imported pieces.

    Raises
    ------
    AnnotationError
        Two files are pieces of the same columns.
    """
    spans = sorted((piece.span_s, piece.path) for piece in pieces)
    for (a, first), (b, second) in zip(spans, spans[1:]):
        if b[0] < a[1] - 0.5 * pieces[0].seconds_per_px:
            raise AnnotationError(second, f"labelme file: its columns are also those of {shown(first.name)} "
                                          f"(exported twice?)")
    dt = pieces[0].seconds_per_px
    bad = merge(((piece.column_offset + x0) * dt, (piece.column_offset + x1) * dt)
                for piece in pieces for x0, x1 in piece.bad_x if x1 > x0)
    good = subtract([span for span, _ in spans], bad)
    return QualityAnnotation(pieces[0].recording, tuple(good), tuple(bad))


def read_pieces(paths) -> dict[str, list[Piece]]:
    """labelme files (or folders of them) grouped by recording key, each group sorted by column.

    Raises
    ------
    AnnotationError
        No labelme file, or pieces of one recording that disagree on its width or time scale.
    """
    files = []
    for path in map(Path, paths):
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    if not files:
        raise AnnotationError(Path(paths[0]) if paths else None, "no labelme file (*.json)")
    groups: dict[str, list[Piece]] = {}
    for path in files:
        piece = read_piece(path)
        groups.setdefault(recording_key(piece.recording), []).append(piece)
    for pieces in groups.values():
        pieces.sort(key=lambda p: p.column_offset)
        first = pieces[0]
        for piece in pieces[1:]:
            if (piece.stitched_width, piece.seconds_per_px) != (first.stitched_width, first.seconds_per_px):
                raise AnnotationError(piece.path, f"labelme file: recording {piece.recording} is "
                                                  f"{piece.stitched_width} columns at {piece.seconds_per_px:g} s/px "
                                                  f"here but {first.stitched_width} at {first.seconds_per_px:g} in "
                                                  f"{shown(first.path.name)}")
    return groups


def import_annotations(paths, out_dir, annotations_path=None) -> tuple[list[Path], Path]:
    """Turn labelme files into ``OUT/NAME.borders.csv`` files and rows of the quality annotations CSV.

    The quality file (default ``OUT/quality_annotations.csv``) keeps its rows of other recordings and gets
    the imported ones in place of theirs. A recording without any border strip gets no borders file.

    Returns
    -------
    The border files written and the quality annotations file.
    """
    out_dir = Path(out_dir)
    annotations_path = Path(annotations_path) if annotations_path else out_dir / "quality_annotations.csv"
    groups = read_pieces(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    quality = {}
    for key, pieces in groups.items():
        recording = pieces[0].recording
        target = out_dir / recording
        if not target.exists():
            log.warning("warning: %s: no such recording; its annotations are written beside where it should be",
                        shown(target))
        quality[key] = recording_quality(pieces)  # first: it names a piece imported twice as such
        borders = recording_borders(pieces)
        if np.isfinite(borders).any():
            for name, rows in zip(BORDER_COLUMNS, borders):
                if not np.isfinite(rows).any():
                    log.warning("warning: %s: no %s traced; its column is empty", recording, name)
            written.append(write_borders(borders_path(target), borders))
    existing = read_quality_annotations(annotations_path) if annotations_path.exists() else {}
    rows = [quality.pop(key, a) for key, a in existing.items()] + list(quality.values())
    write_quality_annotations(annotations_path, rows)
    return written, annotations_path


# --- command line ---------------------------------------------------------------------------------------------

def _export(args) -> None:
    from mmode.recording import find_recordings

    recordings = []
    for path in args.recordings:
        recordings.extend(find_recordings(path) if path.is_dir() else [path])
    if not recordings:
        raise EchoInputError(args.recordings[0], "holds no DICOM recording")
    quality = read_quality_annotations(args.quality) if args.quality else {}
    for path in recordings:
        traces = borders_path(path)
        borders = read_borders(traces) if args.prefill and traces.exists() else None
        annotation = quality.get(recording_key(path.name))
        written = export_recording(path, args.output, args.piece_px, borders, annotation.bad_s if annotation else (),
                                   args.vertex_px, args.overwrite)
        log.info("%s: %d image(s) and labelme file(s) in %s", shown(path), len(written), shown(args.output))


def _import(args) -> None:
    written, quality = import_annotations(args.labels, args.output, args.annotations)
    for path in written:
        log.info("wrote %s", shown(path))
    log.info("wrote %s", shown(quality))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Trace training labels in labelme: export images, import traces.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="stitched images and labelme files of recordings",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    export.add_argument("recordings", type=Path, nargs="+", help="DICOM files or folders of them")
    export.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNG and JSON files")
    export.add_argument("--piece-px", type=int, help="at most this many columns per image (default: one image)")
    export.add_argument("--prefill", action="store_true",
                        help="draw the traces of NAME.borders.csv beside each recording as a start")
    export.add_argument("--quality", type=Path, help="quality annotations CSV whose bad intervals to draw")
    export.add_argument("--vertex-px", type=int, default=VERTEX_PX, help="columns between prefilled vertices")
    export.add_argument("--overwrite", action="store_true", help="replace existing labelme files (and their traces)")
    imp = commands.add_parser("import", help="border traces and quality annotations from labelme files",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    imp.add_argument("labels", type=Path, nargs="+", help="labelme JSON files or folders of them")
    imp.add_argument("-o", "--output", type=Path, required=True,
                     help="folder of the recordings: NAME.borders.csv is written beside NAME.dcm")
    imp.add_argument("-a", "--annotations", type=Path,
                     help="quality annotations CSV to add the recordings to (default: OUTPUT/quality_annotations.csv)")
    args = parser.parse_args(argv)
    for option in ("piece_px", "vertex_px"):
        if getattr(args, option, None) is not None and getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        (_export if args.command == "export" else _import)(args)
    except EchoInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
