"""Accuracy of the whole pipeline against phantom ground truth, printed as figures.

    python tools/evaluate_pipeline.py [--seeds 7000 7001 ...] [--frames 49] [--mass 25]

For every good ground-truth beat (its cycle outside bad intervals): was it reported, and with
what heart-rate and LVID errors; and did any reported beat fall inside a bad interval. Uses the
shipped weights unless --seg-model / --quality-model are given. Seeds 7000+ are never used in
training (1000-1119) nor in the networks' held-out tests (5000-5019).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import phantom
from heart_segmentation.predict import DEFAULT_CHECKPOINT, load_checkpoint as load_seg
from mmode.analysis import analyse
from quality_classification.predict import load_checkpoint as load_quality

MATCH_PX = 3


def evaluate(ph, analysis) -> dict:
    reported = {b.ed_index: b for b in analysis.good_beats}
    errors, missed = [], 0
    for truth in ph.beats:
        if not truth["good"]:
            continue
        near = [b for ed, b in reported.items() if abs(ed - truth["ed_index"]) <= MATCH_PX]
        if not near:
            missed += 1
            continue
        beat = near[0]
        errors.append((abs(beat.heart_rate_bpm / truth["heart_rate_bpm"] - 1), abs(beat.lvid_d_mm - truth["lvid_d_mm"]),
                       abs(beat.lvid_s_mm - truth["lvid_s_mm"])))
    inside_bad = sum(any(lo <= t <= hi for lo, hi in ph.bad_intervals for t in (b.ed_time_s, b.es_time_s))
                     for b in analysis.good_beats)
    return {"errors": errors, "missed": missed, "inside_bad": inside_bad, "reported": len(analysis.good_beats)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(7000, 7010)))
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--mass", type=float, default=25)
    parser.add_argument("--jpeg", action="store_true")
    parser.add_argument("--seg-model", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--quality-model", type=Path)
    args = parser.parse_args(argv)
    seg, quality = load_seg(args.seg_model), load_quality(args.quality_model)
    errors, missed, inside_bad, good = [], 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            ph = phantom.generate(phantom.PhantomConfig(seed=seed, n_frames=args.frames, jpeg=args.jpeg))
            path = phantom.write(ph, Path(tmp) / f"p{seed}.dcm")
            result = evaluate(ph, analyse(path, args.mass, seg, quality))
            n_good = sum(t["good"] for t in ph.beats)
            print(f"seed {seed}: {n_good} good true beats, {n_good - result['missed']} reported, "
                  f"{result['inside_bad']} reported beats inside bad intervals, bad intervals {len(ph.bad_intervals)}")
            errors += result["errors"]
            missed += result["missed"]
            inside_bad += result["inside_bad"]
            good += n_good
    e = np.array(errors)
    print(f"\n{len(args.seeds)} recordings, {good} good true beats: {good - missed} reported "
          f"({100 * (good - missed) / good:.1f} %), {inside_bad} reported beats inside bad intervals")
    print(f"median |error|: HR {100 * np.median(e[:, 0]):.2f} %, LVID;d {np.median(e[:, 1]):.3f} mm, "
          f"LVID;s {np.median(e[:, 2]):.3f} mm")
    print(f"95th percentile |error|: HR {100 * np.percentile(e[:, 0], 95):.2f} %, "
          f"LVID;d {np.percentile(e[:, 1], 95):.3f} mm, LVID;s {np.percentile(e[:, 2], 95):.3f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
