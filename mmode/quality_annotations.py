"""Quality annotations of training recordings: which stretches are good and which are bad.

The original's CSV, one row per recording::

    Recording,Good-Start,Good-End,Bad-Start,Bad-End
    mouse_01.dcm,0.000 1.171,0.784 4.708,0.784,1.171

- ``Recording``: the DICOM file's name (``mouse_01.dcm``, or ``mouse_01`` for a file without extension;
  matched on the name without ``.dcm``).
- Times in seconds from the recording's first stitched column: column c of the stitched image covers
  ``[c, c + 1) * seconds_per_px``, so an interval [a, b) holds the columns from ``a / seconds_per_px``
  up to ``b / seconds_per_px``.
- Several intervals in one cell, separated by spaces: the k-th start pairs with the k-th end. A cell
  may be empty (no bad stretch, say).
- A stretch in neither list is not annotated: the dataset builders use no window that touches it.

Files are read by header (UTF-8 with or without Excel's byte-order mark, or Latin-1); every problem is an
:class:`mmode.errors.AnnotationError` naming the file, the line and the column.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from mmode.annotations import read_annotation_table
from mmode.errors import AnnotationError

RECORDING = "Recording"
GOOD, BAD = ("Good-Start", "Good-End"), ("Bad-Start", "Bad-End")
QUALITY_COLUMNS = (RECORDING, *GOOD, *BAD)
OVERLAP_TOLERANCE_S = 0.0005  # good and bad may touch; written with 3 decimals they may overlap by rounding


@dataclass(frozen=True)
class QualityAnnotation:
    """One recording's annotated stretches, each interval (start_s, end_s); ``line`` in the file, 0 if new."""

    recording: str
    good_s: tuple[tuple[float, float], ...]
    bad_s: tuple[tuple[float, float], ...]
    line: int = 0

    @property
    def key(self) -> str:
        return recording_key(self.recording)


def recording_key(name: str) -> str:
    """The name a recording is matched by: its file name without ``.dcm``."""
    name = Path(name.strip()).name
    return name[:-4] if name.lower().endswith(".dcm") else name


def _times(text: str, path: Path, line: int, column: str) -> list[float]:
    times = []
    for word in text.split():
        try:
            value = float(word)
        except ValueError:
            hint = " (use a decimal point; intervals are separated by spaces)" if "," in word else ""
            raise AnnotationError(path, f"quality annotations: line {line}, column {column}: {word!r} is not a "
                                        f"number of seconds{hint}") from None
        if not math.isfinite(value) or value < 0:
            raise AnnotationError(path, f"quality annotations: line {line}, column {column}: {word!r} is not a "
                                        "time >= 0 s")
        times.append(value)
    return times


def _intervals(row: dict, columns: tuple[str, str], path: Path, line: int) -> tuple[tuple[float, float], ...]:
    starts, ends = (_times(row[column], path, line, column) for column in columns)
    if len(starts) != len(ends):
        raise AnnotationError(path, f"quality annotations: line {line}: {len(starts)} times in {columns[0]} but "
                                    f"{len(ends)} in {columns[1]}")
    for k, (start, end) in enumerate(zip(starts, ends), 1):
        if end < start:
            raise AnnotationError(path, f"quality annotations: line {line}, columns {columns[0]}/{columns[1]}: "
                                        f"interval {k} ends ({end:g} s) before it starts ({start:g} s)")
    return tuple(zip(starts, ends))


def read_quality_annotations(path) -> dict[str, QualityAnnotation]:
    """Recording key (file name without ``.dcm``) -> its annotation, in the order of the file.

    Raises
    ------
    AnnotationError
        Encoding, separator or header problems (:func:`mmode.annotations.read_annotation_table`), an
        unknown column, an empty or repeated recording name, a time that is not a number of seconds >= 0,
        unequal numbers of starts and ends, an interval that ends before it starts, or a good interval
        that overlaps a bad one.
    """
    path = Path(path)
    table = read_annotation_table(path, QUALITY_COLUMNS, "quality annotations", allowed_extra=False)
    annotations: dict[str, QualityAnnotation] = {}
    for row, line in zip(table.rows, table.lines):
        name = row[RECORDING].strip()
        if not name:
            raise AnnotationError(path, f"quality annotations: line {line}, column {RECORDING}: empty recording name")
        annotation = QualityAnnotation(name, _intervals(row, GOOD, path, line), _intervals(row, BAD, path, line),
                                       line)
        if annotation.key in annotations:
            raise AnnotationError(path, f"quality annotations: line {line}: recording {name!r} is already annotated "
                                        f"on line {annotations[annotation.key].line}")
        for good in annotation.good_s:
            for bad in annotation.bad_s:
                if min(good[1], bad[1]) - max(good[0], bad[0]) > OVERLAP_TOLERANCE_S:
                    raise AnnotationError(path, f"quality annotations: line {line}: good {good[0]:g}-{good[1]:g} s "
                                                f"overlaps bad {bad[0]:g}-{bad[1]:g} s")
        annotations[annotation.key] = annotation
    return annotations


def check_within(annotation: QualityAnnotation, duration_s: float, seconds_per_px: float, path) -> None:
    """Refuse intervals that end after the recording does (more than one column late).

    Raises
    ------
    AnnotationError
        Naming the annotations file ``path``, the line, the column and the recording's duration.
    """
    limit_s = duration_s + seconds_per_px + OVERLAP_TOLERANCE_S
    for columns, intervals in ((GOOD, annotation.good_s), (BAD, annotation.bad_s)):
        for start, end in intervals:
            if end > limit_s:
                raise AnnotationError(path, f"quality annotations: line {annotation.line}, column {columns[1]}: "
                                            f"{end:g} s is after the end of {annotation.recording} "
                                            f"({duration_s:.3f} s)")


def _cell(values) -> str:
    return " ".join(f"{v:.6f}" for v in values)


def write_quality_annotations(path, annotations) -> Path:
    """Write ``annotations`` (QualityAnnotation, in order) as the original's CSV; times to the microsecond."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(QUALITY_COLUMNS)
        for a in annotations:
            writer.writerow([a.recording, _cell(s for s, _ in a.good_s), _cell(e for _, e in a.good_s),
                             _cell(s for s, _ in a.bad_s), _cell(e for _, e in a.bad_s)])
    return path


def covered(lo: float, hi: float, intervals) -> float:
    """Fraction of [lo, hi) covered by the union of ``intervals``."""
    return sum(max(0.0, min(hi, b) - max(lo, a)) for a, b in merge(intervals)) / (hi - lo)


def merge(intervals) -> list[tuple[float, float]]:
    """The union of ``intervals`` as sorted intervals that neither overlap nor touch."""
    out: list[list[float]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def subtract(intervals, removed) -> list[tuple[float, float]]:
    """The parts of ``intervals`` outside every interval of ``removed``, sorted."""
    out = []
    for lo, hi in merge(intervals):
        start = lo
        for a, b in merge(removed):
            if b <= start or a >= hi:
                continue
            if a > start:
                out.append((start, a))
            start = max(start, b)
        if start < hi:
            out.append((start, hi))
    return out
