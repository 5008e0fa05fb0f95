"""Beats from the ground-truth cavity mask match the phantom's beat table exactly."""
import numpy as np
import pytest

import phantom
from mmode.beats import MAX_UNMEASURED, Beat, detect_beats, lvid_mm, matching_beat, teichholz_ul, typical_swing

SECONDS_PER_PX = phantom.SECONDS_PER_PX


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("heart_rate", [480, 650, 850])
def test_every_true_beat_found_once_from_true_mask(seed, heart_rate):
    ph = phantom.generate(phantom.PhantomConfig(seed=seed, n_frames=14, heart_rate_bpm=heart_rate))
    found = detect_beats(lvid_mm(ph.cavity_mask(), ph.config.mm_per_px), SECONDS_PER_PX)
    # Ground truth leaves out cycles touching the first or last EDGE_PX columns.
    found = [b for b in found if b.ed_index >= phantom.EDGE_PX and b.next_ed_index < ph.width - phantom.EDGE_PX]
    assert len(ph.beats) >= 5
    by_ed = {b.ed_index: b for b in found}
    assert len(by_ed) == len(found) == len(ph.beats)  # each beat once, nothing extra
    for truth in ph.beats:
        beat = by_ed[truth["ed_index"]]
        assert beat.next_ed_index == truth["next_ed_index"]
        assert beat.heart_rate_bpm == pytest.approx(truth["heart_rate_bpm"], rel=0.005)
        assert beat.lvid_d_mm == pytest.approx(truth["lvid_d_mm"], abs=0.02)
        # The end-systole is the smallest of a 7.5 ms running mean (ES_SMOOTH_S): on the sharpest
        # cusps, at 850 bpm, one column from the smallest LVID and 0.022 mm above it.
        assert beat.lvid_s_mm == pytest.approx(truth["lvid_s_mm"], abs=0.025)
        assert beat.ed_index < beat.es_index < beat.next_ed_index  # systole of the same cycle


def _signal(periods, d_d=4.0, d_s=2.5, n_sys_frac=0.42):
    swing_px = (d_d - d_s) / phantom.MM_PER_PX
    parts = [phantom._cycle_shape(n, int(n * n_sys_frac), swing_px, swing_px) for n in periods]
    return d_s + (d_d - d_s) * np.concatenate(parts + [np.ones(1)])


def test_teichholz_known_values():
    assert teichholz_ul(4.0) == pytest.approx(7 / 6.4 * 64)
    assert teichholz_ul(0.0) == 0.0
    np.testing.assert_allclose(teichholz_ul([2.0, 3.0]), [7 / 4.4 * 8, 7 / 5.4 * 27])


def test_derived_measures_follow_measurements_md():
    beat = Beat(index=0, ed_index=0, es_index=40, next_ed_index=100, ed_time_s=0.0, es_time_s=0.04,
                lvid_d_mm=4.0, lvid_s_mm=2.5, heart_rate_bpm=600.0)
    vol_d, vol_s = 7 / 6.4 * 64, 7 / 4.9 * 2.5 ** 3
    assert beat.lv_vol_d_ul == pytest.approx(vol_d)
    assert beat.sv_ul == pytest.approx(vol_d - vol_s)
    assert beat.ef_percent == pytest.approx(100 * (vol_d - vol_s) / vol_d)
    assert beat.fs_percent == pytest.approx(37.5)
    assert beat.co_ml_per_min == pytest.approx((vol_d - vol_s) * 600 / 1000)


def test_heart_rates_outside_200_1000_bpm_are_rejected():
    slow = 60 / 180 / SECONDS_PER_PX  # 180 bpm
    assert detect_beats(_signal([int(slow)] * 4), SECONDS_PER_PX) == []
    normal = detect_beats(_signal([100] * 6), SECONDS_PER_PX)
    assert len(normal) == 6 - 2  # the first and last end-diastoles sit on the edges: not peaks
    assert all(b.heart_rate_bpm == pytest.approx(60 / (100 * SECONDS_PER_PX)) for b in normal)


