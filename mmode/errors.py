"""Exceptions for input the pipeline cannot use.

Every class names the file and what is wrong with it, so that the command-line
scripts can print ``str(error)`` as one line and exit with status 2.
"""
from __future__ import annotations

from pathlib import Path


class EchoInputError(ValueError):
    """Base class: this input cannot be analysed."""

    def __init__(self, path, problem: str):
        self.path = Path(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)

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


class NoGoodBeatsError(EchoInputError):
    """Every beat lies in a region of bad acquisition quality (the results are still written)."""
