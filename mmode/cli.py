"""What end2end_framework.py and run4all.py share: arguments, logging, models, one file's outputs."""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mmode.errors import EchoInputError, OutputError, one_line, shown
from mmode.shipped import SEG_CHECKPOINT, default_quality_checkpoint

log = logging.getLogger(__name__)

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT = 0, 1, 2
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}
DPI_RANGE = (10, 1200)  # 1200: the original's graphs; more only fills the disk
MAX_WORKERS = 256
SCHEDULER_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)"
                               r":(?P<port>[0-9]{1,5})/?$")


def in_range(kind, low, high):
    """An argparse type: ``kind(text)`` that must lie in [low, high] (NaN never does)."""

    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {low:g}-{high:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def scheduler_address(text: str) -> str:
    """An argparse type for a dask scheduler address: [SCHEME://]HOST:PORT, port 1-65535."""
    match = SCHEDULER_ADDRESS.match(text.strip())
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a scheduler address like tcp://HOST:8786")
    return text.strip()


class GraphsAction(argparse.Action):
    """``-g``/``--graphs`` [BOOL] and ``--no-graphs``; ``-g False`` turns graphs off, as users typed it."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings + ["--no-graphs"], dest, nargs="?", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string == "--no-graphs":
            if values is not None:
                parser.error("--no-graphs takes no value")
            setattr(namespace, self.dest, False)
        elif values is None or values.lower() in TRUE_WORDS:
            setattr(namespace, self.dest, True)
        elif values.lower() in FALSE_WORDS:
            setattr(namespace, self.dest, False)
        else:
            parser.error(f"-g/--graphs expects True or False, not {values!r}")


def parse_checked(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, closing a gap of argparse before Python 3.12: ``--opt=--`` stores an
    empty list that no ``type`` has seen (``--threshold=--`` would be ``[]``); that is a usage error too."""
    args = parser.parse_args(argv)
    for action in parser._actions:
        if action.nargs in (None, "?") and isinstance(getattr(args, action.dest, None), list):
            parser.error(f"argument {'/'.join(action.option_strings)}: expected one value")
    return args


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments both end-to-end scripts take, with the same defaults."""
    parser.add_argument("-m", "--mass", type=str, help="body mass of the mouse in grams")
    parser.add_argument("-g", "--graphs", action=GraphsAction, default=True,
                        help="write the five graphs (default); --no-graphs or -g False to skip them")
    parser.add_argument("-w", "--write", choices=("all", "stats"), default="all",
                        help="CSV content: one row per good beat (all) or one row per file (stats)")
    parser.add_argument("--quality-model", type=Path, default=default_quality_checkpoint(),
                        help="quality classifier weights (ours or the published quality-clas-net.pth)")
    parser.add_argument("--seg-model", type=Path, default=SEG_CHECKPOINT,
                        help="segmentation weights (ours or the published heart-seg-net.pt)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--threshold", type=in_range(float, 0.0, 1.0), default=0.5,
                        help="quality score (0-1) from which a window is good")
    parser.add_argument("--dpi", type=in_range(int, *DPI_RANGE), default=100,
                        help=f"resolution of the graphs ({DPI_RANGE[0]}-{DPI_RANGE[1]})")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log messages")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def default_csv_name(mode: str) -> str:
    return "output_all.csv" if mode == "all" else "output_stats.csv"


def configure_logging(args) -> None:
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # pydicom warns about every odd value in a file, and logs a traceback for each decoder it tries
    # on a damaged frame before one succeeds or we report the file in one line: only when asked for.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if args.verbose or args.debug else logging.ERROR)
    # pydicom sets its logger's level when it is imported, after this: a filter on our handler holds.
    if not args.debug:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_not_pydicom)


def _not_pydicom(record: logging.LogRecord) -> bool:
    return record.name != "pydicom" and not record.name.startswith("pydicom.")


@dataclass
class Models:
    seg: object
    quality: object
    device: str


def load_models(args) -> Models:
    # Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning, which leaves the
    # cores to the sidecar processes (run4all: 1.2 s per file instead of 1.5 on two cores).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from heart_segmentation.predict import load_checkpoint as load_seg
    from quality_classification.predict import load_checkpoint as load_quality

    try:
        torch.empty(0, device=args.device)
    except (RuntimeError, ValueError) as exc:
        raise EchoInputError(None, f"--device {args.device} is not usable here ({str(exc).splitlines()[0]})") from None
    return Models(load_seg(args.seg_model, args.device), load_quality(args.quality_model, args.device), args.device)


def ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, f"cannot create output folder ({exc.strerror})") from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(folder, "output folder is not writable")


def analyse_and_write(path: Path, mass, models: Models, args, out_dir: Path, graphs: bool):
    """Analyse one file and write its graphs; return the Analysis (CSV rows are the caller's)."""
    from mmode.analysis import analyse

    with failure_graphs(out_dir if graphs else None, args.dpi):
        analysis = analyse(path, mass, models.seg, models.quality, args.threshold, models.device)
    if graphs:
        analysis.timings["graphs"] = write_file_graphs(analysis, out_dir, args.dpi)
    return analysis


def measure_loaded(reader, ratio: float, models: Models, args, failure_dir: Path | None = None):
    """The Analysis of the next recording ``reader`` (a mmode.sidecar.Sidecar) answers with.

    ``failure_dir``: where to draw what the segmenter found when it found no cavity (failure_graphs).
    """
    from mmode.analysis import measure

    recording, load_s = reader.result()
    with failure_graphs(failure_dir, args.dpi):
        return measure(recording, ratio, models.seg, models.quality, args.threshold, models.device, load_s)


@contextmanager
def failure_graphs(out_dir: Path | None, dpi: int):
    """On a NoCavityError that carries what the segmenter found, draw the stitched image and that mask
    into ``out_dir`` (when not None) before the error goes on: the user can see why it failed."""
    from mmode.errors import NoCavityError

    try:
        yield
    except NoCavityError as error:
        partial = getattr(error, "analysis", None)
        if out_dir is not None and partial is not None:
            from mmode.plots import write_failure_graphs

            try:
                ensure_writable(out_dir)
                write_failure_graphs(partial, out_dir, dpi)
            except (OSError, EchoInputError) as problem:  # the error itself matters more than its pictures
                log.info("%s: no graphs of the failed analysis (%s)", error.path, describe(problem))
        raise


def write_file_graphs(analysis, out_dir: Path, dpi: int) -> float:
    """Write the five graphs into ``out_dir`` (created if need be); the seconds it took."""
    from mmode.plots import write_graphs

    started = time.perf_counter()
    ensure_writable(out_dir)
    write_graphs(analysis, out_dir, dpi)
    return time.perf_counter() - started


def exit_now(code: int) -> None:
    """End the process without the interpreter's teardown, once every output is written and closed.

    Unloading torch and freeing its memory page by page takes half a second or
    more, a seventh of a cold start, for nothing.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def no_good_beats(analysis) -> str | None:
    """Why a recording has no good-quality beat (its results are empty cells, not an error), or None."""
    if analysis.good_beats:
        return None
    if not analysis.beats:
        return "no complete heart beat found; empty results"
    return (f"none of its {len(analysis.beats)} beats is of good acquisition quality ({analysis.good_fraction:.0%} "
            "of the recording good); empty results")


def warn(path, message: str) -> None:
    """One warning line on stderr naming the file."""
    print(f"warning: {shown(path)}: {one_line(message)}", file=sys.stderr)


def describe(error: BaseException) -> str:
    """One line for any error: ours as they are, others with their type."""
    return str(error) if isinstance(error, EchoInputError) else one_line(f"{type(error).__name__}: {error}")


def report(error: BaseException, debug: bool, then: str = "") -> None:
    """One line on stderr, ``then`` added to it (the traceback too with --debug)."""
    if debug:
        import traceback

        traceback.print_exception(error)
    print(f"error: {describe(error)}{then}", file=sys.stderr)
