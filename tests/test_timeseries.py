"""The original's public names in timeseries.py keep their meaning."""
import numpy as np
import pytest

import timeseries


def test_echocard_reads_calibration_and_image(write_phantom):
    path, ph, truth = write_phantom(seed=41)
    card = timeseries.EchoCard(path)
    assert card.time_res == pytest.approx(truth["seconds_per_px"])  # s per px
    assert card.len_res == pytest.approx(truth["mm_per_px"])  # mm per px
    assert card.image.shape == (616, truth["stitched_width"])
    assert card.mask is None


def test_seg_windows_and_connect_masks_round_trip():
    image = np.arange(616 * 1500, dtype=np.float32).reshape(616, 1500)
    windows, overlap = timeseries.make_seg_windows(image)
    assert [w.shape for w in windows] == [(616, 616)] * 3
    assert overlap == 2 * 616 - (1500 - 616)  # the last window is right-aligned
    np.testing.assert_array_equal(timeseries.connect_masks(windows, overlap), image)


def test_beats_from_the_true_mask(write_phantom):
    path, ph, _ = write_phantom(seed=41)
    card = timeseries.EchoCard(path)
    card.mask = ph.cavity_mask()
    lvid = card.lvid()
    ed_index, lvid_d, _ = timeseries.get_diastoles(lvid, card.time_res)
    es_index, lvid_s, _ = timeseries.get_systoles(lvid, card.time_res)
    heart_rate, _ = timeseries.get_heartrate(lvid, card.time_res)
    assert len(ed_index) == len(es_index) == len(heart_rate) == len(card.beats())
    assert np.all(ed_index < es_index) and np.all(lvid_s < lvid_d)
    truth = {b["ed_index"]: b for b in ph.beats}
    for ed, rate in zip(ed_index, heart_rate):
        if ed in truth:
            assert rate == pytest.approx(truth[ed]["heart_rate_bpm"], rel=0.005)


def test_walls_and_mass_from_the_true_borders(write_phantom):
    from mmode.annotations import label_mask
    from helpers import log_probs

    path, ph, _ = write_phantom(seed=41)
    card = timeseries.EchoCard(path)
    borders = timeseries.get_borders(log_probs(label_mask(ph.borders, card.image.shape[0])))
    lvid, lvaw, lvpw = timeseries.get_wall_thickness(borders, card.len_res)
    walls = timeseries.get_walls(lvid, lvaw, lvpw, card.time_res)
    ed_index, lvid_d, _ = timeseries.get_diastoles(lvid, card.time_res)
    assert len(walls["LVAW;d"]) == len(ed_index) > 5
    px = card.len_res
    for k, ed in enumerate(ed_index):  # the walls of each beat are the true ones at its end-diastole
        assert walls["LVAW;d"][k] == pytest.approx((ph.borders[1, ed] - ph.borders[0, ed]) * px, abs=1.01 * px)
        assert walls["LVPW;d"][k] == pytest.approx((ph.borders[3, ed] - ph.borders[2, ed]) * px, abs=1.01 * px)
        lvid_ed = lvid_d[k]
        mass = 1.053 * ((lvid_ed + walls["LVAW;d"][k] + walls["LVPW;d"][k]) ** 3 - lvid_ed ** 3)
        assert walls["LV Mass AW"][k] == pytest.approx(mass)
    mass, corrected = timeseries.compute_lv_mass(3.5, 0.8, 0.9)
    assert mass == pytest.approx(1.053 * (5.2 ** 3 - 3.5 ** 3)) and corrected == pytest.approx(0.8 * mass)


@pytest.mark.parametrize("mass, side", [(10, 308), (15, 369), (24.9, 369), (25, 462), (40, 554), (45, 616), (80, 616)])
def test_weight_to_size_follows_the_original_table(mass, side):
    assert timeseries.weight_to_size(mass, 616) == side


