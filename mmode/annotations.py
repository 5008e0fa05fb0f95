"""LV border traces beside a recording (NAME.borders.csv) and the masks they define.

Coordinates
-----------
The CSV has one row per stitched column: ``column``, ``anterior_epicardium``,
``anterior_endocardium``, ``posterior_endocardium``, ``posterior_epicardium``,
optionally followed by more columns such as ``lvid_mm``. Columns are read by
their names in the header, not by position.

- ``column`` is the column of the stitched M-mode image (``mmode.stitch``):
  0 is the first column of the first frame; column c is the time
  ``c * seconds_per_px`` after the recording's start.
- A border is a row of the M-mode region (0 = its top, the probe side), a
  float measured at pixel centres: row r is the centre of the r-th pixel row, so
  a border at 120.0 runs through the middle of pixel row 120 and one at 120.5
  between rows 120 and 121.
- A band between two borders holds the rows r with ``top <= r < bottom`` (the
  rule of :func:`cavity_mask` and :func:`label_mask`): the cavity starts at the
  first pixel whose centre is at or below the anterior endocardium and ends
  above the first whose centre is at or below the posterior endocardium.
- An empty cell (or ``nan``) is a border that was not traced in that column;
  a column missing from the file is untraced in all four borders.

Every problem with the file is an :class:`mmode.errors.AnnotationError` that
names the file, the line and the column.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from mmode.errors import AnnotationError, TableError
from mmode.tables import Table, read_table, read_text

BORDER_COLUMNS = ("anterior_epicardium", "anterior_endocardium", "posterior_endocardium", "posterior_epicardium")
COLUMN = "column"
# Classes of the wall-aware segmenter, top to bottom of a column.
BACKGROUND, ANTERIOR_WALL, CAVITY, POSTERIOR_WALL = 0, 1, 2, 3
MAX_COLUMNS = 10_000_000  # far more than any recording: a typo such as 1e9 must not allocate gigabytes


def borders_path(dicom_path) -> Path:
    """``NAME.borders.csv`` beside ``NAME.dcm`` (or beside ``NAME``, a DICOM file without extension)."""
    return Path(dicom_path).with_suffix(".borders.csv")


def read_annotation_table(path, required, what: str, allowed_extra: bool = True) -> Table:
    """A hand-made CSV read by header: UTF-8 (with or without Excel's byte-order mark) or Latin-1.

    Parameters
    ----------
    required : column names the header must hold.
    what : what the file is, for the messages ("quality annotations", "border traces").
    allowed_extra : whether the header may hold columns beyond ``required``.

    Raises
    ------
    AnnotationError
        Not a readable text file; separated by semicolons or tabs (a spreadsheet's export in some
        locales); a header without a required column or with an unknown one; a row with more or
        fewer cells than the header.
    """
    path = Path(path)
    try:
        text = read_text(path)
        first = next((line for line in text.splitlines() if line.strip()), "")
        for name, sep in (("semicolons", ";"), ("tabs", "\t")):
            if first.count(sep) >= len(required) - 1 > first.count(","):
                raise AnnotationError(path, f"{what}: line 1: columns are separated by {name}; save the file "
                                            "as comma-separated CSV (decimal points, not commas)")
        table = read_table(path)
    except TableError as error:
        raise AnnotationError(path, f"{what}: {error.problem}") from None
    if not table.header:
        raise AnnotationError(path, f"{what}: the file is empty (expected the columns {', '.join(required)})")
    missing = [name for name in required if name not in table.header]
    if missing:
        raise AnnotationError(path, f"{what}: line 1: no column {missing[0]!r} (columns: {', '.join(table.header)}; "
                                    f"expected {', '.join(required)})")
    extra = [name for name in table.header if name not in required]
    if extra and not allowed_extra:
        raise AnnotationError(path, f"{what}: line 1: unknown column {extra[0]!r} (expected {', '.join(required)})")
    return table


def _border_value(text: str, path: Path, line: int, column: str) -> float:
    text = text.strip()
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise AnnotationError(path, f"border traces: line {line}, column {column}: {text!r} is not a number") from None
    if math.isinf(value):
        raise AnnotationError(path, f"border traces: line {line}, column {column}: {text!r} is not a finite row")
    return value


def read_borders(path) -> np.ndarray:
    """Border traces, shape (4, width) float32 rows, in BORDER_COLUMNS order; NaN where not traced.

    ``width`` is one more than the largest ``column`` in the file; columns the file leaves out are NaN.

    Raises
    ------
    AnnotationError
        A missing border column, a ``column`` that is not a whole number >= 0 or occurs twice, a
        border that is not a number (see :func:`read_annotation_table` for the file's form).
    """
    path = Path(path)
    table = read_annotation_table(path, (COLUMN, *BORDER_COLUMNS), "border traces")
    columns, values = [], []
    for row, line in zip(table.rows, table.lines):
        text = row[COLUMN].strip()
        try:
            column = int(text)
        except ValueError:
            raise AnnotationError(path, f"border traces: line {line}, column {COLUMN}: {text!r} is not a whole "
                                        "number") from None
        if not 0 <= column < MAX_COLUMNS:
            raise AnnotationError(path, f"border traces: line {line}, column {COLUMN}: {column} is outside "
                                        f"0-{MAX_COLUMNS - 1}")
        columns.append(column)
        values.append([_border_value(row[name], path, line, name) for name in BORDER_COLUMNS])
    if not columns:
        raise AnnotationError(path, "border traces: no rows below the header")
    index = np.asarray(columns)
    order = np.argsort(index, kind="stable")
    twice = np.flatnonzero(np.diff(index[order]) == 0)
    if twice.size:
        first, second = sorted(order[twice[0]:twice[0] + 2])
        raise AnnotationError(path, f"border traces: column {index[first]} occurs twice (lines "
                                    f"{table.lines[first]} and {table.lines[second]})")
    borders = np.full((len(BORDER_COLUMNS), index.max() + 1), np.nan, dtype=np.float32)
    borders[:, index] = np.asarray(values, dtype=np.float32).T
    return borders


def write_borders(path, borders: np.ndarray) -> Path:
    """Write border traces (4, width) rows as NAME.borders.csv: one line per column, NaN as an empty cell."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([COLUMN, *BORDER_COLUMNS])
        for column, rows in enumerate(np.asarray(borders, dtype=np.float32).T):
            # %.9g round-trips float32 exactly.
            writer.writerow([column, *("" if np.isnan(r) else f"{r:.9g}" for r in rows)])
    return path


def check_borders(borders: np.ndarray, width: int, rows: int, path) -> np.ndarray:
    """``borders`` cut or padded (NaN) to ``width`` columns, refusing traces that do not fit the recording.

    Raises
    ------
    AnnotationError
        Traces reach beyond the recording's last column (traced on another recording?), or a border lies
        outside the image's rows.
    """
    traced = np.flatnonzero(np.isfinite(borders).any(axis=0))
    if traced.size and traced[-1] >= width:
        raise AnnotationError(path, f"border traces: column {traced[-1]} is traced but the recording has only "
                                    f"{width} columns (traces of another recording?)")
    outside = np.isfinite(borders) & ((borders < -0.5) | (borders > rows - 0.5))
    if outside.any():
        which, column = np.argwhere(outside)[0]
        raise AnnotationError(path, f"border traces: column {column}, {BORDER_COLUMNS[which]}: row "
                                    f"{borders[which, column]:g} is outside the image's {rows} rows")
    fitted = np.full((len(BORDER_COLUMNS), width), np.nan, dtype=np.float32)
    fitted[:, :min(width, borders.shape[1])] = borders[:, :width]
    return fitted


def fully_traced(borders: np.ndarray) -> np.ndarray:
    """Columns where all four borders are traced, shape (width,) bool."""
    return np.isfinite(borders).all(axis=0)


def cavity_mask(borders: np.ndarray, rows: int) -> np.ndarray:
    """Cavity mask (rows, width) bool: anterior endocardium <= row < posterior endocardium."""
    r = np.arange(rows, dtype=np.float32)[:, None]
    return (r >= borders[1]) & (r < borders[2])


def label_mask(borders: np.ndarray, rows: int) -> np.ndarray:
    """Class per pixel (rows, width) uint8: BACKGROUND, ANTERIOR_WALL, CAVITY or POSTERIOR_WALL.

    A pixel row r belongs to the band [top, bottom) of two borders when top <= r < bottom,
    the rule of :func:`cavity_mask`; a NaN border draws no band (a missing epicardium no wall,
    a column without borders nothing).
    """
    r = np.arange(rows, dtype=np.float32)[:, None]
    labels = np.zeros((rows, borders.shape[1]), dtype=np.uint8)
    for cls, (top, bottom) in ((ANTERIOR_WALL, (0, 1)), (CAVITY, (1, 2)), (POSTERIOR_WALL, (2, 3))):
        labels[(r >= borders[top]) & (r < borders[bottom])] = cls
    return labels