def test_merged_cycle_after_a_missed_peak_is_not_a_beat():
    lvid = _signal([100] * 8)
    lvid[400:520] = lvid[400]  # flatten one end-diastole: two cycles merge into one of 200 columns
    lvid[400:520] = np.linspace(lvid[400], lvid[520], 120)
    beats = detect_beats(lvid, SECONDS_PER_PX)
    assert all(b.next_ed_index - b.ed_index < 150 for b in beats)
    assert all(60 / 0.12 * 0.8 < b.heart_rate_bpm for b in beats)


def test_systole_is_paired_with_its_own_diastole():
    beats = detect_beats(_signal([90, 110, 95, 120, 100, 105]), SECONDS_PER_PX)
    for beat in beats:
        assert beat.ed_index < beat.es_index < beat.next_ed_index
        cusp = beat.ed_index + int((beat.next_ed_index - beat.ed_index) * 0.42)
        assert abs(beat.es_index - cusp) <= 1  # the running mean of ES_SMOOTH_S may move it by one


def test_find_peaks_agrees_with_scipy():
    from scipy.signal import find_peaks as scipy_find_peaks

    from mmode.beats import find_peaks

    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(3, 400))
        x = np.cumsum(rng.standard_normal(n))
        for i in rng.integers(1, n - 3, n // 10):  # plateaus of two samples
            x[i + 1] = x[i]
        distance, prominence = int(rng.integers(1, 40)), float(rng.uniform(0, 3))
        expected = scipy_find_peaks(x, distance=distance, prominence=prominence)[0]
        np.testing.assert_array_equal(find_peaks(x, distance, prominence), expected)


def test_median_filter_agrees_with_scipy():
    from scipy.ndimage import median_filter as scipy_median_filter

    from mmode.beats import median_filter

    rng = np.random.default_rng(1)
    for trial in range(200):
        x = rng.standard_normal(int(rng.integers(1, 300)))
        size = int(rng.integers(0, 6)) * 2 + 1
        expected = scipy_median_filter(x, size=size, mode="nearest") if x.size >= size else x
        np.testing.assert_array_equal(median_filter(x, size), expected)


def test_a_known_beat_is_matched_by_the_nearest_end_diastole_within_a_tenth_of_its_cycle():
    def beat(ed):
        return Beat(index=0, ed_index=ed, es_index=ed + 40, next_ed_index=ed + 100, ed_time_s=0.0, es_time_s=0.04,
                    lvid_d_mm=4.0, lvid_s_mm=3.0, heart_rate_bpm=600.0)

    measured = [beat(92), beat(195), beat(311)]
    assert matching_beat(100, 200, measured).ed_index == 92  # 8 columns early in a 100-column cycle
    assert matching_beat(200, 300, measured).ed_index == 195
    assert matching_beat(300, 400, measured) is None  # 11 columns late
    assert matching_beat(300, 420, measured).ed_index == 311  # within a tenth of a longer cycle
    assert matching_beat(0, 100, []) is None


def test_a_stretch_of_nonsense_does_not_hide_the_end_diastoles_elsewhere():
    """Phantom seed 7100: a probe off the chest made the segmenter measure near-zero LVIDs for 14 % of
    the recording; taken over the whole trace, the swing doubled and a third of the end-diastoles fell
    below the prominence. The swing is the median over one-cycle blocks."""
    lvid = _signal([120, 100] * 12)  # alternate beats 0.6 mm lower at end-diastole, as seed 7100's
    for start in range(0, lvid.size - 220, 220):
        lvid[start + 120 - 30:start + 120 + 30] -= np.clip(
            0.6 - np.abs(np.arange(-30, 30)) * 0.02, 0, None) * (lvid[start + 120 - 30:start + 120 + 30] > 3.3)
    clean = detect_beats(lvid, SECONDS_PER_PX)
    spoiled = lvid.copy()
    spoiled[1000:1400] = 0.3 + 0.2 * np.random.default_rng(0).random(400)  # 15 % of the columns
    found = detect_beats(spoiled, SECONDS_PER_PX)
    outside = [b.ed_index for b in clean if b.next_ed_index < 1000 or b.ed_index > 1400]
    assert len(outside) >= 14
    assert set(outside) <= {b.ed_index for b in found}


def test_typical_swing_is_the_median_over_one_cycle_blocks():
    lvid = np.tile(np.r_[np.full(50, 2.0), np.full(50, 3.5)], 10)
    assert typical_swing(lvid, 100) == pytest.approx(1.5)
    lvid[:200] = 0.1  # two nonsense blocks of ten
    assert typical_swing(lvid, 100) == pytest.approx(1.5)
    lvid[200:250] = 0  # not measured: left out
    assert typical_swing(lvid, 100) == pytest.approx(1.5)
    assert np.isnan(typical_swing(np.zeros(500), 100))
    assert typical_swing(np.r_[2.0, 3.0, 4.0], 100) == pytest.approx(1.8)  # shorter than a block


def test_a_few_columns_without_a_cavity_do_not_hide_a_beat():
    """The segmenter may lose the cavity for a few columns (LVID 0); a cycle is a beat unless it lost
    more than MAX_UNMEASURED of them, and its end-systole is the smallest measured diameter."""
    lvid = _signal([100] * 6)
    clean = detect_beats(lvid, SECONDS_PER_PX)
    holed = lvid.copy()
    beat = clean[1]
    holed[beat.es_index - 4:beat.es_index + 1] = 0  # 5 of 100 columns, up to the end-systole
    found = detect_beats(holed, SECONDS_PER_PX)
    assert [b.ed_index for b in found] == [b.ed_index for b in clean]
    again = found[1]
    assert again.es_index == beat.es_index + 1 and again.lvid_s_mm == pytest.approx(holed[beat.es_index + 1])
    assert 0 < again.lvid_s_mm - beat.lvid_s_mm < 0.01
    holed[beat.ed_index + 10:beat.ed_index + 10 + int(MAX_UNMEASURED * 100) + 1] = 0  # now too many
    assert beat.ed_index not in [b.ed_index for b in detect_beats(holed, SECONDS_PER_PX)]


def test_a_narrow_dip_near_end_systole_is_not_the_end_systole():
    """A papillary muscle taken for wall shortens LVID for a few columns; the end-systole is found on
    the ES_SMOOTH_S running mean, so such a dip neither sets LVID;s nor the column the walls are read in."""
    lvid = _signal([100] * 6)
    clean = detect_beats(lvid, SECONDS_PER_PX)
    dipped = lvid.copy()
    for beat in clean:
        dipped[beat.es_index + 6:beat.es_index + 8] -= 0.4  # 2 columns, 1.7 ms, 5 columns after the cusp
    walls = np.where(dipped < lvid, 2.0, 1.0)  # a wall that is thick only where the dip is
    found = detect_beats(dipped, SECONDS_PER_PX, walls, walls)
    assert [b.ed_index for b in found] == [b.ed_index for b in clean]
    for beat, again in zip(clean, found):
        assert abs(again.es_index - beat.es_index) <= 3  # pulled towards the dip, not into it
        assert again.lvid_s_mm == pytest.approx(beat.lvid_s_mm, abs=0.04)  # the dip itself: 0.4 mm short
        assert again.lvpw_s_mm == again.lvaw_s_mm == 1.0


def test_running_mean_leaves_out_unmeasured_columns():
    from mmode.beats import running_mean
    values = np.array([1.0, 2.0, 0.0, 4.0, 5.0])
    averaged = running_mean(values, values > 0, 3)
    np.testing.assert_allclose(averaged, [1.5, 1.5, 3.0, 4.5, 4.5])  # the 0 counts as nothing, edges take fewer
    assert np.isnan(running_mean(np.zeros(4), np.zeros(4, dtype=bool), 3)).all()
