"""Accuracy of the whole pipeline against phantom ground truth, printed as tables.

    python tools/evaluate_pipeline.py [--count 10] [--frames 49] [--mass 25]

Two groups of full-size recordings with bad stretches: the held-out rendering family
(phantom.HELD_OUT_FAMILY, which the shipped networks never saw: the figure that counts)
and the training families. For every good ground-truth beat (its cycle outside bad
intervals): was it reported (mmode.beats.matching_beat: an end-diastole within a tenth
of its cycle), how far off its end-diastole and its measurements are; and did any
reported beat fall inside a bad interval. Seeds 7000+ are never used in training
(1000-1139) nor in the networks' test sets (5000-5111). Uses the shipped weights
unless --seg-model / --quality-model are given.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import phantom
from heart_segmentation import SHIPPED_CHECKPOINT
from mmode.analysis import Settings, analyse
from mmode.beats import matching_beat
from mmode.recording import load_recording
from pipeline.models import load_models

# (label, attribute of a reported beat, key of a truth beat, relative error)
MEASURES = (("HR %", "heart_rate_bpm", "heart_rate_bpm", True),
            ("LVID;d", "lvid_d_mm", "lvid_d_mm", False), ("LVID;s", "lvid_s_mm", "lvid_s_mm", False),
            ("LVAW;d", "lvaw_d_mm", "lvaw_d_mm", False), ("LVAW;s", "lvaw_s_mm", "lvaw_s_mm", False),
            ("LVPW;d", "lvpw_d_mm", "lvpw_d_mm", False), ("LVPW;s", "lvpw_s_mm", "lvpw_s_mm", False),
            ("LV mass (mg)", "lv_mass_mg", "lv_mass_mg", False))


def reported_beat(truth: dict, beats):
    """The beat of ``beats`` that reports the truth beat (mmode.beats.matching_beat); or None."""
    return matching_beat(truth["ed_index"], truth["next_ed_index"], beats)


# The last row: how much of the LVID;s error the choice of the end-systolic column alone makes, the
# true diameter in the column the pipeline chose against the true diameter at the true end-systole.
# The rest of the LVID;s error is our borders in that column, printed below the table signed
# (ours minus the truth in that column), as a median and quartiles.
ES_CHOICE_LABEL = "LVID;s from the end-systolic column alone"


def evaluate(ph, analysis) -> dict:
    """Errors of the reported beats that match good truth beats, missed beats, beats inside bad stretches."""
    errors, es_borders, missed = [], [], 0
    spp = analysis.seconds_per_px
    true_lvid = (ph.borders[2] - ph.borders[1]) * analysis.calibration.mm_per_px
    if true_lvid.size != analysis.lvid_mm.size:  # stitched otherwise than drawn: no column to compare
        true_lvid = np.full(analysis.lvid_mm.size, np.nan)
    for truth in ph.beats:
        if not truth["good"]:
            continue
        beat = reported_beat(truth, analysis.good_beats)
        if beat is None:
            missed += 1
            continue
        es_choice = abs(true_lvid[beat.es_index] - true_lvid[truth["es_index"]])
        es_borders.append(beat.lvid_s_mm - true_lvid[beat.es_index])
        errors.append([abs(beat.ed_index - truth["ed_index"]) * spp * 1000] +
                      [abs(getattr(beat, attr) / truth[key] - 1) * 100 if relative else abs(getattr(beat, attr) - truth[key])
                       for _, attr, key, relative in MEASURES] + [es_choice])
    inside_bad = sum(any(lo <= t <= hi for lo, hi in ph.bad_intervals for t in (b.ed_time_s, b.es_time_s))
                     for b in analysis.good_beats)
    return {"errors": errors, "es_borders": es_borders, "missed": missed, "inside_bad": inside_bad,
            "good": sum(t["good"] for t in ph.beats)}


def evaluate_group(seeds, family, args, models, folder: Path) -> dict:
    """Pooled results of one group of phantoms."""
    errors, es_borders, missed, inside_bad, good = [], [], 0, 0, 0
    for seed in seeds:
        cfg = phantom.PhantomConfig(seed=seed, n_frames=args.frames, jpeg=args.jpeg, family=family)
        ph = phantom.generate(cfg)
        if not ph.bad_intervals:  # every recording of the evaluation has a bad stretch to keep out
            kind = phantom.BAD_KINDS[seed % len(phantom.BAD_KINDS)]
            ph = phantom.generate(phantom.PhantomConfig(seed=seed, n_frames=args.frames, jpeg=args.jpeg, family=family,
                                                        bad_segments=((kind, 1.5, 0.8),)))
        path = phantom.write(ph, folder / f"p{seed}.dcm")
        result = evaluate(ph, analyse(load_recording(path), models, Settings.for_mass(args.mass)))
        print(f"  seed {seed} ({ph.config.family}, bad: {', '.join(ph.bad_kinds)}): {result['good']} good beats, "
              f"{result['good'] - result['missed']} reported, {result['inside_bad']} inside bad stretches")
        errors += result["errors"]
        es_borders += result["es_borders"]
        missed += result["missed"]
        inside_bad += result["inside_bad"]
        good += result["good"]
    return {"errors": np.array(errors), "es_borders": np.array(es_borders), "missed": missed,
            "inside_bad": inside_bad, "good": good, "n": len(seeds)}


def print_table(groups: dict) -> None:
    names = list(groups)
    print("\n| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| recordings | " + " | ".join(str(g["n"]) for g in groups.values()) + " |")
    print("| good beats reported | " + " | ".join(
        f"{g['good'] - g['missed']} of {g['good']} ({100 * (g['good'] - g['missed']) / max(g['good'], 1):.1f} %)"
        for g in groups.values()) + " |")
    print("| reported beats inside bad stretches | " + " | ".join(str(g["inside_bad"]) for g in groups.values()) + " |")
    for k, (label, _, _, relative) in enumerate([("end-diastole time (ms)", None, None, True), *MEASURES,
                                                 (ES_CHOICE_LABEL, None, None, False)]):
        unit = "" if relative else " mm" if "mass" not in label else ""
        cells = []
        for g in groups.values():
            column = g["errors"][:, k] if len(g["errors"]) else np.array([np.nan])
            cells.append(f"{np.nanmedian(column):.3f}{unit} ({np.nanpercentile(column, 95):.3f})")
        print(f"| median (95th pct) abs. error {label} | " + " | ".join(cells) + " |")
    print("\nLVID;s in the end-systolic column the pipeline chose, ours minus the truth there (mm): "
          + "; ".join(f"{name} median {q[1]:+.3f}, quartiles {q[0]:+.3f} and {q[2]:+.3f}"
                      for name, q in ((name, np.nanpercentile(g["es_borders"], [25, 50, 75]) if g["es_borders"].size
                                       else [np.nan] * 3) for name, g in groups.items())))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10, help="recordings per group")
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--mass", type=float, default=25)
    parser.add_argument("--jpeg", action="store_true")
    parser.add_argument("--seg-model", type=Path, default=SHIPPED_CHECKPOINT)
    parser.add_argument("--quality-model", type=Path)
    args = parser.parse_args(argv)
    models = load_models(args.seg_model, args.quality_model)
    groups = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, family, first in ((f"held-out family ({phantom.HELD_OUT_FAMILY})", phantom.HELD_OUT_FAMILY, 7000),
                                    ("training families", None, 7100)):
            print(name)
            groups[name] = evaluate_group(range(first, first + args.count), family, args, models, Path(tmp))
    print_table(groups)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
