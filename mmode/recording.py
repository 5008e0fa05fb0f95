"""Read a DICOM export and stitch it: the stitched grey image and its calibration."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmode import plausibility
from mmode.dicom_io import Calibration, read_frames
from mmode.errors import EchoInputError
from mmode.stitch import stitch


@dataclass
class Recording:
    path: Path
    image: np.ndarray  # (rows, width) float32 grey 0-255
    calibration: Calibration

    @property
    def duration_s(self) -> float:
        return self.image.shape[1] * self.calibration.seconds_per_px


def find_recordings(folder) -> list[Path]:
    """The recordings of a folder as ``run4all.py`` picks them, sorted: every ``*.dcm`` file (any case) and
    every regular file without extension that starts like a DICOM file; hidden names and folders left out.

    Raises
    ------
    EchoInputError
        The folder cannot be listed.
    """
    from pydicom.misc import is_dicom

    try:
        entries = list(Path(folder).iterdir())
    except OSError as exc:
        raise EchoInputError(folder, f"cannot list the folder ({exc.strerror})") from None
    found = []
    for path in entries:
        if path.name.startswith(".") or path.is_dir():
            continue
        if path.suffix.lower() == ".dcm" or (not path.suffix and path.is_file() and _starts_like_dicom(path, is_dicom)):
            found.append(path)
    return sorted(found)


def _starts_like_dicom(path: Path, is_dicom) -> bool:
    try:
        return is_dicom(path)
    except OSError:
        return False


def load_recording(path) -> Recording:
    """Read ``path`` and stitch its M-mode frames (see mmode.dicom_io, mmode.stitch).

    Raises
    ------
    mmode.errors.EchoInputError subclasses, e.g. ImplausibleRecordingError for frames that do not scroll.
    """
    frames = read_frames(path)
    image = stitch(frames)
    plausibility.check_scrolls(frames.pixels.shape[0], image, frames.pixels.shape[2], path)
    return Recording(Path(path), image, frames.calibration)
