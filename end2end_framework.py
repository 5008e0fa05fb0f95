"""Measure the left ventricle in one M-mode DICOM recording.

    python end2end_framework.py -i recording.dcm -m 40 -o results/

Writes one CSV row per good-quality beat (``-w all``) or one row of summary
statistics (``-w stats``) into ``-f`` (default: output_all.csv or
output_stats.csv in the output folder), and the five graphs into the output
folder. Exit status: 0 ok, 2 bad input or usage.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from mmode.analysis import Settings, timed
from mmode.cli import (EXIT_BAD_INPUT, EXIT_OK, configure_logging, default_csv_name, ensure_writable, exit_now,
                       no_good_beats, parse_checked, report, warn)
from mmode.errors import EchoInputError
from mmode.outputs import GRAPH_FILES, check_distinct, remove_leftovers
from mmode.results import check_csv, columns_for, file_cell, replace_rows, rows_for, sources_path
from pipeline.commands import (add_common_arguments, analyse_loaded, load_then_warm_up, load_timed,
                               write_file_graphs)
from pipeline.helpers import Helpers, warm_up
from pipeline.models import load_models

log = logging.getLogger("end2end_framework")

# The graphs in two parts of about equal drawing time (0.5 and 0.4 s), one per helper.
GRAPH_HALVES = (GRAPH_FILES[:2] + GRAPH_FILES[4:], GRAPH_FILES[2:4])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--input", type=Path, required=True, help="DICOM file")
    parser.add_argument("-o", "--output", type=Path, default=Path("."), help="output folder (default: .)")
    parser.add_argument("-f", "--writefile", type=Path, help="CSV to add the rows to (default: in the output folder)")
    add_common_arguments(parser)
    args = parse_checked(parser, argv)
    if args.mass is None:
        parser.error("the following arguments are required: -m/--mass")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    configure_logging(args)
    helpers = None
    try:
        started = time.perf_counter()
        ensure_writable(args.output)
        csv_path = args.writefile or args.output / default_csv_name(args.write)
        _check_outputs(args, csv_path)
        settings = Settings.for_mass(args.mass, args.input, args.threshold)  # a bad mass fails before anything starts
        remove_leftovers(args.output)  # what a run killed with SIGKILL left behind
        # While torch is imported, one helper reads the file and the other imports matplotlib; both
        # then draw half of the graphs each (0.3-0.4 s sooner than one helper drawing all five).
        helpers = Helpers(2 if args.graphs else 1)
        loading = helpers.submit(load_then_warm_up if args.graphs else load_timed, args.input)
        if args.graphs:
            helpers.submit(warm_up)
        models = load_models(args.seg_model, args.quality_model, args.device)
        failures = args.output if args.graphs else None
        analysis = analyse_loaded(loading.result(), models, settings, failures, args.dpi)
        if args.graphs:
            with timed(analysis.timings, "graphs"):
                drawing = [helpers.submit(write_file_graphs, analysis, args.output, args.dpi, names)
                           for names in GRAPH_HALVES]
                for job in drawing:
                    job.result()
        columns, rows = rows_for(analysis, args.write)
        cell = file_cell(args.input)
        replace_rows(csv_path, columns, [cell], rows, sources={cell: args.input})
        log.info("%s: %d of %d beats good; wrote %s (%.2f s; %s)", args.input, len(analysis.good_beats),
                 len(analysis.beats), csv_path, time.perf_counter() - started,
                 ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in analysis.timings.items()))
        why = no_good_beats(analysis)
        if why is not None:  # a result all the same: empty cells, exit status 0
            warn(args.input, why)
    except (EchoInputError, OSError) as error:
        report(error, args.debug)
        return EXIT_BAD_INPUT
    finally:
        if helpers is not None:
            helpers.close()
    return EXIT_OK


def _check_outputs(args, csv_path) -> None:
    """Before any work: the CSV is usable, and no output is another output or an input."""
    check_csv(csv_path, columns_for(args.write))
    outputs = {"-f CSV": csv_path, "its record of sources": sources_path(csv_path)}
    if args.graphs:
        outputs.update({name: args.output / name for name in GRAPH_FILES})
    check_distinct(outputs, {"-i": args.input, "--quality-model": args.quality_model, "--seg-model": args.seg_model})


if __name__ == "__main__":
    exit_now(main())
