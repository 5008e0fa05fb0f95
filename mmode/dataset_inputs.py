"""What both dataset builders read and check before cutting a window: the recordings and their annotations.

The builders read the recordings ``run4all.py`` reads (``*.dcm`` and DICOM files without extension), so a
study that analyses also trains. Every problem that would make a dataset wrong or empty is an
:class:`mmode.errors.EchoInputError` (an :class:`~mmode.errors.AnnotationError` for the annotation files)
that names the file, and :func:`run_builder` turns it into one line on stderr and exit status 2;
recordings and annotation rows that cannot be matched get one warning line each.
"""
from __future__ import annotations

import logging
from pathlib import Path

from mmode.annotations import borders_path, check_borders, read_borders
from mmode.cli import EXIT_BAD_INPUT, report, warn
from mmode.errors import AnnotationError, EchoInputError
from mmode.quality_annotations import QualityAnnotation, check_within, read_quality_annotations, recording_key
from mmode.recording import Recording, find_recordings

log = logging.getLogger(__name__)


def recordings_in(folder: Path) -> list[Path]:
    """The recordings of ``folder`` (see :func:`mmode.recording.find_recordings`), refusing none at all.

    Raises
    ------
    EchoInputError
        ``folder`` does not exist, is not a folder, or holds no DICOM recording.
    """
    folder = Path(folder)
    if not folder.exists():
        raise EchoInputError(folder, "no such folder of DICOM recordings")
    if not folder.is_dir():
        raise EchoInputError(folder, "is not a folder (give the folder of DICOM recordings)")
    found = find_recordings(folder)
    if not found:
        raise EchoInputError(folder, "holds no DICOM recording (*.dcm files, or DICOM files without extension)")
    return found


def annotations_for(path: Path | None, recordings: list[Path]) -> dict[str, QualityAnnotation] | None:
    """The quality annotations of ``recordings`` keyed by file name without ``.dcm``; None without a file.

    A row for a recording that is not in the folder gets a warning (one quality file may serve a
    training and a test folder); a file that matches none of them is an error.
    """
    if path is None:
        return None
    annotations = read_quality_annotations(path)
    stems = {recording_key(p.name) for p in recordings}
    unknown = [a for key, a in annotations.items() if key not in stems]
    for a in unknown:
        warn(path, f"line {a.line}: recording {a.recording!r} has no DICOM file in {recordings[0].parent}; ignored")
    if annotations and len(unknown) == len(annotations):
        raise AnnotationError(path, f"quality annotations: none of its {len(annotations)} recordings is in "
                                    f"{recordings[0].parent} (names must match the DICOM files, e.g. "
                                    f"{recordings[0].name})")
    return {key: a for key, a in annotations.items() if key in stems}


def checked_annotation(annotation: QualityAnnotation, recording: Recording, annotations_path: Path) -> \
        QualityAnnotation:
    """``annotation``, refusing intervals that end after ``recording`` does."""
    check_within(annotation, recording.duration_s, recording.calibration.seconds_per_px, annotations_path)
    return annotation


def recording_borders(recording: Recording):
    """The border traces beside ``recording``, shape (4, width) fitted to its columns, or None if it has none."""
    path = borders_path(recording.path)
    if not path.exists():
        return None
    rows, width = recording.image.shape
    return check_borders(read_borders(path), width, rows, path)


def run_builder(build, args) -> int:
    """``build(args)``'s exit status; an input error as one line on stderr and exit status 2."""
    try:
        return build(args)
    except EchoInputError as error:
        report(error, debug=False)
        return EXIT_BAD_INPUT
