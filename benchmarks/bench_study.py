"""Time analyse_study.py on the published Echo2Pheno study: 8 lines, plots and report included.

    python benchmarks/bench_study.py [--study DIR] [--repeat 3] [--workers 1 2]

Each run is a fresh process (imports included), as a user runs it. Target on a 2-core machine:
<= 20 s for all 8 lines. The load average is printed too: other work on the machine slows
every figure here.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STUDY = Path(os.environ.get("MMODE_STUDY_DIR", ROOT.parent / "shared" / "reference" / "echo2pheno_study"))


def run_once(study: Path, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "analyse_study.py"), str(study), "-o", out, "--workers",
                        str(workers)], check=True, capture_output=True)
        seconds = time.perf_counter() - started
        size_mb = (Path(out) / "report.html").stat().st_size / 1e6
    return seconds, size_mb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", type=Path, default=DEFAULT_STUDY, help="folder of the 8 Echo2Pheno lines")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="drawing processes to compare")
    args = parser.parse_args(argv)
    if not args.study.is_dir():
        print(f"{args.study}: no study folder (set MMODE_STUDY_DIR or --study)", file=sys.stderr)
        return 2
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the runs")
    for workers in args.workers:
        runs = [run_once(args.study, workers) for _ in range(args.repeat)]
        times = [seconds for seconds, _ in runs]
        print(f"analyse_study.py, 8 lines with plots and report, --workers {workers}: median "
              f"{statistics.median(times):.1f} s, min {min(times):.1f} s over {args.repeat} runs "
              f"(report.html {runs[0][1]:.1f} MB)")
    print(f"load average {os.getloadavg()[0]:.1f} after the runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
