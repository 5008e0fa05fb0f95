"""Property-based tests: stitching and beat detection on random synthetic input."""
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import phantom
from mmode.beats import detect_beats
from mmode.dicom_io import Frames
from mmode.stitch import stitch

SECONDS_PER_PX = phantom.SECONDS_PER_PX


@st.composite
def scrolled_frames(draw):
    """A random strip cut into overlapping frames with random shifts and repeated frames."""
    rows = draw(st.integers(8, 48))
    cols = draw(st.integers(64, 200))
    n = draw(st.integers(2, 12))
    shifts = draw(st.lists(st.one_of(st.just(0), st.integers(1, cols - 32)), min_size=n - 1, max_size=n - 1))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    starts = np.concatenate([[0], np.cumsum(shifts)]).astype(int)
    strip = np.random.default_rng(seed).integers(0, 256, size=(rows, starts[-1] + cols), dtype=np.uint8)
    frames = np.stack([strip[:, s:s + cols] for s in starts])[..., None]
    return strip, frames


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scrolled_frames())
def test_overlapping_frames_stitch_back_exactly(case):
    strip, frames = case
    if len(frames) < 2:
        return
    image = stitch(Frames(Path("random"), None, frames))
    np.testing.assert_array_equal(image, strip.astype(np.float32))


@st.composite
def lvid_signals(draw):
    """A diameter trace with random heart rate, amplitude, per-beat jitter and noise."""
    heart_rate = draw(st.floats(300, 900))
    d_d = draw(st.floats(2.5, 4.5))
    swing = draw(st.floats(0.8, 2.0))
    period = 60 / heart_rate / SECONDS_PER_PX
    # Noise stays below a fifth of the trace's change beside each end-diastole (the phantom keeps it
    # at MIN_TIP_SLOPE_PX rows per column at least), so that end-diastole is a well-defined column.
    noise = draw(st.floats(0.0, 0.2)) * phantom.MIN_TIP_SLOPE_PX * phantom.MM_PER_PX
    n_beats = draw(st.integers(4, 20))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    lead = int(rng.integers(int(0.5 * period), int(period) - 5))  # start and end inside a cycle
    lengths = np.round(period * (1 + 0.03 * rng.standard_normal(n_beats))).astype(int)
    swing_px = swing / phantom.MM_PER_PX
    parts = [phantom._cycle_shape(int(n), int(n * 0.42), swing_px, swing_px) for n in lengths]
    shape = np.concatenate([parts[-1][-lead:]] + parts + [parts[0][:lead]])
    trace = d_d - swing + swing * shape + noise * rng.standard_normal(shape.size)
    eds = lead + np.concatenate([[0], np.cumsum(lengths)])
    return trace, eds


@settings(max_examples=60, deadline=None, derandomize=True)
@given(lvid_signals())
def test_synthetic_signals_give_exactly_their_beats(case):
    trace, eds = case
    beats = detect_beats(trace, SECONDS_PER_PX)
    assert [b.ed_index for b in beats] == list(eds[:-1])
    assert [b.next_ed_index for b in beats] == list(eds[1:])
    for beat, (ed, nxt) in zip(beats, zip(eds[:-1], eds[1:])):
        assert abs(beat.heart_rate_bpm - 60 / ((nxt - ed) * SECONDS_PER_PX)) < 1e-9
