"""Read a DICOM export and stitch it: the stitched grey image and its calibration."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmode.dicom_io import Calibration, read_frames
from mmode.stitch import stitch


@dataclass
class Recording:
    path: Path
    image: np.ndarray  # (rows, width) float32 grey 0-255
    calibration: Calibration

    @property
    def duration_s(self) -> float:
        return self.image.shape[1] * self.calibration.seconds_per_px


def load_recording(path) -> Recording:
    """Read ``path`` and stitch its M-mode frames (see mmode.dicom_io, mmode.stitch)."""
    frames = read_frames(path)
    return Recording(Path(path), stitch(frames), frames.calibration)


def load_recording_timed(path) -> tuple[Recording, float]:
    """``load_recording(path)`` and the seconds it took."""
    started = time.perf_counter()
    recording = load_recording(path)
    return recording, time.perf_counter() - started
