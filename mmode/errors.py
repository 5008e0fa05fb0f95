"""Exceptions for input the pipeline cannot use.

Every class names the file and what is wrong with it, so that the command-line
scripts can print ``str(error)`` as one line and exit with status 2.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def shown(name) -> str:
    """A file name or path as printable UTF-8 text on one line.

    The operating system gives names as bytes; one that is not valid UTF-8
    (common on shares mounted from other systems) arrives in Python with
    surrogate escapes, which no UTF-8 file or terminal accepts. Its odd bytes
    are written as ``\\xNN`` and control characters (a newline in a name) as
    ``\\n``-like escapes, so a name always fits one CSV cell and one line.
    """
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, for messages: "a folder", "a FIFO", "a device or socket"."""
    return "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"


def one_line(text: str) -> str:
    """``text`` with every run of white space (newlines too) as one space."""
    return " ".join(str(text).split())


class EchoInputError(ValueError):
    """Base class: this input cannot be analysed."""

    def __init__(self, path, problem: str):
        self.path = Path(path) if path is not None else None
        self.problem = one_line(problem)
        super().__init__(f"{shown(path)}: {self.problem}" if path is not None else self.problem)

    def __reduce__(self):  # so that errors raised in worker processes arrive intact, with their notes
        return type(self), (self.path, self.problem), self.__dict__


class NotDicomError(EchoInputError):
    """The file is not a DICOM file (or is empty)."""


class CorruptFileError(EchoInputError):
    """The file is DICOM but damaged, e.g. truncated."""


class NoPixelDataError(EchoInputError):
    """The DICOM file holds no image."""


class NoMModeRegionError(EchoInputError):
    """No ultrasound region with spatial format M-mode."""


class CalibrationError(EchoInputError):
    """The M-mode region has wrong units, deltas or a box outside the frame."""


class UnsupportedPixelFormatError(EchoInputError):
    """Bit depth or photometric interpretation we cannot turn into grey values."""


class FramesDoNotOverlapError(EchoInputError):
    """Two consecutive frames share no columns, so they cannot be stitched."""


class RecordingTooShortError(EchoInputError):
    """Too little signal for the requested analysis."""


class NoCavityError(EchoInputError):
    """The segmentation found no left-ventricular cavity."""


class BadMassError(EchoInputError):
    """The body mass is not a plausible number of grams."""


class CheckpointError(EchoInputError):
    """A model file is missing, corrupt or of an unknown layout."""


class OutputError(EchoInputError):
    """An output file or folder cannot be written (permissions, or a CSV of another mode)."""


class NameClashError(OutputError):
    """The CSV already holds the results of a different recording with the same file name."""


class ImplausibleRecordingError(EchoInputError):
    """The recording's calibration, region size, frame count or content is outside what a mouse M-mode
    export can be: measuring it would give numbers without meaning."""


class TableError(EchoInputError):
    """A CSV file we read (a mass table, an earlier run's output) cannot be decoded or has ragged rows."""


class AnnotationError(EchoInputError):
    """A training annotation (quality intervals, border traces, a labelme file) is unreadable or
    inconsistent with its recording."""
