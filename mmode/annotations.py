"""LV border traces beside a recording (NAME.borders.csv) and the masks they define.

The CSV has one row per stitched column: column, anterior_epicardium,
anterior_endocardium, posterior_endocardium, posterior_epicardium (rows inside
the M-mode region), optionally followed by more columns such as lvid_mm.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

BORDER_COLUMNS = ("anterior_epicardium", "anterior_endocardium", "posterior_endocardium", "posterior_epicardium")
# Classes of the wall-aware segmenter, top to bottom of a column.
BACKGROUND, ANTERIOR_WALL, CAVITY, POSTERIOR_WALL = 0, 1, 2, 3


def borders_path(dicom_path) -> Path:
    return Path(dicom_path).with_suffix(".borders.csv")


def read_borders(path) -> np.ndarray:
    """Border traces, shape (4, width) float32 rows, in BORDER_COLUMNS order; NaN where a cell is empty."""
    data = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float64, ndmin=2)
    return data[:, 1:5].T.astype(np.float32)


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
