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

from mmode.cli import (EXIT_BAD_INPUT, EXIT_OK, add_common_arguments, configure_logging, default_csv_name,
                       ensure_writable, exit_now, load_models, measure_loaded, no_good_beats, parse_checked, report,
                       warn)
from mmode.errors import EchoInputError
from mmode.outputs import GRAPH_FILES, check_distinct, remove_leftovers
from mmode.results import check_csv, columns_for, file_cell, replace_rows, rows_for, sources_path
from mmode.sidecar import Sidecar, remove_orphaned_folders

log = logging.getLogger("end2end_framework")


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
    sidecar = None
    try:
        from mmode.windows import crop_ratio

        started = time.perf_counter()
        ensure_writable(args.output)
        csv_path = args.writefile or args.output / default_csv_name(args.write)
        _check_outputs(args, csv_path)
        ratio = crop_ratio(args.mass, args.input)  # a bad mass fails before anything starts
        remove_leftovers(args.output)  # what a run killed with SIGKILL left behind
        remove_orphaned_folders()
        sidecar = Sidecar(args.graphs)  # reads the file while torch is imported, and draws the graphs
        sidecar.load(args.input)
        models = load_models(args)
        analysis = _measure(args, ratio, models, sidecar)
        columns, rows = rows_for(analysis, args.write)
        cell = file_cell(args.input)
        replace_rows(csv_path, columns, [cell], rows, sources={cell: args.input})
        log.info("%s: %d of %d beats good; wrote %s (%.2f s; %s)", args.input, len(analysis.good_beats),
                 len(analysis.beats), csv_path, time.perf_counter() - started,
                 ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in analysis.timings.items()))
        why = no_good_beats(analysis)
        if why is not None:  # a result all the same: empty cells, exit status 0
            warn(args.input, why)
    except EchoInputError as error:
        report(error, args.debug)
        return EXIT_BAD_INPUT
    except OSError as error:
        report(error, args.debug)
        return EXIT_BAD_INPUT
    finally:
        if sidecar is not None:
            sidecar.close()
    return EXIT_OK


def _check_outputs(args, csv_path) -> None:
    """Before any work: the CSV is usable, and no output is another output or an input."""
    check_csv(csv_path, columns_for(args.write))
    outputs = {"-f CSV": csv_path, "its record of sources": sources_path(csv_path)}
    if args.graphs:
        outputs.update({name: args.output / name for name in GRAPH_FILES})
    check_distinct(outputs, {"-i": args.input, "--quality-model": args.quality_model, "--seg-model": args.seg_model})


def _measure(args, ratio: float, models, sidecar: Sidecar):
    """The Analysis of ``args.input``, its graphs written."""
    analysis = measure_loaded(sidecar, ratio, models, args, args.output if args.graphs else None)
    if args.graphs:
        sidecar.draw(analysis, args.output, args.dpi)
        analysis.timings["graphs"] = sidecar.result()
    return analysis


if __name__ == "__main__":
    exit_now(main())
