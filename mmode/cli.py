"""Command-line plumbing every script shares: exit codes, option types, logging, one-line messages."""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from mmode.errors import EchoInputError, OutputError, one_line, shown

log = logging.getLogger(__name__)

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT = 0, 1, 2
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


def parse_checked(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, closing a gap of argparse before Python 3.12: ``--opt=--`` stores an
    empty list that no ``type`` has seen (``--threshold=--`` would be ``[]``); that is a usage error too."""
    args = parser.parse_args(argv)
    for action in parser._actions:
        if action.nargs in (None, "?") and isinstance(getattr(args, action.dest, None), list):
            parser.error(f"argument {'/'.join(action.option_strings)}: expected one value")
    return args


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


def ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, f"cannot create output folder ({exc.strerror})") from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(folder, "output folder is not writable")


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
