"""The five graphs of the original, readable on a screen and small on disk.

Each function takes data and a path and draws with ``fig, ax`` on a bare
matplotlib Figure: pyplot's figure bookkeeping (and its import) buys nothing
when figures only go to files, and a Figure is freed with its last reference.
Good and bad quality regions are shaded on every time axis.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _matplotlib_folder() -> None:
    """Give matplotlib a writable folder for its font cache before it is imported.

    Where the home folder cannot be written (a service account, a read-only
    home on a cluster) matplotlib would make a new temporary folder in every
    process, warn about it in several lines, and leave it behind when the
    process is killed. One folder per user in the temporary folder serves every run instead.
    """
    if "MPLCONFIGDIR" in os.environ:
        return
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        os.makedirs(os.path.join(cache, "matplotlib"), exist_ok=True)
        if os.access(os.path.join(cache, "matplotlib"), os.W_OK | os.X_OK):
            return
    except OSError:
        pass
    folder = os.path.join(tempfile.gettempdir(), f"mmode-matplotlib-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.environ["MPLCONFIGDIR"] = folder


_matplotlib_folder()
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmode.beats import teichholz_ul  # noqa: E402
from mmode.errors import shown  # noqa: E402
from mmode.outputs import GRAPH_FILES, written_atomically  # noqa: E402

GOOD_COLOUR, BAD_COLOUR = "#2ca02c", "#d62728"
BORDER_COLOURS = ("#1f77b4", "#17becf", "#17becf", "#1f77b4")  # epicardia darker than endocardia
AW_COLOUR, PW_COLOUR = "#9467bd", "#8c564b"
MAX_DISPLAY_COLS = 1200  # the stitched image is averaged down to about this many columns for display
MAX_DISPLAY_ROWS = 320  # and rows: a figure on a screen shows no more
PNG_OPTIONS = {"compress_level": 1}  # a fifth larger than the default 6, five times faster to write
CAVITY_RGB, CAVITY_ALPHA = np.array([255, 200, 0], dtype=np.float32), 0.35
FIGSIZE = (13, 4.2)


def _title_name(analysis) -> str:
    """The recording's name for a title: printable (mmode.errors.shown), a ``$`` not read as maths."""
    return shown(analysis.path.name).replace("$", r"\$")


