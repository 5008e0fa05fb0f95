"""Time analyse_study.py on the published Echo2Pheno study: 8 lines, plots and report included.

    python benchmarks/bench_study.py [--study DIR] [--repeat 3] [--workers 1 2]

Each run is a fresh process (imports included), as a user runs it. Target on a 2-core machine:
<= 20 s for all 8 lines. The load average and the CPU time of all the run's processes are
printed too: other work on the machine stretches the wall time, much less the CPU time.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STUDY = Path(os.environ.get("MMODE_STUDY_DIR", ROOT.parent / "shared" / "reference" / "echo2pheno_study"))


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(study: Path, workers: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds of all its processes, and the report's size (MB) of one run."""
    with tempfile.TemporaryDirectory() as out:
        cpu = _children_cpu_s()
        started = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "analyse_study.py"), str(study), "-o", out, "--workers",
                        str(workers)], check=True, capture_output=True)
        seconds = time.perf_counter() - started
        size_mb = (Path(out) / "report.html").stat().st_size / 1e6
    return seconds, _children_cpu_s() - cpu, size_mb


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
        times = [seconds for seconds, _, _ in runs]
        # The drawing processes are the forkserver's children, whose CPU time never reaches us.
        cpu = f"; CPU time {statistics.median(cpu for _, cpu, _ in runs):.1f} s" if workers == 1 else ""
        print(f"analyse_study.py, 8 lines with plots and report, --workers {workers}: median "
              f"{statistics.median(times):.1f} s, min {min(times):.1f} s over {args.repeat} runs{cpu} "
              f"(report.html {runs[0][2]:.1f} MB)")
    print(f"load average {os.getloadavg()[0]:.1f} after the runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
