"""A study's statistics on disk: CSV tables and plots per line, an overview and one HTML report.

``OUT/<line>/``: ``p_values.csv`` (the published layout), ``tests.csv``, ``models.csv``,
``agreement.csv``, ``per_mouse.csv``, ``number_of_mice.csv``, ``notes.txt`` and the plots
``boxes.png`` (one panel per parameter: a box per sex and genotype, the mice as points),
``bland_altman.png`` (one panel per parameter with manual values) and ``image_quality.png``.
``OUT/``: ``p_value_overview.png`` (a heat map of every line's p-values), ``overview.csv`` and
``report.html``, a self-contained page (the plots embedded as base64 PNG) that opens from disk.
"""
from __future__ import annotations

import base64
import html
import logging
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.cbook import boxplot_stats  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mmode import forkserver_pool  # noqa: E402
from mmode.errors import EchoInputError, OutputError  # noqa: E402
from mmode.study import (CONTROL, MANUAL, MUTANT, PARAMETERS, PUBLISHED_COLUMNS, SEXES, VALUE_KINDS,  # noqa: E402
                         LineResult, analyse_line)
from mmode.study_inputs import load_lines  # noqa: E402

log = logging.getLogger(__name__)

EXIT_OK, EXIT_BAD_INPUT = 0, 2
DRAWING_MODULE = __name__  # what the drawing processes have imported when they start
PNG_OPTIONS = {"compress_level": 1}  # about as small as the default, several times faster to write
DPI = 80
COLOURS = {CONTROL: "#4c72b0", MUTANT: "#dd8452"}
MARKERS = {"f": "o", "m": "s"}
GROUPS = [(sex, genotype) for sex in SEXES for genotype in (CONTROL, MUTANT)]  # box order
PANELS_PER_ROW = 4
SIGNIFICANT = 0.05
P_COLOUR_RANGE = (1e-4, 1.0)
QUALITY_MEASURES = {"good_columns_percent": "good-quality share of the recordings (%)",
                    "good_beats_percent": "beats kept of all beats (%)", "n_beats": "beats kept per mouse"}
LEGEND = [Line2D([], [], linestyle="", marker=MARKERS[sex], color=COLOURS[genotype], label=f"{sex} {genotype}")
          for sex, genotype in GROUPS]


def label(column: str) -> str:
    """'lvid;d manual' -> 'LVID;d manual (mm)'."""
    parameter = column.removesuffix(MANUAL)
    name, unit = PARAMETERS[parameter]
    return f"{name}{MANUAL if column.endswith(MANUAL) else ''} ({unit})"


