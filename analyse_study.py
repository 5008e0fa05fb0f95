"""Compare mutant with control mice per sex, adjusted for body mass; agreement with manual values.

    python analyse_study.py OUTPUT/output_all.csv --metadata mice.csv -o statistics/
    python analyse_study.py ../shared/reference/echo2pheno_study -o statistics/

Inputs: a run4all ``-w all`` CSV with ``--metadata`` (one row per recording: file, mouse_id, sex,
genotype, body_mass_g, optionally line and "<parameter> manual" columns), Echo2Pheno's per-line
files (``<LINE>_data_filtered_plus_functional_parameter_plus_manual_measurements.csv[.gz]``, or
``<LINE>_output_labeled.csv[.gz]`` with ``<LINE>_manual_annotation.csv``), or folders holding
them. Each line is analysed on its own into OUTPUT/<line>/; OUTPUT/report.html shows them all.
Exit status: 0 done (what could not be computed is noted in the report), 2 unusable input.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from mmode import forkserver_pool
from mmode.cli import MAX_WORKERS, in_range, parse_checked

AGGREGATES = ("mean", "median")  # mmode.study.AGGREGATES, whose import (pandas, scipy) takes 3 s


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", type=Path, nargs="+", metavar="INPUT",
                        help="run4all CSV, Echo2Pheno per-line file, or a folder of them")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--metadata", type=Path, metavar="CSV",
                        help="CSV, one row per recording: file, mouse_id, sex, genotype, body_mass_g[, line]")
    parser.add_argument("--control", metavar="LABEL",
                        help="genotype label of the controls (default: control, wt, wildtype or +/+)")
    parser.add_argument("--aggregate", choices=AGGREGATES, default="mean",
                        help="per-mouse value from its beats (default mean, as published)")
    parser.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True,
                        help="write the plots (default; --no-plots for the tables and report only)")
    parser.add_argument("--workers", type=in_range(int, 1, MAX_WORKERS), default=min(2, os.cpu_count() or 1),
                        help="processes that draw the plots (default: 2, or 1 on one core)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the notes too")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parse_checked(parser, argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.plots and args.workers > 1:
        forkserver_pool.start(["mmode.study_report"])  # the drawing processes' imports, beside ours
    from mmode.study_report import run_and_report

    return run_and_report(args.inputs, args.output, args.metadata, args.control, args.aggregate, args.plots,
                          args.workers, args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
