"""Stitch the overlapping screenshots of a scrolling M-mode display into one image.

Frame k+1 shows the trace of frame k moved left by ``shift`` columns plus
``shift`` new columns on the right. The shift is found by comparing column
profiles (row-band means) of the two frames for every possible shift at once
with FFT cross-correlation, then checked on full-resolution pixels. This works
for any overlap, tolerates lossy compression, and recognises identical frames
(shift 0).
"""
from __future__ import annotations

import logging

import numpy as np

from mmode.errors import FramesDoNotOverlapError, RecordingTooShortError

log = logging.getLogger(__name__)

BAND_ROWS = 4  # rows averaged into one profile row
MIN_OVERLAP_PX = 32  # shorter overlaps are too easily matched by chance
MAX_MATCH_RATIO = 0.15  # best mismatch must be this far below the typical one,
# or, in faint frames (a probe lifted off the chest or slipping), where the noise of JPEG compression
# is a good part of even the right match, MAX_FAINT_MATCH_RATIO below it and at most 1 / MIN_SEPARATION
# of the runner-up shift. A faint JPEG phantom with the probe off (seed 9 of the tests) matched at
# 0.17 of the typical mismatch, its runner-up 4.7 times worse; non-overlapping frame pairs of 24
# phantoms (12 seeds, JPEG and not, each with a bad stretch) whose best was 0.15-0.4 of the typical
# mismatch had a runner-up at most 1.15 times worse: a broad, chance minimum.
MAX_FAINT_MATCH_RATIO = 0.4
MIN_SEPARATION = 2.0
CANDIDATES = 3  # best profile shifts re-checked on full pixels when close
CLEAR_WIN = 0.5  # a best profile cost below this fraction of the runner-up needs no re-check


def column_profiles(frame: np.ndarray, band_rows: int = BAND_ROWS) -> np.ndarray:
    """Row-band means of a (rows, cols) frame, shape (rows // band_rows, cols) float64."""
    rows = frame.shape[0] - frame.shape[0] % band_rows
    bands = frame[:rows].reshape(rows // band_rows, band_rows, frame.shape[1])
    return bands.mean(axis=1, dtype=np.float64)


class _Profile:
    """Column profiles of one frame with their spectrum and energies, computed once per frame."""

    def __init__(self, frame: np.ndarray):
        self.frame = frame
        self.values = values = column_profiles(frame)
        self.n_fft = 1 << int(np.ceil(np.log2(2 * values.shape[1])))
        self.spectrum = np.fft.rfft(values, self.n_fft)
        power = (values ** 2).sum(axis=0)
        self.energy_from = np.cumsum(power[::-1])[::-1]  # sum over columns >= s
        self.energy_to = np.cumsum(power)  # sum over columns <= i


def _costs(prev: _Profile, nxt: _Profile) -> np.ndarray:
    """Mean squared difference of ``prev[:, s:]`` and ``nxt[:, :cols - s]`` for every shift s, shape (cols,)."""
    bands, cols = prev.values.shape
    # cross[s] = sum_i prev[i + s] * nxt[i], for all s at once
    cross = np.fft.irfft((prev.spectrum * np.conj(nxt.spectrum)).sum(axis=0), prev.n_fft)[:cols]
    overlap = cols - np.arange(cols)
    ssd = prev.energy_from + nxt.energy_to[overlap - 1] - 2 * cross
    return np.maximum(ssd, 0) / (overlap * bands)


def _best_shift(prev: _Profile, nxt: _Profile, min_overlap: int) -> int | None:
    cols = prev.values.shape[1]
    costs = _costs(prev, nxt)[:cols - min_overlap + 1]
    typical = np.median(costs)
    if typical == 0:  # blank frames: nothing to scroll
        return 0
    order = np.argsort(costs)[:CANDIDATES]
    best, runner_up = costs[order[0]], costs[order[1]]
    faint_match = best <= MAX_FAINT_MATCH_RATIO * typical and runner_up >= MIN_SEPARATION * best
    if best > MAX_MATCH_RATIO * typical and not faint_match:
        return None
    if best < CLEAR_WIN * runner_up:
        return int(order[0])
    # Profiles average away detail; decide between close candidates on full pixels.
    full = [np.mean(np.abs(prev.frame[:, s:].astype(np.float32) - nxt.frame[:, :cols - s])) for s in order]
    return int(order[int(np.argmin(full))])


def find_shift(prev: np.ndarray, nxt: np.ndarray, min_overlap: int = MIN_OVERLAP_PX) -> int | None:
    """How many columns frame ``nxt`` scrolled relative to ``prev``; None if they do not overlap.

    Parameters
    ----------
    prev, nxt : (rows, cols) arrays of the same frame region (any real dtype).
    """
    return _best_shift(_Profile(prev), _Profile(nxt), min_overlap)


def frame_shifts(frames) -> list[int]:
    """Scroll shift of every frame relative to the one before (first entry 0).

    ``frames`` is a :class:`mmode.dicom_io.Frames`.

    Raises
    ------
    FramesDoNotOverlapError
        When two consecutive frames share fewer than ``MIN_OVERLAP_PX`` columns.
    """
    n = frames.pixels.shape[0]
    shifts = [0]
    prev = _Profile(frames.luma(0))
    for k in range(1, n):
        nxt = _Profile(frames.luma(k))
        shift = _best_shift(prev, nxt, MIN_OVERLAP_PX)
        if shift is None:
            raise FramesDoNotOverlapError(frames.path, f"frames {k - 1} and {k} do not overlap; cannot stitch")
        if shift == 0:
            log.debug("%s: frame %d repeats frame %d, skipped", frames.path, k, k - 1)
        shifts.append(shift)
        prev = nxt
    return shifts


def stitch(frames) -> np.ndarray:
    """One long grey image (rows, width) float32 0-255 from overlapping frames."""
    n, rows, cols = frames.pixels.shape[:3]
    if n < 2:
        raise RecordingTooShortError(frames.path, "only one frame; a scrolling M-mode export has many")
    shifts = frame_shifts(frames)
    pieces = [frames.grey(0)]
    pieces += [frames.grey(k, cols - s) for k, s in enumerate(shifts) if k > 0 and s > 0]
    return np.concatenate(pieces, axis=1)
