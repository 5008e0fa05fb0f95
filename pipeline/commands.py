"""What end2end_framework.py and run4all.py share beyond mmode.cli: their common options, and the
analysis of one file with its graphs."""
from __future__ import annotations

import argparse
import logging
from contextlib import contextmanager
from pathlib import Path

from heart_segmentation import SHIPPED_CHECKPOINT as SEG_CHECKPOINT
from mmode.analysis import Analysis, Settings, analyse, timed
from mmode.cli import DPI_RANGE, describe, ensure_writable, in_range
from mmode.errors import EchoInputError, NoCavityError
from mmode.outputs import GRAPH_FILES
from mmode.recording import Recording, load_recording
from pipeline.helpers import warm_up
from pipeline.models import Models
from quality_classification import shipped_checkpoint

log = logging.getLogger(__name__)

TRUE_WORDS, FALSE_WORDS = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


class GraphsAction(argparse.BooleanOptionalAction):
    """``--graphs``/``--no-graphs`` as argparse has them, and the original's ``-g True``/``-g False``."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.nargs = "?"  # -g may take a word

    def __call__(self, parser, namespace, values, option_string=None):
        if values is None:
            return super().__call__(parser, namespace, values, option_string)
        if option_string.startswith("--no-"):
            parser.error(f"{option_string} takes no value")
        if values.lower() not in TRUE_WORDS | FALSE_WORDS:
            parser.error(f"-g/--graphs expects True or False, not {values!r}")
        setattr(namespace, self.dest, values.lower() in TRUE_WORDS)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments both end-to-end scripts take, with the same defaults."""
    parser.add_argument("-m", "--mass", type=str, help="body mass of the mouse in grams")
    parser.add_argument("-g", "--graphs", action=GraphsAction, default=True,
                        help="write the five graphs; -g False, as the original spelled it, skips them too")
    parser.add_argument("-w", "--write", choices=("all", "stats"), default="all",
                        help="CSV content: one row per good beat (all) or one row per file (stats)")
    parser.add_argument("--quality-model", type=Path, default=shipped_checkpoint(),
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


def load_timed(path: Path) -> tuple[Recording, dict]:
    """The stitched recording of ``path`` and its timings ({"load+stitch": seconds})."""
    timings = {}
    with timed(timings, "load+stitch"):
        recording = load_recording(path)
    return recording, timings


def load_then_warm_up(path: Path) -> tuple[Recording, dict]:
    """load_timed in a helper that draws graphs next: it imports the graph module once the file is read."""
    loaded = load_timed(path)
    warm_up()
    return loaded


def analyse_loaded(loaded: tuple[Recording, dict], models: Models, settings: Settings,
                   failure_dir: Path | None, dpi: int) -> Analysis:
    """``analyse`` a recording load_timed returned; its reading time goes first in the timings.

    ``failure_dir``: where to draw what the segmenter found when it found no cavity (failure_graphs).
    """
    recording, timings = loaded
    with failure_graphs(failure_dir, dpi):
        analysis = analyse(recording, models, settings)
    analysis.timings = {**timings, **analysis.timings}
    return analysis


def analyse_file(path: Path, models: Models, settings: Settings, graphs_dir: Path | None, dpi: int) -> Analysis:
    """Read, analyse and draw one file in this process (a pool or dask worker); no graphs without ``graphs_dir``."""
    analysis = analyse_loaded(load_timed(path), models, settings, graphs_dir, dpi)
    if graphs_dir is not None:
        analysis.timings["graphs"] = write_file_graphs(analysis, graphs_dir, dpi)
    return analysis


@contextmanager
def failure_graphs(out_dir: Path | None, dpi: int):
    """On a NoCavityError that carries what the segmenter found, draw the stitched image and that mask
    into ``out_dir`` (when not None) before the error goes on: the user can see why it failed."""
    try:
        yield
    except NoCavityError as error:
        partial = getattr(error, "analysis", None)
        if out_dir is not None and partial is not None:
            from mmode.plots import write_failure_graphs  # matplotlib: only when drawing

            try:
                ensure_writable(out_dir)
                write_failure_graphs(partial, out_dir, dpi)
            except (OSError, EchoInputError) as problem:  # the error itself matters more than its pictures
                log.info("%s: no graphs of the failed analysis (%s)", error.path, describe(problem))
        raise


def write_file_graphs(analysis: Analysis, out_dir: Path, dpi: int, names=GRAPH_FILES) -> float:
    """Write the five graphs (or those of ``names``) into ``out_dir``, created if need be; the seconds it took."""
    from mmode.plots import write_graphs  # matplotlib: only when drawing, mostly in a helper process

    timings = {}
    with timed(timings, "graphs"):
        ensure_writable(out_dir)
        write_graphs(analysis, out_dir, dpi, names)
    return timings["graphs"]
