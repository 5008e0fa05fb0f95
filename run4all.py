"""Measure every M-mode DICOM recording in a folder (a whole study).

    python run4all.py -i study/ -m 40 -o results/ [--mass-table masses.csv] [--resume] [--workers 2]

Every ``*.dcm`` file and every DICOM file without an extension is analysed in
sorted order. Graphs go to OUTPUT/<file stem>/ (the whole name where stems clash), one CSV for the study to
OUTPUT/output_all.csv (or output_stats.csv), and files that fail are listed in
OUTPUT/errors.csv (file, error) while the run goes on. ``--resume`` skips
files already finished. Exit status: 0 all files ok, 1 some failed, 2 bad
input or usage.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mmode.analysis import Settings
from mmode.cli import (EXIT_BAD_INPUT, EXIT_OK, EXIT_SOME_FAILED, MAX_WORKERS, configure_logging, default_csv_name,
                       describe, ensure_writable, exit_now, in_range, no_good_beats, parse_checked, report,
                       scheduler_address, warn)
from mmode.errors import BadMassError, EchoInputError, NameClashError, OutputError, TableError, one_line, shown
from mmode.outputs import folder_names, remove_leftovers, written_atomically
from mmode.recording import find_recordings  # noqa: F401 - also run4all.find_recordings for the builders' test
from mmode.tables import check_regular, read_table
from pipeline.commands import add_common_arguments, analyse_file, analyse_loaded, load_timed, write_file_graphs
from pipeline.helpers import Helpers, warm_up
from pipeline.models import load_models

log = logging.getLogger("run4all")

ERRORS_CSV = "errors.csv"
ERROR_COLUMNS = ["file", "error"]
STATISTICS_DIR = "statistics"  # --metadata: the study statistics, OUTPUT/statistics/
DONE_FILE = "done.json"  # in OUTPUT/<folder>/ once a file's rows are in the CSV or its error in errors.csv
STUDY_OUTPUTS = {"output_all.csv", "output_stats.csv", ERRORS_CSV, STATISTICS_DIR}  # no recording's folder


def read_mass_table(path: Path) -> dict[str, str]:
    """File name and stem -> mass (g) from a CSV with columns file, mass (UTF-8, Excel's BOM, or Latin-1).

    A recording listed twice, by the same name or by names with the same stem (``rec.dcm`` and
    ``rec``), is an error: which mass was meant cannot be known.
    """
    try:
        table = read_table(path, required=("file", "mass"))
    except TableError as error:
        raise BadMassError(path, f"mass table: {error.problem}") from None
    masses, line_of = {}, {}
    for row, line in zip(table.rows, table.lines):
        name = row["file"].strip()
        if not name:
            raise BadMassError(path, f"mass table line {line}: empty file name")
        for key in dict.fromkeys([name, Path(name).stem]):
            if key in line_of:
                raise BadMassError(path, f"mass table lists {key} twice (lines {line_of[key]} and {line})")
            masses[key], line_of[key] = row["mass"].strip(), line
    return masses


def mass_for(path: Path, masses: dict, default):
    """The mass of a recording: by its name, else by its stem, else ``default``.

    A name that is not UTF-8 is looked up as printed (``souris_\\xe9.dcm``) and as Latin-1
    (``souris_é.dcm``), the encoding such names usually come from.
    """
    for name in (path.name, path.stem):
        for key in dict.fromkeys([shown(name), os.fsencode(name).decode("latin-1")]):
            if key in masses:
                return masses[key]
    return default


def input_signature(path: Path, mass, args) -> dict:
    """What a file's outcome depends on: the file, its mass, the CSV mode, the threshold, the models."""
    stat = _stat(path)
    models = [[_stat(model), str(model)] for model in (args.seg_model, args.quality_model)]
    return {"file": stat, "mass": str(mass), "write": args.write, "threshold": args.threshold, "models": models}


def _stat(path: Path) -> dict | None:
    """Size and modification time of a file (of a link itself when it points nowhere), or None."""
    for follow in (True, False):
        try:
            info = os.stat(path, follow_symlinks=follow)
            return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}
        except OSError:
            pass
    return None


def finished(path: Path, out_dir: Path, mass, args) -> tuple[bool, str | None]:
    """(whether the file's outcome with these inputs is recorded, its error message or None)."""
    try:
        record = json.loads((out_dir / DONE_FILE).read_text(encoding="utf-8"))
        if record["input"] == json.loads(json.dumps(input_signature(path, mass, args))):
            return True, record["error"]
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return False, None


