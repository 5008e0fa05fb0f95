"""Time the main job on full-size 49-frame phantoms, stage by stage, and run4all over a study.

    python benchmarks/bench_pipeline.py [--files 8] [--skip-published] [--workers 1 2]

Prints, for one file: cold starts of end2end_framework.py exactly as a user runs it (a fresh process,
median of three, and the peak resident memory of its largest process), then in-process stage times
(imports, load+stitch, segmentation, quality, beats, CSV, graphs) with the shipped weights and with
the published 64-filter QuickNAT and 256 px CardioNet layout (random weights: only the time matters).
Then run4all.py over --files phantoms for each --workers value: seconds per file once the models are
loaded (run4all's own summary), files per minute, scaling efficiency and peak memory per process.
Targets (2 cores, shipped weights): cold start <= 3.6 s; run4all <= 1.2 s per file; everything except
imports and network forward passes <= 1.0 s; peak memory <= 1 GB.

Every command runs in a child process started while this process is still small: Linux hands a
child the peak memory of its parent at fork, so a child of a large process would report too much.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(argv: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak resident MB of the largest process of the tree, stderr) of one command."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({child.returncode}):\n{stderr}")
    return seconds, usage.ru_maxrss / 1024, stderr


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
    import mmode.analysis
    from heart_segmentation import SHIPPED_CHECKPOINT
    from mmode.analysis import Settings, analyse
    from mmode.plots import write_graphs
    from mmode.recording import load_recording
    from mmode.results import replace_rows, rows_for
    from pipeline.models import load_models

    started = time.perf_counter()
    models = load_models(seg_model or SHIPPED_CHECKPOINT, quality_model)
    times = {"load models": time.perf_counter() - started}
    if seg_model:  # random weights find no plausible cavity: switch the check off, only time matters here
        mmode.analysis.MIN_CAVITY_COLUMNS, mmode.analysis.MAX_CAVITY_ROWS = 0.0, 2.0
    started = time.perf_counter()
    recording = load_recording(path)
    times["load+stitch"] = time.perf_counter() - started
    analysis = analyse(recording, models, Settings.for_mass(25))
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

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        study = tmp / "study"
        _run(["phantom.py", "-o", str(study), "--seed", "9100", "-n", str(args.files)])
        for extra in study.glob("*.json"):  # only the DICOM files: a study as a scanner exports it
            extra.unlink()
        first = sorted(study.glob("*.dcm"))[0]
        end2end = ["end2end_framework.py", "-i", str(first), "-m", "25", "-o", str(tmp / "cold")]
        _run(end2end)  # page cache and matplotlib's font cache
        runs = [_run(end2end) for _ in range(3)]
        print(f"one full-size file, cold start of end2end_framework.py with graphs: median "
              f"{statistics.median(r[0] for r in runs):.2f} s (runs: {', '.join(f'{r[0]:.2f}' for r in runs)}); "
              f"peak memory of its largest process {max(r[1] for r in runs):.0f} MB")

        per_minute = {}
        for workers in args.workers:
            seconds, peak_mb, stderr = _run(["run4all.py", "-i", str(study), "-m", "25", "-o",
                                              str(tmp / f"run4all_{workers}"), "--workers", str(workers)])
            summary = stderr.strip().splitlines()[-1]
            work_s = float(re.search(r"in this run \(([\d.]+) s\)", summary).group(1))
            per_minute[workers] = 60 * args.files / work_s
            print(f"\nrun4all --workers {workers} over {args.files} full-size files with graphs: "
                  f"{summary.split(';')[0]}"
                  f"\n  {work_s / args.files:.2f} s per file once the models are loaded, {per_minute[workers]:.1f} "
                  f"files per minute; {seconds:.1f} s with start-up; peak memory of the largest process "
                  f"{peak_mb:.0f} MB")
        for workers, rate in per_minute.items():
            if workers > 1 and 1 in per_minute:
                print(f"scaling efficiency with {workers} workers: {rate / per_minute[1] / workers:.0%}")

        started = time.perf_counter()
        import numpy  # noqa: F401
        import torch  # noqa: F401
        import matplotlib.figure  # noqa: F401

        import pydicom  # noqa: F401

        import end2end_framework  # noqa: F401
        import mmode.plots  # noqa: F401
        import mmode.recording  # noqa: F401
        imports = time.perf_counter() - started

        layouts = [("shipped weights", None, None)]
        if not args.skip_published:
            layouts.append(("published layout (64 filters, 256 px)", *_published_layout(tmp)))
        for name, seg_model, quality_model in layouts:
            times = one_file(first, tmp / name.split()[0], seg_model, quality_model)
            times = {"imports": imports, **times}
            network = times["segmentation"] + times["quality"]
            print(f"\n{name}: total {sum(times.values()):.2f} s in one process, stage after stage")
            for stage, seconds in times.items():
                print(f"  {stage:13s} {seconds:6.3f} s")
            rest = sum(times.values()) - imports - times["load models"] - network
            print(f"  everything except imports, model loading and the networks: {rest:.3f} s "
                  f"(segmentation and quality include their window preparation)")
            print(f"  peak resident memory of this process so far: {_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