def _panels(n: int, title: str, panel_size=(3.3, 2.8)):
    """A figure with ``n`` axes in rows of PANELS_PER_ROW, and those axes.

    Margins are fixed: matplotlib's constrained layout measures every tick label and tripled
    the time of a study's plots.
    """
    columns = min(n, PANELS_PER_ROW)
    rows = -(-n // columns)
    height = panel_size[1] * rows + 0.5
    fig = Figure(figsize=(panel_size[0] * columns, height))
    fig.subplots_adjust(left=0.25 / columns + 0.03, right=0.98, bottom=0.5 / height, top=1 - 0.75 / height,
                        wspace=0.3, hspace=0.55)
    fig.suptitle(title, fontsize=11)
    grid = fig.add_gridspec(rows, columns)
    axes = [fig.add_subplot(grid[i // columns, i % columns]) for i in range(n)]
    for ax in axes:
        ax.tick_params(labelsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(4))  # ticks are most of a panel's drawing time
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, pil_kwargs=PNG_OPTIONS)
    return path


def _boxes(stats: list[dict], positions: list[int], colours: list[str], half_width: float = 0.3) -> LineCollection:
    """Box-and-whisker outlines (quartiles, median, whiskers at 1.5 IQR) as one LineCollection:
    a twentieth of the drawing work of ``Axes.bxp``'s dozen artists per box."""
    segments, segment_colours = [], []
    for st, x, colour in zip(stats, positions, colours):
        left, right = x - half_width, x + half_width
        cap = half_width / 2
        outline = [[(left, st["q1"]), (right, st["q1"]), (right, st["q3"]), (left, st["q3"]), (left, st["q1"])],
                   [(x, st["q1"]), (x, st["whislo"])], [(x, st["q3"]), (x, st["whishi"])],
                   [(x - cap, st["whislo"]), (x + cap, st["whislo"])],
                   [(x - cap, st["whishi"]), (x + cap, st["whishi"])]]
        segments += outline + [[(left, st["med"]), (right, st["med"])]]
        segment_colours += [colour] * len(outline) + ["black"]
    return LineCollection(segments, colors=segment_colours, linewidths=1)


def _box_panel(ax, per_mouse: pd.DataFrame, column: str, p_of_sex: dict[str, float]) -> None:
    """A box per sex and genotype (GROUPS order) with the mice as points, and each sex's p above."""
    groups = [per_mouse.loc[(per_mouse["sex"] == sex) & (per_mouse["genotype"] == genotype), column].dropna()
              for sex, genotype in GROUPS]
    drawn = [i for i, values in enumerate(groups) if len(values)]
    ax.add_collection(_boxes([boxplot_stats(groups[i].to_numpy())[0] for i in drawn], drawn,
                             [COLOURS[GROUPS[i][1]] for i in drawn]))
    jitter = np.random.default_rng(0)
    for sex in SEXES:
        x, y, colours = [], [], []
        for i in drawn:
            if GROUPS[i][0] == sex:
                x.append(i + jitter.uniform(-0.18, 0.18, len(groups[i])))
                y.append(groups[i].to_numpy())
                colours += [COLOURS[GROUPS[i][1]]] * len(groups[i])
        if x:
            ax.scatter(np.concatenate(x), np.concatenate(y), s=12, alpha=0.75, c=colours, marker=MARKERS[sex],
                       zorder=3)
    for i, sex in enumerate(SEXES):
        p = p_of_sex.get(sex, np.nan)
        if not np.isnan(p):
            ax.text(2 * i + 0.5, 1.0, f"p={p:.2g}", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    fontsize=8, fontweight="bold" if p < SIGNIFICANT else "normal")
    ax.set_xticks(range(len(GROUPS)), [f"{sex} {genotype[:3]}" for sex, genotype in GROUPS], fontsize=7)
    ax.set_xlim(-0.6, len(GROUPS) - 0.4)
    ax.set_title(label(column) if column.removesuffix(MANUAL) in PARAMETERS else column, fontsize=9, pad=11)


def plot_boxes(per_mouse: pd.DataFrame, tests: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Per parameter (automatic, then manual) a box per sex and genotype with the mice as points;
    the Mann-Whitney p of each sex above its pair of boxes."""
    columns = [p for p in PARAMETERS if p in per_mouse and per_mouse[p].notna().any()]
    columns += [p + MANUAL for p in PARAMETERS if p + MANUAL in per_mouse and per_mouse[p + MANUAL].notna().any()]
    if not columns:
        return None
    p_of = {(t.parameter + VALUE_KINDS[t.values], t.sex): t.p for t in tests.itertuples()}
    fig, axes = _panels(len(columns), title)
    for ax, column in zip(axes, columns):
        _box_panel(ax, per_mouse, column, {sex: p_of.get((column, sex), np.nan) for sex in SEXES})
    return _save(fig, path)


def plot_bland_altman(per_mouse: pd.DataFrame, agreement: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Per parameter with manual values: auto - manual against their mean, bias and limits of agreement."""
    rows = [row for row in agreement.itertuples() if row.n_mice > 0]
    if not rows:
        return None
    fig, axes = _panels(len(rows), title, panel_size=(3.3, 3.0))
    for ax, row in zip(axes, rows):
        both = per_mouse[[row.parameter, row.parameter + MANUAL, "sex", "genotype"]].dropna()
        mean = (both[row.parameter] + both[row.parameter + MANUAL]).to_numpy() / 2
        difference = (both[row.parameter] - both[row.parameter + MANUAL]).to_numpy()
        colours = both["genotype"].map(COLOURS).to_numpy()
        for sex in SEXES:
            chosen = (both["sex"] == sex).to_numpy()
            ax.scatter(mean[chosen], difference[chosen], s=14, c=colours[chosen], marker=MARKERS[sex], alpha=0.8)
        if not np.isnan(row.bias):
            ax.axhline(row.bias, color="black", linewidth=1)
            for limit in (row.loa_low, row.loa_high):
                ax.axhline(limit, color="grey", linestyle="--", linewidth=1)
        ax.axhline(0, color="lightgrey", linewidth=0.8, zorder=0)
        name, unit = PARAMETERS[row.parameter]
        ax.set_xlabel(f"mean of auto and manual ({unit})", fontsize=8)
        ax.set_ylabel(f"auto - manual ({unit})", fontsize=8)
        r = "" if np.isnan(row.pearson_r) else f", r={row.pearson_r:.2f}"
        ax.set_title(f"{name}: bias {row.bias:.3g}{r}, n={row.n_mice}", fontsize=9)
    axes[0].legend(handles=LEGEND, fontsize=7, loc="best")
    return _save(fig, path)


def plot_quality(per_mouse: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Every image-quality measure the input has, a point per mouse, by sex and genotype."""
    measures = [m for m in QUALITY_MEASURES if m in per_mouse and per_mouse[m].notna().any()]
    if not measures:
        return None
    fig, axes = _panels(len(measures), title)
    for ax, measure in zip(axes, measures):
        _box_panel(ax, per_mouse, measure, {})
        ax.set_title(QUALITY_MEASURES[measure], fontsize=9)
    return _save(fig, path)


def overview_table(results: list[LineResult]) -> pd.DataFrame:
    """One row per line and test: line, parameter, sex (f, m, or "both" for the model), test, p."""
    rows = []
    for result in results:
        automatic = result.tests[result.tests["values"] == "automatic"]
        rows += [{"line": result.name, "parameter": t.parameter, "sex": t.sex, "test": "Mann-Whitney", "p": t.p}
                 for t in automatic.itertuples()]
        rows += [{"line": result.name, "parameter": m.parameter, "sex": "both", "test": "body-mass model q",
                  "p": m.q} for m in result.models.itertuples() if m.n_mice > 0]
    return pd.DataFrame(rows, columns=["line", "parameter", "sex", "test", "p"])


def plot_overview(overview: pd.DataFrame, path: Path) -> Path:
    """Heat map: lines by parameter and sex (Mann-Whitney p, automatic) and by parameter (model q)."""
    parameters = [p for p in PARAMETERS if p in set(overview["parameter"])]
    lines = list(dict.fromkeys(overview["line"]))
    panels = [("Mann-Whitney p per sex (automatic)", "Mann-Whitney", [(p, s) for p in parameters for s in SEXES]),
              ("genotype effect q, adjusted for body mass and sex", "body-mass model q",
               [(p, "both") for p in parameters])]
    widths = [len(columns) for _, _, columns in panels]
    cell_in, left_in, bottom_in, top_in, gap_in, bar_in = 0.42, 0.9, 1.0, 0.4, 0.9, 1.3
    height_in = cell_in * max(len(lines), 4)  # room for the colour bar's label with one line
    size = (left_in + cell_in * sum(widths) + gap_in + bar_in, bottom_in + height_in + top_in)
    fig = Figure(figsize=size)
    fig.subplots_adjust(left=left_in / size[0], right=1 - bar_in / size[0], bottom=bottom_in / size[1],
                        top=1 - top_in / size[1], wspace=gap_in / (cell_in * sum(widths) / 2))
    axes = fig.subplots(1, 2, width_ratios=widths)
    norm = LogNorm(*P_COLOUR_RANGE)
    for ax, (title, test, columns) in zip(axes, panels):
        table = overview[overview["test"] == test].pivot_table(index="line", columns=["parameter", "sex"],
                                                               values="p", dropna=False)
        grid = np.full((len(lines), len(columns)), np.nan)
        for i, line in enumerate(lines):
            for j, key in enumerate(columns):
                if line in table.index and key in table.columns:
                    grid[i, j] = table.loc[line, key]
        image = ax.imshow(np.clip(grid, *P_COLOUR_RANGE), cmap="viridis", norm=norm, aspect="auto")
        for (i, j), p in np.ndenumerate(grid):
            if not np.isnan(p):
                ax.text(j, i, f"{p:.2f}" if p >= 0.01 else f"{p:.0e}", ha="center", va="center", fontsize=6,
                        color="white" if p < SIGNIFICANT else "black",
                        fontweight="bold" if p < SIGNIFICANT else "normal")
        ax.set_xticks(range(len(columns)), [f"{PARAMETERS[p][0]} {s}" if s != "both" else PARAMETERS[p][0]
                                            for p, s in columns], rotation=90, fontsize=7)
        ax.set_yticks(range(len(lines)), lines, fontsize=8)
        ax.set_facecolor("#dddddd")
        ax.set_title(title, fontsize=9)
    colour_bar = fig.add_axes((1 - (bar_in - 0.25) / size[0], bottom_in / size[1], 0.15 / size[0],
                               height_in / size[1]))
    fig.colorbar(image, cax=colour_bar, label="p (log scale; grey: not computed)")
    return _save(fig, path)


def folder_name(line: str) -> str:
    return re.sub(r"[^\w.-]+", "_", line) or "line"


def write_tables(result: LineResult, folder: Path) -> None:
    """The CSV tables and notes of one line."""
    folder.mkdir(parents=True, exist_ok=True)
    result.p_values.to_csv(folder / "p_values.csv")
    result.tests.to_csv(folder / "tests.csv", index=False)
    result.models.to_csv(folder / "models.csv", index=False)
    result.agreement.to_csv(folder / "agreement.csv", index=False)
    result.per_mouse.to_csv(folder / "per_mouse.csv")
    result.group_sizes.to_csv(folder / "number_of_mice.csv")
    (folder / "notes.txt").write_text("".join(f"{note}\n" for note in result.notes))


def draw_line(result: LineResult, folder: Path) -> dict[str, Path]:
    """The three plots of one line; their titles and paths."""
    name = result.name
    figures = {"Mice by sex and genotype": plot_boxes(result.per_mouse, result.tests, folder / "boxes.png",
                                                      f"{name}: per-mouse values"),
               "Automatic against manual": plot_bland_altman(result.per_mouse, result.agreement,
                                                             folder / "bland_altman.png",
                                                             f"{name}: Bland-Altman, per-mouse values"),
               "Image quality per mouse": plot_quality(result.per_mouse, folder / "image_quality.png",
                                                       f"{name}: image quality per mouse")}
    return {title: path for title, path in figures.items() if path is not None}

CSS = """
body { font-family: sans-serif; max-width: 1250px; margin: 1em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.4em 0 1em; }
th, td { border: 1px solid #ccc; padding: 2px 7px; text-align: right; }
th { background: #f0f0f0; } td.text { text-align: left; }
td.sig { font-weight: bold; background: #fff1b8; }
img { max-width: 100%; border: 1px solid #eee; }
.notes { color: #8a4b00; font-size: 13px; } nav a { margin-right: 0.8em; }
h2 { border-top: 2px solid #4c72b0; padding-top: 0.4em; margin-top: 2em; }
"""
P_COLUMNS = {"p", "q", "interaction_p", *PUBLISHED_COLUMNS}
SIG_CLASS = ' class="sig"'


def _cell(value, column: str) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "<td></td>"
        if column in P_COLUMNS:
            return f"<td{SIG_CLASS if value < SIGNIFICANT else ''}>{value:.3g}</td>"
        return f"<td>{value:.4g}</td>"
    if isinstance(value, (int, np.integer)):
        return f"<td>{value}</td>"
    return f'<td class="text">{html.escape(str(value))}</td>'


def html_table(table: pd.DataFrame, index: bool = False) -> str:
    """A plain HTML table; p-values below 0.05 highlighted, empty cells for what was not computed."""
    if index:
        table = table.rename_axis(table.index.name or "").reset_index()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(_cell(v, c) for c, v in zip(table.columns, row)) + "</tr>\n"
                   for row in table.itertuples(index=False))
    return f"<table><tr>{head}</tr>\n{body}</table>"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def _with_labels(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(parameter=[label(p) for p in table["parameter"]])


def line_section(result: LineResult, figures: dict[str, Path]) -> str:
    name = html.escape(result.name)
    parts = [f'<h2 id="{folder_name(result.name)}">{name}</h2>',
             f"<p>Source: <code>{html.escape(str(result.line.source))}</code></p>"]
    if result.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in result.notes) + "</ul>")
    parts += ["<h3>Mice per sex and genotype (manual, automatic)</h3>", html_table(result.group_sizes, index=True),
              "<h3>Mann-Whitney p, control against mutant (published layout)</h3>",
              html_table(result.p_values, index=True),
              "<h3>Genotype effect (mutant - control), adjusted for body mass and sex</h3>",
              html_table(_with_labels(result.models)),
              "<h3>Agreement of automatic with manual values (per mouse)</h3>",
              html_table(_with_labels(result.agreement)) if len(result.agreement) else "<p>No manual values.</p>"]
    parts += [f"<h3>{html.escape(title)}</h3>" + _image(path, title) for title, path in figures.items()]
    parts += ["<details><summary>Every test</summary>", html_table(_with_labels(result.tests)), "</details>",
              "<details><summary>Per-mouse table</summary>", html_table(result.per_mouse, index=True), "</details>"]
    return "\n".join(parts)


def write_report(results: list[LineResult], figures: dict[str, dict[str, Path]], overview_png: Path | None,
                 path: Path, settings: dict[str, str]) -> Path:
    """One self-contained HTML page: settings, overview, then every line's tables and plots."""
    summary = pd.DataFrame([{"line": r.name, **{f"{s} {g} mice": int(((r.per_mouse["sex"] == s)
                                                                 & (r.per_mouse["genotype"] == g)).sum())
                                                for s, g in GROUPS},
                             "beats": int(r.per_mouse["n_beats"].sum()), "notes": len(r.notes)} for r in results])
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', "<title>Study statistics</title>",
             f"<style>{CSS}</style></head><body>", "<h1>Study statistics</h1>",
             "<p>" + "<br>".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in settings.items()) + "</p>",
             "<nav>" + "".join(f'<a href="#{folder_name(r.name)}">{html.escape(r.name)}</a>' for r in results)
             + "</nav>", "<h2>Overview</h2>", html_table(summary)]
    if overview_png is not None:
        parts.append(_image(overview_png, "p-value overview"))
    parts += [line_section(r, figures.get(r.name, {})) for r in results]
    parts.append("</body></html>\n")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _drawing_pool(workers: int) -> ProcessPoolExecutor | None:
    """``workers`` processes to draw the lines' plots (see mmode.forkserver_pool), or None to draw here.

    Drawing is two thirds of a study's time: on two cores, two processes take the 8 published
    lines from 25 s to 17-18 s (benchmarks/bench_study.py).
    """
    return forkserver_pool.pool(workers, [DRAWING_MODULE])


def run_study(paths: list[Path], out_dir: Path, metadata: Path | None = None, control: str | None = None,
              aggregate: str = "mean", plots: bool = True, workers: int = 1) -> list[LineResult]:
    """Read, analyse and write every line of ``paths`` into ``out_dir``; the results.

    ``workers``: processes that draw the plots (1: this one). Raises StudyInputError (a subclass
    of mmode.errors.EchoInputError) for unusable input.
    """
    pool = _drawing_pool(workers) if plots else None
    try:
        lines = load_lines(paths, metadata, control)  # every input checked before anything is written
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(out_dir, f"cannot create output folder ({exc.strerror})") from None
        results, folders, drawn = [], {}, {}
        for line in lines:  # a line's plots are drawn while the next one is analysed
            result = analyse_line(line, aggregate)
            results.append(result)
            folders[line.name] = out_dir / folder_name(line.name)
            write_tables(result, folders[line.name])
            if pool is not None:
                drawn[line.name] = pool.submit(draw_line, result, folders[line.name])
        overview = overview_table(results)
        overview.to_csv(out_dir / "overview.csv", index=False)
        overview_png = plot_overview(overview, out_dir / "p_value_overview.png") if plots and len(overview) else None
        figures = ({name: job.result() for name, job in drawn.items()} if pool
                   else {r.name: draw_line(r, folders[r.name]) for r in results} if plots else {})
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    settings = {"inputs": ", ".join(str(p) for p in paths), "metadata": str(metadata or "-"),
                "per-mouse aggregate of the beats": aggregate,
                "control label": control or "detected (control, wt, ...)",
                "tests": "two-sided Mann-Whitney U with continuity correction, per sex; OLS value ~ genotype + "
                         "sex + body mass with Benjamini-Hochberg q over the parameters of a line"}
    write_report(results, figures, overview_png, out_dir / "report.html", settings)
    return results


def run_and_report(paths: list[Path], out_dir: Path, metadata: Path | None = None, control: str | None = None,
                   aggregate: str = "mean", plots: bool = True, workers: int = 1, debug: bool = False) -> int:
    """run_study() for a command line: a summary or one error line on stderr; exit status 0 or 2."""
    started = time.perf_counter()
    try:
        results = run_study(paths, out_dir, metadata, control, aggregate, plots, workers)
    except Exception as error:  # noqa: BLE001 - a study's odd input must not end in a traceback
        if debug:
            import traceback

            traceback.print_exception(error)
        message = str(error) if isinstance(error, EchoInputError) else f"{type(error).__name__}: {error}"
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for result in results:
        for note in result.notes:
            log.info("%s: %s", result.name, note)
    notes = sum(len(r.notes) for r in results)
    print(f"{len(results)} line{'s' if len(results) != 1 else ''} analysed "
          f"({', '.join(r.name for r in results)}) in {time.perf_counter() - started:.1f} s"
          + (f", {notes} notes" if notes else "") + f"; report: {out_dir / 'report.html'}", file=sys.stderr)
    return EXIT_OK