def mark_done(path: Path, out_dir: Path, mass, args, error: str | None = None) -> None:
    """Record the file's outcome (its rows are in the CSV, or its error in errors.csv) for --resume."""
    ensure_writable(out_dir)
    with written_atomically(out_dir / DONE_FILE) as tmp:
        tmp.write_text(json.dumps({"input": input_signature(path, mass, args), "error": error}), encoding="utf-8")


# --- work for one file; runs in this process, a pool worker or a dask worker -------------

@dataclass
class Outcome:
    """What the study keeps of one file: its CSV rows, or its error; with how many beats were good."""

    rows: list | None = None
    error: str | None = None
    n_good: int = 0
    warning: str | None = None  # a result without a good-quality beat (rows of empty cells)

    @classmethod
    def of(cls, analysis, error: str | None, write: str) -> "Outcome":
        from mmode.results import rows_for

        if error is not None:
            return cls(error=error)
        return cls(rows_for(analysis, write)[1], None, len(analysis.good_beats), no_good_beats(analysis))


_models = None


def _init_worker(args, threads: int) -> None:
    """Load the models once per worker process and share the cores fairly."""
    global _models
    configure_logging(args)
    _models = load_models(args.seg_model, args.quality_model, args.device, threads)


def _guarded(args, work, path=None):
    """(work(), None), or (None, error message): one broken file must not end the study."""
    try:
        return work(), None
    except EchoInputError as error:
        return None, error.problem if error.path in (None, path) else str(error)
    except Exception as error:  # noqa: BLE001
        if args.debug:
            import traceback

            traceback.print_exc()
        return None, describe(error)


def process(path: Path, mass, args, out_dir: Path, threads: int | None = None) -> Outcome:
    """The Outcome of one file, its graphs written into ``out_dir``; in a pool worker or a dask worker.

    Models are loaded on first use in each process, taking ``threads`` windows at a time.
    """
    if _models is None:
        _init_worker(args, threads or 1)

    def work():
        settings = Settings.for_mass(mass, path, args.threshold)
        return analyse_file(path, _models, settings, out_dir if args.graphs else None, args.dpi)

    return Outcome.of(*_guarded(args, work, path), args.write)


def _run_here(todo, mass_of, folder_of, args, helpers: Helpers):
    """The generator of (path, Outcome) in order: the networks here, reading and drawing in the helpers.

    Called before torch is imported: the first file is being read at once.
    """
    # A bad body mass fails before the file is read, as everywhere else.
    settings_of = {path: _guarded(args, lambda: Settings.for_mass(mass_of[path], path, args.threshold), path)
                   for path in todo}
    to_read = iter([path for path in todo if settings_of[path][1] is None])
    first = next(to_read, None)
    loading = {} if first is None else {first: helpers.submit(load_timed, first)}
    if args.graphs:
        helpers.submit(warm_up)
    return _results_here(todo, settings_of, to_read, loading, folder_of, args, helpers)


def _results_here(todo, settings_of, to_read, loading, folder_of, args, helpers):
    """While the networks run on file i, one helper reads file i+1 and the other draws the graphs of file i-1."""
    drawing = {}  # path -> the Job drawing its graphs
    previous = None  # (path, analysis, error) of the file before
    for path in todo:
        settings, error = settings_of[path]
        analysis = None
        if error is None:
            following = next(to_read, None)
            if following is not None:  # read while this one runs
                loading[following] = helpers.submit(load_timed, following)
            failures = folder_of[path] if args.graphs else None
            analysis, error = _guarded(args, lambda: analyse_loaded(loading.pop(path).result(), _models, settings,
                                                                   failures, args.dpi), path)
        if error is None and args.graphs:
            drawing[path] = helpers.submit(write_file_graphs, analysis, folder_of[path], args.dpi)
        if previous is not None:
            yield _finish(*previous, drawing, args)
        previous = (path, analysis, error)
    if previous is not None:
        yield _finish(*previous, drawing, args)