def test_quality_windows_are_centred_on_the_cavity():
    image = np.zeros((616, 2000), np.float32)
    mask = np.zeros((616, 2000), bool)
    mask[300:400] = True  # cavity centred on row 350
    windows, starts = timeseries.make_quality_windows_aut(image, mask, 20)
    assert all(w.shape == (369, 369) for w in windows)
    assert list(starts) == [0, 369, 738, 1107, 1476, 2000 - 369]
    manual, _ = timeseries.make_quality_windows_man(image, 369, top=350 - 184)
    assert len(manual) == len(windows)


def test_teichholz_and_overlap():
    assert timeseries.compute_teicholz(4.0) == pytest.approx(70.0)
    np.testing.assert_allclose(timeseries.get_vols(np.array([4.0, 2.0])), [70.0, 7 / 4.4 * 8])
    strip = np.random.default_rng(3).integers(0, 256, (40, 300)).astype(np.uint8)
    assert timeseries.find_overlap(strip[:, :200], strip[:, 60:260]) == 60


def test_make_timeseries_stitches_arrays():
    strip = np.random.default_rng(4).integers(0, 256, (40, 500)).astype(np.uint8)
    frames = np.stack([strip[:, s:s + 200] for s in (0, 90, 90, 250, 300)])
    np.testing.assert_array_equal(timeseries.make_timeseries(frames), strip)


@pytest.mark.slow
def test_the_originals_sequence_of_calls_gives_the_pipelines_numbers(write_phantom):
    # The original's end2end_framework.py, call by call, against our EchoCard and predict_single.
    from heart_segmentation import load_checkpoint, predict_single
    from mmode.analysis import Settings, analyse
    from pipeline.models import Models
    from quality_classification import load_checkpoint as load_quality

    path, ph, _ = write_phantom(seed=43, n_frames=20, bad_segments=())
    seg, quality = load_checkpoint(), load_quality()
    ec = timeseries.EchoCard(path)
    ec.make_timeseries()
    windows = ec.make_seg_windows()
    masks = [predict_single(seg, "cpu", window, 256)[0] for window in windows]  # at network size
    ec.connect_masks(masks)
    ec.get_vols()
    dpeaks, dlvids, dvols = ec.get_diastoles()
    speaks, slvids, svols = ec.get_systoles()
    heartrate = ec.get_heartrate(dpeaks)
    ec.weight_to_size(25)
    qual_windows, times = ec.make_quality_windows_man()

    assert len(ec.lvids) == len(ec.vols) == ec.image.shape[1] and ec.mask.shape == ec.image.shape
    assert len(dpeaks) == len(dlvids) == len(dvols) == len(speaks) == len(slvids) == len(svols) > 10
    assert len(heartrate) == len(dpeaks) - 1 and np.all(np.asarray(dpeaks) < np.asarray(speaks))
    assert ec.crop_size == int(616 * 0.75) and all(w.shape == (ec.crop_size,) * 2 for w in qual_windows)
    assert times[0] == (0, ec.crop_size) and times[-1][1] == ec.image.shape[1]
    # The same beats and diameters as the pipeline, up to the masks' trip through the network's
    # 128 rows (4.8 image rows each) and back.
    beats = ec.analyse(Models(seg, quality), 25).beats
    assert beats == analyse(ec.recording, Models(seg, quality), Settings.for_mass(25)).beats
    pipeline = {b.ed_index: b for b in beats}
    matched = [(pipeline[min(pipeline, key=lambda e: abs(e - ed))], d, s)
               for ed, d, s in zip(dpeaks, dlvids, slvids) if min(abs(e - ed) for e in pipeline) <= 3]
    assert len(matched) >= 0.9 * max(len(beats), len(dpeaks))
    step = 616 / 128 * ec.len_res
    assert np.median([abs(b.lvid_d_mm - d) for b, d, _ in matched]) <= step
    assert np.median([abs(b.lvid_s_mm - s) for b, _, s in matched]) <= step
