"""Generation, load+stitch time and peak memory for one full-size 49-frame phantom.

    python benchmarks/bench_load.py [--jpeg] [--repeat 5]

Targets on a 2-core machine: load+stitch <= 0.5 s; peak memory <= 3x the raw pixel data.
Peak memory is measured with tracemalloc (NumPy and pydicom allocations) around load+stitch.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import phantom
from mmode.recording import load_recording


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jpeg", action="store_true")
    parser.add_argument("--monochrome", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=9000)
    args = parser.parse_args(argv)
    cfg = phantom.PhantomConfig(seed=args.seed, jpeg=args.jpeg,
                                photometric="MONOCHROME2" if args.monochrome else "RGB")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ph = phantom.generate(cfg)
        generated = time.perf_counter() - started
        path = phantom.write(ph, Path(tmp) / "bench.dcm")
        written = time.perf_counter() - started
        channels = 1 if args.monochrome else 3
        raw_mb = cfg.n_frames * cfg.frame_rows * cfg.frame_cols * channels / 1e6
        load_recording(path)  # warm the page cache and imports
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            recording = load_recording(path)
            times.append(time.perf_counter() - started)
        tracemalloc.start()
        load_recording(path)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        size_mb = path.stat().st_size / 1e6
    variant = "JPEG" if args.jpeg else "MONOCHROME2" if args.monochrome else "RGB"
    print(f"phantom {variant}, {cfg.n_frames} frames of {cfg.frame_rows}x{cfg.frame_cols}, file {size_mb:.1f} MB, "
          f"raw pixel data {raw_mb:.1f} MB, stitched {recording.image.shape[1]} columns (truth {ph.width})")
    print(f"generate: {generated:.2f} s (with DICOM and ground truth written: {written:.2f} s)")
    print(f"load+stitch: median {statistics.median(times):.3f} s, min {min(times):.3f} s over {args.repeat} runs")
    print(f"peak memory during load+stitch: {peak_mb:.0f} MB = {peak_mb / raw_mb:.2f}x the raw pixel data")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