def _finish(path, analysis, error, drawing, args):
    """(path, Outcome) once the graphs of ``path`` (if any) are drawn."""
    if path in drawing:
        seconds, error = _guarded(args, drawing.pop(path).result, path)
        if error is None:
            analysis.timings["graphs"] = seconds
    return path, Outcome.of(analysis, error, args.write)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--input", type=Path, required=True, help="folder of DICOM files")
    parser.add_argument("-o", "--output", type=Path, default=Path("."), help="output root (default: .)")
    add_common_arguments(parser)
    parser.add_argument("--mass-table", type=Path, help="CSV with columns file, mass (g): one mass per mouse")
    parser.add_argument("--resume", action="store_true", help="skip files already finished in OUTPUT")
    parser.add_argument("--workers", type=in_range(int, 1, MAX_WORKERS), default=1,
                        help=f"parallel worker processes (default 1, at most {MAX_WORKERS})")
    parser.add_argument("--scheduler", metavar="ADDRESS", type=scheduler_address,
                        help="run on a dask.distributed cluster, e.g. tcp://host:8786 "
                             "(needs the 'distributed' package)")
    parser.add_argument("--metadata", type=Path, metavar="CSV",
                        help="then compare the study's mice into OUTPUT/statistics/ (see analyse_study.py); "
                             "one row per recording: file, mouse_id, sex, genotype, body_mass_g")
    args = parse_checked(parser, argv)
    if args.mass is None and args.mass_table is None:
        parser.error("give -m/--mass, --mass-table, or both")
    if args.metadata is not None and args.write != "all":
        parser.error("--metadata needs -w all (the statistics use every good beat)")
    if args.metadata is not None:
        try:
            check_regular(args.metadata)  # a FIFO would be read for ever
        except TableError as error:
            parser.error(f"--metadata {error}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    configure_logging(args)
    from mmode.results import check_csv, columns_for
    from mmode.windows import crop_ratio

    csv_path = args.output / default_csv_name(args.write)
    errors_path = args.output / ERRORS_CSV
    try:
        if not args.input.is_dir():
            raise EchoInputError(args.input, "is not a folder")
        ensure_writable(args.output)
        masses = read_mass_table(args.mass_table) if args.mass_table else {}
        if args.mass is not None:
            crop_ratio(args.mass, "-m/--mass")  # a bad default mass is a usage error, not a file error
        recordings = find_recordings(args.input)
        if not recordings:
            raise EchoInputError(args.input, "no DICOM files (*.dcm or DICOM files without extension)")
        check_csv(csv_path, columns_for(args.write))  # a damaged CSV stops the study now, not after a file
        check_csv(errors_path, ERROR_COLUMNS)
    except EchoInputError as error:
        report(error, args.debug)
        return EXIT_BAD_INPUT

    folders = folder_names([p.name for p in recordings], STUDY_OUTPUTS)
    folder_of = {p: args.output / folders[p.name] for p in recordings}
    _remove_leftovers(args.output, folder_of.values())
    mass_of = {p: mass_for(p, masses, args.mass) for p in recordings}
    done = {p: finished(p, folder_of[p], mass_of[p], args) for p in recordings} if args.resume else {}
    todo = [p for p in recordings if not done.get(p, (False,))[0]]
    skipped = len(recordings) - len(todo)
    if skipped:
        log.warning("resuming: %d of %d files already finished", skipped, len(recordings))
    skipped_failed = sum(1 for finished_, error in done.values() if finished_ and error is not None)
    helpers = here = None
    try:
        if todo and not args.scheduler and (args.workers == 1 or len(todo) <= 1):
            helpers = Helpers(2 if args.graphs else 1)  # reader and painter, forked before torch is imported
            here = _run_here(todo, mass_of, folder_of, args, helpers)
        code = _run_study(args, todo, mass_of, folder_of, here, (skipped - skipped_failed, skipped_failed),
                          csv_path, errors_path)
    finally:
        if helpers is not None:
            helpers.close()
    if args.metadata is not None and code in (EXIT_OK, EXIT_SOME_FAILED):
        from mmode.study_report import run_and_report  # pandas and statsmodels only for the statistics

        code = max(code, run_and_report([csv_path], args.output / STATISTICS_DIR, args.metadata, debug=args.debug))
    return code


def _remove_leftovers(out_root: Path, folders) -> None:
    """Temporary files that runs killed with SIGKILL left behind."""
    removed = remove_leftovers(out_root) + sum(remove_leftovers(folder) for folder in folders)
    if removed:
        log.info("removed %d leftovers of interrupted runs", removed)


def _run_study(args, todo, mass_of, folder_of, here, skipped, csv_path, errors_path) -> int:
    """Analyse ``todo`` and write every outcome; ``skipped``: files finished earlier (ok, failed)."""
    from tqdm import tqdm

    from mmode.results import columns_for, file_cell, replace_rows

    if not todo:
        print(f"nothing to do: all {sum(skipped)} files already finished ({skipped[1]} of them failed); "
              f"CSV: {shown(csv_path)}", file=sys.stderr)
        return EXIT_SOME_FAILED if skipped[1] else EXIT_OK
    try:
        models = load_models(args.seg_model, args.quality_model, args.device)  # here too with workers: a missing checkpoint is one line, not a broken pool
    except EchoInputError as error:
        report(error, args.debug)
        return EXIT_BAD_INPUT

    columns = columns_for(args.write)
    (ok, failed), beats_kept, without_good = skipped, 0, 0
    started = time.perf_counter()
    results = _run(todo, mass_of, folder_of, args, models, here)
    try:
        for path, outcome in tqdm(results, total=len(todo), desc="recordings", unit="file", disable=None):
            rows, error = outcome.rows, outcome.error
            cell = file_cell(path)
            if rows is not None:  # a failed file keeps the rows of an earlier run
                try:
                    replace_rows(csv_path, columns, [cell], rows, sources={cell: path})
                except NameClashError as clash:  # this file's problem: the study goes on
                    error = str(clash)
            replace_rows(errors_path, ERROR_COLUMNS, [cell], [] if error is None else [{"file": cell,
                                                                                        "error": one_line(error)}])
            mark_done(path, folder_of[path], mass_of[path], args, None if error is None else one_line(error))
            if error is None:
                ok += 1
                beats_kept += outcome.n_good
                if outcome.warning is not None:
                    warn(path, outcome.warning)
                    without_good += 1
            else:
                log.warning("%s: %s", shown(path), error)
                failed += 1
    except OutputError as error:  # a full disk, a CSV made unwritable meanwhile: nothing more can be kept
        report(error, args.debug, f"; study stopped after {ok} files, rerun with --resume once it can be written")
        return EXIT_BAD_INPUT
    except EchoInputError as error:  # e.g. the dask scheduler cannot be reached: nothing can run
        report(error, args.debug)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"interrupted: {ok} files finished; rerun with --resume to continue", file=sys.stderr)
        return 130
    finally:
        results.close()
    without = f" ({without_good} without a good-quality beat)" if without_good else ""
    print(f"{ok} files ok{without}, {failed} failed, {beats_kept} good beats kept in this run "
          f"({time.perf_counter() - started:.1f} s); CSV: {shown(csv_path)}"
          + (f"; errors: {shown(errors_path)}" if failed else ""), file=sys.stderr)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _run(todo, mass_of, folder_of, args, models, here):
    """Yield (path, Outcome) in input order, from this process (``here``), a pool of workers or a dask cluster."""
    global _models
    if args.scheduler:
        yield from _run_dask(todo, mass_of, folder_of, args)
        return
    if here is not None:
        _models = models
        yield from here
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // args.workers)
    context = multiprocessing.get_context("spawn")  # forking a process that holds torch threads can hang
    with ProcessPoolExecutor(args.workers, mp_context=context, initializer=_init_worker,
                             initargs=(args, threads)) as pool:
        futures = [(path, pool.submit(process, path, mass_of[path], args, folder_of[path])) for path in todo]
        try:
            for path, future in futures:
                yield path, future.result()
        finally:  # a study stopped early (a full disk, Ctrl-C) does not wait for the files not yet started
            pool.shutdown(cancel_futures=True)


def _dask_task(path, mass, args, out_dir, slots_per_host):
    """process() on a dask worker, with torch using this host's cores divided among its task slots."""
    from distributed import get_worker

    host = get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    threads = max(1, (os.cpu_count() or 1) // slots_per_host.get(host, 1))
    return process(path, mass, args, out_dir, threads)


def _run_dask(todo, mass_of, folder_of, args):
    """Submit every file to an existing dask.distributed cluster; the files must be on shared storage."""
    try:
        from distributed import Client
    except ImportError:
        raise EchoInputError(None, "--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
    try:
        client = Client(args.scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise EchoInputError(None, f"cannot reach the dask scheduler at {args.scheduler} ({exc})") from None
    with client:
        slots_per_host = {}
        for worker in client.scheduler_info()["workers"].values():
            slots_per_host[worker["host"]] = slots_per_host.get(worker["host"], 0) + worker["nthreads"]
        futures = [client.submit(_dask_task, path.resolve(), mass_of[path], args, folder_of[path].resolve(),
                                 slots_per_host, pure=False) for path in todo]
        for path, future in zip(todo, futures):
            yield path, future.result()


if __name__ == "__main__":
    exit_now(main())
