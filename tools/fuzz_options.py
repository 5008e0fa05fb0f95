"""Bounded fuzzing of the command lines' options.

    python tools/fuzz_options.py --seconds 60 [--seed 0]

Builds random command lines for end2end_framework.py, run4all.py and
analyse_study.py from their options and awkward values (out of range, NaN,
infinities, huge, negative, empty, text where numbers belong, names that are
not UTF-8, a newline), in random order, some options doubled or left out,
and parses each with the script's own ``parse_args``. A parse either ends in
argparse's usage error (SystemExit 2, nothing else on stderr but the usage and
one error line) or gives options inside their documented ranges (threshold
0-1, dpi 10-1200, workers 1-256, a scheduler address HOST:PORT), whose body
mass then either is a usable number of grams or a BadMassError. Anything else
is a crash. Nothing is analysed or written: only the parsing and checking that
every run starts with. Prints iterations, outcomes and crashes; exit status 1
when any crash was found.
"""
from __future__ import annotations

import collections
import contextlib
import io
import math
import os
import time
import traceback

import numpy as np

import analyse_study
import end2end_framework
import run4all
from mmode.cli import DPI_RANGE, MAX_WORKERS, SCHEDULER_ADDRESS
from mmode.errors import BadMassError
from mmode.windows import crop_ratio
from fuzzing import parse_arguments, summary  # tools/fuzzing.py, beside this script

NUMBERS = ["0", "1", "-1", "0.5", "1.0", "1.01", "-0.0", "nan", "NaN", "inf", "-inf", "1e308", "1e-308", "99999999999",
           "10", "1200", "1201", "9", "2", "256", "257", "0x10", "1_000", " 3 ", "", "abc", "½", "٣"]
TEXTS = ["x.dcm", "folder", "", "-", "--", os.fsdecode(b"caf\xe9.dcm"), "two\nlines", "tcp://host:8786", "host:8786",
         "tcp://host:99999", "tcp://:1", "[::1]:8786", "tcp://a b:1", "cpu", "cuda:7", "all", "stats", "True", "False"]
OPTIONS = {
    "common": [("-m", NUMBERS + TEXTS), ("--mass", NUMBERS), ("-g", ["True", "False", "0", "maybe", None]),
               ("--no-graphs", [None]), ("--graphs", [None]), ("-w", ["all", "stats", "ALL", ""]),
               ("--threshold", NUMBERS), ("--dpi", NUMBERS), ("--device", TEXTS), ("-o", TEXTS),
               ("--quality-model", TEXTS), ("--seg-model", TEXTS), ("-v", [None]), ("--debug", [None]),
               ("-i", TEXTS)],
    "end2end": [("-f", TEXTS)],
    "run4all": [("--mass-table", TEXTS), ("--resume", [None]), ("--workers", NUMBERS), ("--scheduler", TEXTS),
                ("--metadata", TEXTS)],
    "analyse_study": [("--metadata", TEXTS), ("--control", TEXTS), ("--aggregate", ["mean", "median", "max"]),
                      ("--plots", [None]), ("--no-plots", [None]), ("--workers", NUMBERS), ("-v", [None]),
                      ("--debug", [None]), ("-o", TEXTS)],
}
SCRIPTS = {"end2end": end2end_framework, "run4all": run4all, "analyse_study": analyse_study}


def command_line(script: str, rng: np.random.Generator) -> list[str]:
    options = OPTIONS[script] if script == "analyse_study" else OPTIONS["common"] + OPTIONS[script]
    argv = []
    if script == "analyse_study":
        argv += [TEXTS[int(rng.integers(0, len(TEXTS)))] for _ in range(int(rng.integers(0, 3)))]
    elif rng.random() < 0.9:
        argv += ["-i", "x.dcm", "-m", "25"]
    for _ in range(int(rng.integers(0, 6))):
        flag, values = options[int(rng.integers(0, len(options)))]
        value = values[int(rng.integers(0, len(values)))]
        argv += [flag] if value is None else [flag, value] if rng.random() < 0.8 else [f"{flag}={value}"]
    return argv


def check(script: str, args) -> None:
    """Raise AssertionError when parsed options lie outside their documented ranges."""
    if script == "analyse_study":
        assert args.workers >= 1, args.workers
        return
    assert 0.0 <= args.threshold <= 1.0 and not math.isnan(args.threshold), args.threshold
    assert DPI_RANGE[0] <= args.dpi <= DPI_RANGE[1], args.dpi
    assert isinstance(args.graphs, bool)
    if script == "run4all":
        assert 1 <= args.workers <= MAX_WORKERS, args.workers
        assert args.scheduler is None or SCHEDULER_ADDRESS.match(args.scheduler), args.scheduler
        assert args.mass is not None or args.mass_table is not None
    if args.mass is not None:
        try:
            ratio = crop_ratio(args.mass, "-m/--mass")
            assert 0 < ratio <= 1, ratio
        except BadMassError as error:
            assert "\n" not in str(error)


def main(argv=None) -> int:
    options = parse_arguments(__doc__, argv, crashes=False)
    rng = np.random.default_rng(options.seed)
    outcomes, kinds = collections.Counter(), collections.Counter()
    crashes, iterations = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < options.seconds:
        script = list(SCRIPTS)[iterations % len(SCRIPTS)]
        argv = command_line(script, rng)
        iterations += 1
        stderr = io.StringIO()
        try:
            try:
                with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                    args = SCRIPTS[script].parse_args(argv)
                check(script, args)
                outcomes[f"{script}: parsed"] += 1
            except SystemExit as exit_:
                errors = [line for line in stderr.getvalue().splitlines() if ": error: " in line]
                if exit_.code != 2 or len(errors) != 1 or "Traceback" in stderr.getvalue():
                    raise AssertionError(f"exit {exit_.code}, stderr {stderr.getvalue()!r}") from None
                outcomes[f"{script}: usage error"] += 1
        except Exception as error:  # noqa: BLE001 - every other exception is what we look for
            crashes += 1
            kinds[f"{script}: {type(error).__name__}: {str(error)[:60]}"] += 1
            if crashes <= 3:
                print("argv:", argv)
                traceback.print_exc()
    return summary(f"iterations: {iterations} in {options.seconds:.0f} s; crashes: {crashes}", outcomes, kinds)


if __name__ == "__main__":
    raise SystemExit(main())