def _display(image: np.ndarray) -> np.ndarray:
    """Average blocks of pixels so that the image is about MAX_DISPLAY_ROWS x MAX_DISPLAY_COLS."""
    row_step = max(1, image.shape[0] // MAX_DISPLAY_ROWS)
    col_step = max(1, int(np.ceil(image.shape[1] / MAX_DISPLAY_COLS)))
    rows, cols = image.shape[0] // row_step * row_step, image.shape[1] // col_step * col_step
    blocks = image[:rows, :cols].reshape(rows // row_step, row_step, cols // col_step, col_step)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _cavity_overlay(analysis) -> np.ndarray:
    """(rows, cols, 3) uint8 display image, the cavity tinted: one RGB image draws faster than two layers."""
    grey = _display(analysis.image)
    cavity = _display(analysis.mask.astype(np.float32)) >= 0.5
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[cavity] += CAVITY_ALPHA * (CAVITY_RGB - rgb[cavity])
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _bad_spans(analysis):
    """(start_s, end_s) of runs of bad-quality columns."""
    good = analysis.good_columns()
    edges = np.flatnonzero(np.diff(np.concatenate([[1], good.astype(np.int8), [1]])))
    dt = analysis.seconds_per_px
    return [(a * dt, b * dt) for a, b in zip(edges[::2], edges[1::2])]


def _shade(ax, analysis) -> None:
    for start, end in _bad_spans(analysis):
        ax.axvspan(start, end, color=BAD_COLOUR, alpha=0.15, lw=0)


def _quality_strip(ax, analysis, fig=None):
    """The quality score per column (the lowest of its windows) as a coloured strip."""
    strip = _display(analysis.column_scores[None, :].astype(np.float32))
    extent = [0, analysis.column_scores.size * analysis.seconds_per_px, 0, 1]
    shown = ax.imshow(strip, cmap="viridis", vmin=0, vmax=1, aspect="auto", extent=extent)
    ax.set_yticks([])
    ax.set_ylabel("quality", rotation=0, ha="right", va="center")
    if fig is not None:
        fig.colorbar(shown, ax=ax, pad=0.01, fraction=0.03, label="score")
    return shown


def _extent(analysis):
    rows, width = analysis.image.shape
    return [0, width * analysis.seconds_per_px, rows * analysis.calibration.mm_per_px, 0]


def _save(fig, path: Path, dpi: int) -> Path:
    # Fixed margins: matplotlib's automatic layouts cost a tenth of a second per figure.
    fig.subplots_adjust(left=0.07, right=0.93, bottom=0.1, top=0.92, hspace=0.12, wspace=0.25)
    with written_atomically(path) as tmp:  # a run stopped halfway leaves no truncated graph behind
        fig.savefig(tmp, format="png", dpi=dpi, pil_kwargs=PNG_OPTIONS)
    return path


def plot_image(analysis, path: Path, dpi: int = 100) -> Path:
    """Stitched image with the classifier's score per window above it."""
    fig = Figure(figsize=FIGSIZE)
    strip, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 8])
    ax.imshow(_display(analysis.image), cmap="gray", aspect="auto", extent=_extent(analysis), vmin=0, vmax=255)
    _quality_strip(strip, analysis, fig)
    strip.set_title(f"{_title_name(analysis)}: stitched M-mode and acquisition quality "
                    f"(>= {analysis.threshold:g} is good)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("depth (mm)")
    return _save(fig, path, dpi)


def _draw_borders(ax, analysis) -> None:
    """The traced borders as lines, one point per display column."""
    if analysis.borders is None:
        return
    step = max(1, int(np.ceil(analysis.borders.shape[1] / MAX_DISPLAY_COLS)))
    columns = np.arange(0, analysis.borders.shape[1], step)
    t = columns * analysis.seconds_per_px
    for border, colour in zip(analysis.borders, BORDER_COLOURS):
        ax.plot(t, border[columns] * analysis.calibration.mm_per_px, color=colour, lw=0.7)


def plot_mask(analysis, path: Path, dpi: int = 100) -> Path:
    """Stitched image with the segmented cavity tinted, the traced borders and bad regions shaded."""
    fig = Figure(figsize=FIGSIZE)
    ax = fig.subplots()
    ax.imshow(_cavity_overlay(analysis), aspect="auto", extent=_extent(analysis))
    _draw_borders(ax, analysis)
    ax.set_xlim(*_extent(analysis)[:2])
    ax.set_ylim(*_extent(analysis)[2:])
    _shade(ax, analysis)
    walls = "borders of the walls (blue) and cavity (cyan), " if analysis.has_walls else ""
    ax.set_title(f"{_title_name(analysis)}: LV cavity segmentation, {walls}red shading: bad quality")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("depth (mm)")
    return _save(fig, path, dpi)


def _events_plot(analysis, path: Path, dpi: int, which: str) -> Path:
    time_s = np.arange(analysis.lvid_mm.size) * analysis.seconds_per_px
    walls = analysis.has_walls
    fig = Figure(figsize=(FIGSIZE[0], 7.5 if walls else 5.5))
    axes = fig.subplots(3 if walls else 2, 1, sharex=True)
    ax_vol, ax_lvid = axes[:2]
    ax_vol.plot(time_s, teichholz_ul(analysis.lvid_mm), color="0.35", lw=0.8)
    ax_lvid.plot(time_s, analysis.lvid_mm, color="0.35", lw=0.8)
    label = "end-diastole" if which == "diastole" else "end-systole"
    for good, colour, name in ((True, GOOD_COLOUR, "kept"), (False, BAD_COLOUR, "rejected (bad quality)")):
        beats = [b for b in analysis.beats if b.good == good]
        t = np.array([b.ed_time_s if which == "diastole" else b.es_time_s for b in beats])
        d = np.array([b.lvid_d_mm if which == "diastole" else b.lvid_s_mm for b in beats])
        ax_vol.scatter(t, teichholz_ul(d), s=18, color=colour, zorder=3, label=f"{label}, {name}")
        ax_lvid.scatter(t, d, s=18, color=colour, zorder=3)
    if walls:
        ax_wall = axes[2]
        ax_wall.plot(time_s, analysis.lvaw_mm, color=AW_COLOUR, lw=0.8, label="LVAW")
        ax_wall.plot(time_s, analysis.lvpw_mm, color=PW_COLOUR, lw=0.8, label="LVPW")
        for good, colour in ((True, GOOD_COLOUR), (False, BAD_COLOUR)):
            beats = [b for b in analysis.beats if b.good == good]
            t = [b.ed_time_s if which == "diastole" else b.es_time_s for b in beats]
            for attribute in ("lvaw", "lvpw"):
                suffix = "_d_mm" if which == "diastole" else "_s_mm"
                ax_wall.scatter(t, [getattr(b, attribute + suffix) for b in beats], s=12, color=colour, zorder=3)
        ax_wall.set_ylabel("wall (mm)")
        ax_wall.legend(loc="upper right", fontsize=8)
    for ax in axes:
        _shade(ax, analysis)
    ax_vol.set_ylabel("LV Vol (uL)")
    ax_lvid.set_ylabel("LVID (mm)")
    axes[-1].set_xlabel("time (s)")
    ax_vol.legend(loc="upper right", fontsize=8)
    ax_vol.set_title(f"{_title_name(analysis)}: LV volume and LVID, {label}s (red shading: bad quality)")
    return _save(fig, path, dpi)


def plot_diastoles(analysis, path: Path, dpi: int = 100) -> Path:
    return _events_plot(analysis, path, dpi, "diastole")


def plot_systoles(analysis, path: Path, dpi: int = 100) -> Path:
    return _events_plot(analysis, path, dpi, "systole")


def plot_heart_rate(analysis, path: Path, dpi: int = 100) -> Path:
    """Heart rate per beat over time with the quality strip, and LV Vol;d against heart rate."""
    fig = Figure(figsize=(FIGSIZE[0], 5.5))
    grid = fig.add_gridspec(2, 2, width_ratios=[3, 1], height_ratios=[1, 6])
    strip = fig.add_subplot(grid[0, 0])
    ax = fig.add_subplot(grid[1, 0], sharex=strip)
    scatter = fig.add_subplot(grid[:, 1])
    _quality_strip(strip, analysis)
    beats = analysis.beats
    colours = [GOOD_COLOUR if b.good else BAD_COLOUR for b in beats]
    t = [b.ed_time_s for b in beats]
    hr = [b.heart_rate_bpm for b in beats]
    ax.plot(t, hr, color="0.6", lw=0.8)
    ax.scatter(t, hr, c=colours, s=18, zorder=3)
    _shade(ax, analysis)
    ax.set_xlim(0, analysis.lvid_mm.size * analysis.seconds_per_px)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("heart rate (bpm)")
    strip.set_title(f"{_title_name(analysis)}: heart rate per beat (green: kept, red: bad quality)")
    scatter.scatter(hr, [b.lv_vol_d_ul for b in beats], c=colours, s=18)
    scatter.set_xlabel("heart rate (bpm)")
    scatter.set_ylabel("LV Vol;d (uL)")
    return _save(fig, path, dpi)


def plot_lvid_volume(time_s, lvid, volume, path: Path, dpi: int = 100) -> Path:
    """LVID and LV volume over time (for heart_segmentation.test on one recording)."""
    fig = Figure(figsize=(FIGSIZE[0], 5))
    ax_lvid, ax_vol = fig.subplots(2, 1, sharex=True)
    ax_lvid.plot(time_s, lvid, lw=0.8)
    ax_vol.plot(time_s, volume, lw=0.8)
    ax_lvid.set_ylabel("LVID (mm)")
    ax_vol.set_ylabel("LV Vol (uL)")
    ax_vol.set_xlabel("time (s)")
    return _save(fig, path, dpi)


def write_graphs(analysis, out_dir: Path, dpi: int = 100, names=GRAPH_FILES) -> list[Path]:
    """The five graphs under their original file names (mmode.outputs.GRAPH_FILES), or those of ``names``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)  # a link to a folder is followed; a file there is refused
    functions = dict(zip(GRAPH_FILES, (plot_image, plot_mask, plot_diastoles, plot_systoles, plot_heart_rate)))
    return [functions[name](analysis, out_dir / name, dpi) for name in names]


def write_failure_graphs(analysis, out_dir: Path, dpi: int = 100) -> list[Path]:
    """The stitched image and the mask of an analysis that found no cavity, so that the user can see why."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [f(analysis, out_dir / name, dpi) for f, name in zip((plot_image, plot_mask), GRAPH_FILES)]
