"""The whole pipeline with the shipped weights on phantoms never used in training."""
import numpy as np
import pytest

import phantom
from heart_segmentation.predict import load_checkpoint as load_seg
from helpers import load_tool
from mmode.analysis import Settings, analyse
from mmode.recording import load_recording
from mmode.results import all_rows
from pipeline.models import Models
from quality_classification.predict import load_checkpoint as load_quality

evaluate_pipeline = load_tool("evaluate_pipeline")

# Seeds 7000+ are neither training (1000-1139) nor the networks' test seeds (5000-5111). The
# held-out family was never trained on: its figures are the ones that count.
HELD_OUT = phantom.HELD_OUT_FAMILY
CASES = [
    dict(seed=7000, bad_segments=(("probe_slip", 1.2, 0.8),), family="streaks"),
    dict(seed=7001, bad_segments=(("gain_jump", 0.6, 0.6), ("motion_burst", 2.6, 0.7)), family="mottled"),
    dict(seed=7002, bad_segments=(("clutter", 2.0, 0.7),), jpeg=True, family="fibres"),
    dict(seed=7003, bad_segments=(("probe_off", 0.0, 0.6),), family=HELD_OUT, heart_rate_bpm=520),
    dict(seed=7004, bad_segments=(("dropout", 1.5, 0.8),), photometric="MONOCHROME2", family=HELD_OUT,
         heart_rate_bpm=780),
    dict(seed=7005, bad_segments=(("probe_off", 2.2, 0.8),), family=HELD_OUT),
]
MASS_G = 25
pytestmark = pytest.mark.slow  # every test shares one fixture that runs the whole pipeline on six recordings


@pytest.fixture(scope="module")
def models():
    return Models(load_seg(), load_quality())


@pytest.fixture(scope="module")
def analyses(models, tmp_path_factory):
    out = []
    for case in CASES:
        ph = phantom.generate(phantom.PhantomConfig(n_frames=40, **case))
        path = phantom.write(ph, tmp_path_factory.mktemp("pipe") / f"p{case['seed']}.dcm")
        out.append((ph, analyse(load_recording(path), models, Settings.for_mass(MASS_G))))
    return out


def _matches(ph, analysis):
    """(truth beat, reported beat or None) for every good truth beat, matched as tools/evaluate_pipeline.py does."""
    return [(truth, evaluate_pipeline.reported_beat(truth, analysis.good_beats)) for truth in ph.beats if truth["good"]]


@pytest.mark.parametrize("held_out", [True, False], ids=["held-out family", "training families"])
def test_measurements_match_ground_truth(analyses, held_out):
    errors = {key: [] for key in ("heart_rate_bpm", "lvid_d_mm", "lvid_s_mm", "lvaw_d_mm", "lvaw_s_mm",
                                  "lvpw_d_mm", "lvpw_s_mm")}
    for ph, analysis in analyses:
        if (ph.config.family == HELD_OUT) != held_out:
            continue
        for truth, beat in _matches(ph, analysis):
            if beat is not None:
                for key, values in errors.items():
                    values.append(abs(getattr(beat, key) - truth[key]))
    assert len(errors["lvid_d_mm"]) > 60
    hr = np.array(errors.pop("heart_rate_bpm"))
    assert np.median(hr / np.array([t["heart_rate_bpm"] for ph, a in analyses for t, b in _matches(ph, a)
                                    if b is not None and (ph.config.family == HELD_OUT) == held_out])) <= 0.015
    # What the shipped networks achieve today (README, "Accuracy, and where it falls short"); the
    # aim is 0.05 mm for every diameter and 1 % for the heart rate.
    medians = {key: float(np.median(values)) for key, values in errors.items()}
    assert medians["lvid_d_mm"] <= 0.05  # today 0.020 (held-out) and 0.037 mm
    # At end-systole papillary muscles rise from the posterior wall; LVID;s runs beneath them (the
    # convention), and the segmenter takes part of them for wall: LVID;s today 0.065 mm on the
    # held-out recordings here (0.043 mm long, as the borders are at the true end-systole: the
    # smallest single column, the end-systole before mmode.beats.ES_SMOOTH_S, cancelled that by
    # chance to 0.054 mm), 0.13 mm on these three of the training families (shorter).
    assert medians["lvid_s_mm"] <= (0.07 if held_out else 0.2)
    for key, value in medians.items():
        # Held-out family today at most 0.065 mm (LVID;s; LVPW;s 0.039 mm, 0.065 before
        # ES_SMOOTH_S); training families at most 0.195 mm, LVAW of recordings without a
        # right-ventricular cavity above the septum, whose top shows no step.
        assert value <= (0.07 if held_out else 0.22), key


def test_most_good_beats_reported(analyses):
    pairs = [pair for ph, analysis in analyses for pair in _matches(ph, analysis)]
    found = sum(beat is not None for _, beat in pairs)
    # Today 93 % of these; tools/evaluate_pipeline.py, 20 longer ones: 98.9 and 96.1 %. The aim is 95 %.
    assert found >= 0.85 * len(pairs)


def test_few_reported_beats_inside_bad_intervals(analyses):
    """Today none of 173 (README: 1 of 684); before the phantoms' papillary muscles 1 of 172, the last
    30 ms of a dropout that the shadow check ended early. The aim is none."""
    inside, total = 0, 0
    for ph, analysis in analyses:
        rows = all_rows(analysis)
        assert len(rows) == len(analysis.good_beats)
        for row in rows:
            total += 1
            times = [float(row[key]) for key in ("lvid;d time", "lvid;s time")]
            inside += any(lo <= t <= hi for lo, hi in ph.bad_intervals for t in times)
    assert inside <= 0.02 * total


def test_each_row_is_one_beat(analyses):
    for _, analysis in analyses:
        for beat in analysis.good_beats:
            assert beat.ed_index < beat.es_index < beat.next_ed_index
            assert 200 <= beat.heart_rate_bpm <= 1000
            assert beat.lvid_s_mm < beat.lvid_d_mm
