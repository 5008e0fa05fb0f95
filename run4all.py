"""Measure every M-mode DICOM recording in a folder (a whole study).

    python run4all.py -i study/ -m 40 -o results/ [--mass-table masses.csv] [--resume] [--workers 2]

Every ``*.dcm`` file and every DICOM file without an extension is analysed in
sorted order. Graphs go to OUTPUT/<file stem>/, one CSV for the study to
OUTPUT/output_all.csv (or output_stats.csv), and files that fail are listed in
OUTPUT/errors.csv (file, error) while the run goes on. ``--resume`` skips
files already finished. Exit status: 0 all files ok, 1 some failed, 2 bad
input or usage.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from pathlib import Path

from mmode.cli import (EXIT_BAD_INPUT, EXIT_OK, EXIT_SOME_FAILED, add_common_arguments, analyse_and_write,
                       check_good_beats, configure_logging, default_csv_name, ensure_writable, exit_now,
                       load_models, measure_loaded, report)
from mmode.errors import BadMassError, EchoInputError
from mmode.sidecar import Sidecar

log = logging.getLogger("run4all")

ERRORS_CSV = "errors.csv"
STATISTICS_DIR = "statistics"  # --metadata: the study statistics, OUTPUT/statistics/
DONE_FILE = "done.json"  # written into OUTPUT/<stem>/ once a file's rows are in the CSV
DICOM_MAGIC_OFFSET = 128


def is_dicom(path: Path) -> bool:
    """A ``.dcm`` file, or a file without extension that starts with the DICOM preamble."""
    if path.suffix.lower() == ".dcm":
        return True
    if path.suffix:
        return False
    try:
        with open(path, "rb") as fh:
            fh.seek(DICOM_MAGIC_OFFSET)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def find_recordings(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and is_dicom(p))


def read_mass_table(path: Path) -> dict[str, str]:
    """File name or stem -> mass (g) from a CSV with columns file, mass."""
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"file", "mass"} <= set(reader.fieldnames):
                raise BadMassError(path, "mass table needs the columns file, mass")
            table = {}
            for row in reader:
                table[row["file"]] = row["mass"]
                table[Path(row["file"]).stem] = row["mass"]
            return table
    except OSError as exc:
        raise BadMassError(path, f"cannot read mass table ({exc.strerror})") from None


def input_signature(path: Path, mass, mode: str) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "mass": str(mass), "write": mode}


def is_done(path: Path, out_dir: Path, mass, mode: str) -> bool:
    try:
        return json.loads((out_dir / DONE_FILE).read_text()) == input_signature(path, mass, mode)
    except (OSError, ValueError):
        return False


def mark_done(path: Path, out_dir: Path, mass, mode: str) -> None:
    from mmode.results import written_atomically

    out_dir.mkdir(parents=True, exist_ok=True)
    with written_atomically(out_dir / DONE_FILE) as tmp:
        tmp.write_text(json.dumps(input_signature(path, mass, mode)))


# --- work for one file; runs in this process, a pool worker or a dask worker -------------

_models = None


def _init_worker(args, threads: int) -> None:
    """Load the models once per worker process and share the cores fairly."""
    global _models
    import torch

    torch.set_num_threads(threads)
    configure_logging(args)
    _models = load_models(args)


def _guarded(args, work):
    """(work(), None), or (None, error message): one broken file must not end the study."""
    try:
        return work(), None
    except EchoInputError as error:
        return None, error.problem
    except Exception as error:  # noqa: BLE001
        if args.debug:
            import traceback

            traceback.print_exc()
        return None, f"{type(error).__name__}: {error}"


def _outcome(analysis, error, args):
    """(CSV rows or None, error message or None, number of good beats) of one analysed file.

    A recording without good beats has rows (an empty stats row) and an error.
    """
    from mmode.results import rows_for

    if error is not None:
        return None, error, 0
    rows = rows_for(analysis, args.write)[1]
    try:
        check_good_beats(analysis)
    except EchoInputError as error:
        return rows, error.problem, 0
    return rows, None, len(analysis.good_beats)


def process(path: Path, mass, args, out_root: Path, threads: int | None = None):
    """_outcome() of one file, its graphs written; in a pool worker or a dask worker.

    Models are loaded on first use in each process (``threads``: torch threads then).
    """
    if _models is None:
        _init_worker(args, threads or 1)
    return _outcome(*_guarded(args, lambda: analyse_and_write(path, mass, _models, args, out_root / path.stem,
                                                              args.graphs)), args)


def _run_here(todo, mass_of, args, reader, painter):
    """Yield (path, _outcome) in order, from this process and two sidecars (see mmode.sidecar).

    While the networks run on file i, the reader reads file i+1 and the painter
    draws the graphs of file i-1; each answers in the order it was asked.
    """
    from mmode.windows import crop_ratio

    # A bad body mass fails before the file is read, as everywhere else.
    ratio_of = {path: _guarded(args, lambda: crop_ratio(mass_of[path], path)) for path in todo}
    to_read = iter([path for path in todo if ratio_of[path][1] is None])

    def read_next() -> None:
        path = next(to_read, None)
        if path is not None:
            reader.load(path)

    read_next()
    previous = None  # (path, analysis, error, whether its graphs were asked for)
    for path in todo:
        ratio, error = ratio_of[path]
        analysis = None
        if error is None:
            read_next()  # the next file is read while this one is measured
            analysis, error = _guarded(args, lambda: measure_loaded(reader, ratio, _models, args))
        drawing = error is None and args.graphs
        if drawing:
            painter.draw(analysis, args.output / path.stem, args.dpi)
        if previous is not None:
            yield _finish(*previous, painter, args)
        previous = (path, analysis, error, drawing)
    if previous is not None:
        yield _finish(*previous, painter, args)


def _finish(path, analysis, error, drawing, painter, args):
    if drawing:
        seconds, error = _guarded(args, painter.result)
        analysis.timings["graphs"] = seconds
    return path, _outcome(analysis, error, args)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--input", type=Path, required=True, help="folder of DICOM files")
    parser.add_argument("-o", "--output", type=Path, default=Path("."), help="output root (default: .)")
    add_common_arguments(parser)
    parser.add_argument("--mass-table", type=Path, help="CSV with columns file, mass (g): one mass per mouse")
    parser.add_argument("--resume", action="store_true", help="skip files already finished in OUTPUT")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a dask.distributed cluster, e.g. tcp://host:8786 "
                             "(needs the 'distributed' package)")
    parser.add_argument("--metadata", type=Path, metavar="CSV",
                        help="then compare the study's mice into OUTPUT/statistics/ (see analyse_study.py); "
                             "one row per recording: file, mouse_id, sex, genotype, body_mass_g")
    args = parser.parse_args(argv)
    if args.mass is None and args.mass_table is None:
        parser.error("give -m/--mass, --mass-table, or both")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.metadata is not None and args.write != "all":
        parser.error("--metadata needs -w all (the statistics use every good beat)")
    if args.metadata is not None and not args.metadata.is_file():
        parser.error(f"--metadata {args.metadata}: no such file")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    configure_logging(args)
    from mmode.windows import crop_ratio

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
    except EchoInputError as error:
        report(error, args.debug)
        return EXIT_BAD_INPUT

    csv_path = args.output / default_csv_name(args.write)
    errors_path = args.output / ERRORS_CSV
    mass_of = {p: masses.get(p.name, masses.get(p.stem, args.mass)) for p in recordings}
    todo = [p for p in recordings
            if not (args.resume and is_done(p, args.output / p.stem, mass_of[p], args.write))]
    skipped = len(recordings) - len(todo)
    if skipped:
        log.warning("resuming: %d of %d files already finished", skipped, len(recordings))
    sidecars = []  # reader and painter, forked before torch is imported
    try:
        if not args.scheduler and (args.workers == 1 or len(todo) <= 1):
            sidecars.append(Sidecar(graphs=False))
            sidecars.append(Sidecar(graphs=True) if args.graphs else sidecars[0])
        code = _run_study(args, todo, mass_of, sidecars, skipped, csv_path, errors_path)
    finally:
        for sidecar in sidecars:
            sidecar.close()
    if args.metadata is not None and code in (EXIT_OK, EXIT_SOME_FAILED):
        from mmode.study_report import run_and_report  # pandas and statsmodels only for the statistics

        code = max(code, run_and_report([csv_path], args.output / STATISTICS_DIR, args.metadata, debug=args.debug))
    return code


def _run_study(args, todo, mass_of, sidecars, skipped, csv_path, errors_path) -> int:
    from tqdm import tqdm

    from mmode.results import columns_for, replace_rows

    try:
        models = load_models(args)  # here too with workers: a missing checkpoint is one line, not a broken pool
    except EchoInputError as error:
        report(error, args.debug)
        return EXIT_BAD_INPUT

    columns = columns_for(args.write)
    ok, failed, beats_kept = skipped, 0, 0
    started = time.perf_counter()
    try:
        results = _run(todo, mass_of, args, models, sidecars)
        for path, (rows, error, n_good) in tqdm(results, total=len(todo), desc="recordings", unit="file",
                                                disable=None):
            if rows is not None:  # a failed file keeps the rows of an earlier run
                replace_rows(csv_path, columns, [path.name], rows)
            replace_rows(errors_path, ["file", "error"], [path.name],
                         [] if error is None else [{"file": path.name, "error": error}])
            if error is None:
                mark_done(path, args.output / path.stem, mass_of[path], args.write)
                ok += 1
                beats_kept += n_good
            else:
                log.warning("%s: %s", path, error)
                failed += 1
    except EchoInputError as error:  # e.g. the dask scheduler cannot be reached: nothing can run
        report(error, args.debug)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"interrupted: {ok} files finished; rerun with --resume to continue", file=sys.stderr)
        return 130
    print(f"{ok} files ok, {failed} failed, {beats_kept} good beats kept in this run "
          f"({time.perf_counter() - started:.1f} s); CSV: {csv_path}"
          + (f"; errors: {errors_path}" if failed else ""), file=sys.stderr)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _run(todo, mass_of, args, models, sidecars):
    """Yield (path, result) in input order, from this process, a pool of workers or a dask cluster."""
    global _models
    if args.scheduler:
        yield from _run_dask(todo, mass_of, args)
        return
    if sidecars:
        _models = models
        yield from _run_here(todo, mass_of, args, *sidecars)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // args.workers)
    context = multiprocessing.get_context("spawn")  # forking a process that holds torch threads can hang
    with ProcessPoolExecutor(args.workers, mp_context=context, initializer=_init_worker,
                             initargs=(args, threads)) as pool:
        futures = [(path, pool.submit(process, path, mass_of[path], args, args.output)) for path in todo]
        for path, future in futures:
            yield path, future.result()


def _dask_task(path, mass, args, out_root, slots_per_host):
    """process() on a dask worker, with torch using this host's cores divided among its task slots."""
    from distributed import get_worker

    host = get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    threads = max(1, (os.cpu_count() or 1) // slots_per_host.get(host, 1))
    return process(path, mass, args, out_root, threads)


def _run_dask(todo, mass_of, args):
    """Submit every file to an existing dask.distributed cluster; the files must be on shared storage."""
    try:
        from distributed import Client
    except ImportError:
        raise EchoInputError(None, "--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
    try:
        client = Client(args.scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise EchoInputError(None, f"cannot reach the dask scheduler at {args.scheduler} ({exc})") from None
    with client:
        slots_per_host = {}
        for worker in client.scheduler_info()["workers"].values():
            slots_per_host[worker["host"]] = slots_per_host.get(worker["host"], 0) + worker["nthreads"]
        futures = [client.submit(_dask_task, path.resolve(), mass_of[path], args, args.output.resolve(),
                                 slots_per_host, pure=False) for path in todo]
        for path, future in zip(todo, futures):
            yield path, future.result()


if __name__ == "__main__":
    exit_now(main())
