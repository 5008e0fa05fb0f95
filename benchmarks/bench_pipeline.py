"""Time the main job on full-size 49-frame phantoms, stage by stage, and run4all over a study.

    python benchmarks/bench_pipeline.py [--files 8] [--skip-published] [--workers 1 2]

Prints, for one file: a cold start of end2end_framework.py (a fresh process, as a user runs it), then
in-process stage times (imports, load+stitch, segmentation, quality, beats, CSV, graphs) and the
peak resident memory, with the shipped weights and with the published 64-filter QuickNAT and 256 px
CardioNet layout (random weights: only the time matters). Then run4all over --files phantoms:
seconds per file once imports are paid, files per minute for each --workers value, scaling
efficiency and peak memory per process.
Targets (2 cores, shipped weights): cold start <= 4 s; run4all <= 1.7 s per file; everything except
imports and network forward passes <= 1.0 s; peak memory <= 1 GB.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _published_layout(tmp: Path) -> tuple[Path, Path]:
    import torch

    from heart_segmentation.quicknat import QuickNat
    from quality_classification.model import CardioNet

    seg, quality = tmp / "heart-seg-net.pt", tmp / "quality-clas-net.pth"
    torch.save({"epoch": 0, "net_state_dict": QuickNat().state_dict()}, seg)
    torch.save(CardioNet().state_dict(), quality)
    return seg, quality


def one_file(path: Path, out: Path, seg_model=None, quality_model=None) -> dict:
    """Stage times (s) of one in-process run; imports are timed by the caller."""
    from mmode.analysis import analyse
    from mmode.cli import Models
    from mmode.plots import write_graphs
    from mmode.results import replace_rows, rows_for
    from heart_segmentation.predict import load_checkpoint as load_seg
    from quality_classification.predict import load_checkpoint as load_quality

    import mmode.analysis

    started = time.perf_counter()
    models = Models(load_seg(seg_model) if seg_model else load_seg(), load_quality(quality_model), "cpu")
    times = {"load models": time.perf_counter() - started}
    if seg_model:  # random weights find no plausible cavity: switch the check off, only time matters here
        mmode.analysis.MIN_CAVITY_COLUMNS, mmode.analysis.MAX_CAVITY_ROWS = 0.0, 2.0
    analysis = analyse(path, 25, models.seg, models.quality)
    times.update(analysis.timings)
    started = time.perf_counter()
    columns, rows = rows_for(analysis, "all")
    replace_rows(out / "output_all.csv", columns, [path.name], rows)
    times["CSV"] = time.perf_counter() - started
    started = time.perf_counter()
    write_graphs(analysis, out)
    times["graphs"] = time.perf_counter() - started
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="*", default=[1])
    parser.add_argument("--skip-published", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import matplotlib.pyplot  # noqa: F401

    import end2end_framework  # noqa: F401
    import phantom
    import mmode.plots  # noqa: F401
    imports = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = [phantom.write(phantom.generate(phantom.PhantomConfig(seed=9100 + k)), tmp / "study" / f"m{k}.dcm")
                 for k in range(args.files)]
        subprocess.run([sys.executable, str(ROOT / "end2end_framework.py"), "-i", str(paths[0]), "-m", "25",
                        "-o", str(tmp / "warm")], check=True)  # page cache and font cache
        started = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "end2end_framework.py"), "-i", str(paths[0]), "-m", "25",
                        "-o", str(tmp / "cold")], check=True)
        cold = time.perf_counter() - started
        print(f"one full-size file, cold start of end2end_framework.py with graphs: {cold:.2f} s")

        layouts = [("shipped weights", None, None)]
        if not args.skip_published:
            layouts.append(("published layout (64 filters, 256 px)", *_published_layout(tmp)))
        for name, seg_model, quality_model in layouts:
            times = one_file(paths[0], tmp / name.split()[0], seg_model, quality_model)
            times = {"imports": imports, **times}
            network = times["segmentation"] + times["quality"]
            print(f"\n{name}: total {sum(times.values()):.2f} s in process")
            for stage, seconds in times.items():
                print(f"  {stage:13s} {seconds:6.3f} s")
            rest = sum(times.values()) - imports - times["load models"] - network
            print(f"  everything except imports, model loading and the networks: {rest:.3f} s "
                  f"(segmentation and quality include their window preparation)")
        print(f"peak resident memory of this process: {_rss_mb():.0f} MB")

        import run4all

        per_minute = {}
        for workers in args.workers:
            out = tmp / f"run4all_{workers}"
            started = time.perf_counter()
            code = run4all.main(["-i", str(tmp / "study"), "-m", "25", "-o", str(out), "--workers", str(workers)])
            seconds = time.perf_counter() - started
            per_minute[workers] = 60 * args.files / seconds
            print(f"\nrun4all --workers {workers} over {args.files} full-size files with graphs: {seconds:.1f} s, "
                  f"{seconds / args.files:.2f} s per file (imports already paid), "
                  f"{per_minute[workers]:.1f} files per minute, exit {code}")
        if 1 in per_minute:
            for workers, rate in per_minute.items():
                if workers > 1:
                    print(f"scaling efficiency with {workers} workers: {rate / per_minute[1] / workers:.0%}")
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak resident memory: this process {_rss_mb():.0f} MB, largest worker process {children:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
