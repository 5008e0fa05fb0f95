"""CSV rows of an analysis, and safe CSV updates.

Column order starts with the original program's columns so that existing
downstream scripts keep working; our additions follow, the wall measurements last
under Vevo LAB's names. Units: LVID, LVAW and LVPW mm, times s, heart rate bpm,
volumes and SV uL, EF and FS %, CO mL/min, quality 0-1, LV mass mg. Wall cells are
empty when the segmenter has no wall classes (the published one-class network).
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

from mmode.errors import NameClashError, OutputError, TableError, shown
from mmode.outputs import locked, target_of, written_atomically  # noqa: F401 - written_atomically for callers
from mmode.tables import read_table

ALL_COLUMNS = ["file", "lvid;d", "lvid;d time", "lvid;s", "lvid;s time", "heart rate", "heart rate time",
               "beat", "lv vol;d", "lv vol;s", "sv", "ef", "fs", "co", "quality"]
WALL_MEASURES = (("LVAW;d", "lvaw_d_mm"), ("LVAW;s", "lvaw_s_mm"), ("LVPW;d", "lvpw_d_mm"),
                 ("LVPW;s", "lvpw_s_mm"), ("LV Mass AW", "lv_mass_mg"),
                 ("LV Mass AW (Corrected)", "lv_mass_corrected_mg"))
ALL_COLUMNS += [name for name, _ in WALL_MEASURES]
STATS_MEASURES = (("diastole", "lvid_d_mm"), ("systole", "lvid_s_mm"), ("heartrate", "heart_rate_bpm"))
STATS = ("median", "avg", "max", "min")
STATS_COLUMNS = (["file"] + [f"{stat}_{name}" for stat in STATS for name, _ in STATS_MEASURES]
                 + ["n_good_beats", "good_fraction"] + [f"{stat}_{name}" for stat in STATS for name, _ in WALL_MEASURES])
STAT_FUNCTIONS = {"median": np.median, "avg": np.mean, "max": np.max, "min": np.min}
SOURCES_SUFFIX = ".sources.json"  # beside a CSV: which recording each file name's rows come from
FINGERPRINT_BYTES = 1 << 20


def _fmt(value: float, digits: int = 4) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def all_rows(analysis) -> list[dict]:
    """One row per good beat, every value from that one beat."""
    name = file_cell(analysis.path)
    return [{
        "file": name,
        "lvid;d": _fmt(b.lvid_d_mm), "lvid;d time": _fmt(b.ed_time_s),
        "lvid;s": _fmt(b.lvid_s_mm), "lvid;s time": _fmt(b.es_time_s),
        "heart rate": _fmt(b.heart_rate_bpm, 2), "heart rate time": _fmt(b.ed_time_s),
        "beat": str(b.index), "lv vol;d": _fmt(b.lv_vol_d_ul, 3), "lv vol;s": _fmt(b.lv_vol_s_ul, 3),
        "sv": _fmt(b.sv_ul, 3), "ef": _fmt(b.ef_percent, 2), "fs": _fmt(b.fs_percent, 2),
        "co": _fmt(b.co_ml_per_min, 3), "quality": _fmt(b.quality, 3),
        **{name: _fmt(getattr(b, attribute), 3) for name, attribute in WALL_MEASURES},
    } for b in analysis.good_beats]


def stats_row(analysis) -> dict:
    """One row per file; empty cells (not 0) when no beat is good."""
    beats = analysis.good_beats
    row = {"file": file_cell(analysis.path), "n_good_beats": str(len(beats)),
           "good_fraction": _fmt(analysis.good_fraction, 3)}
    for stat, function in STAT_FUNCTIONS.items():
        for name, attribute in STATS_MEASURES + WALL_MEASURES:
            values = [v for v in (getattr(b, attribute) for b in beats) if not math.isnan(v)]
            row[f"{stat}_{name}"] = _fmt(float(function(values))) if values else ""
    return row


def columns_for(mode: str) -> list[str]:
    """CSV header of a -w mode ("all" or "stats")."""
    return ALL_COLUMNS if mode == "all" else STATS_COLUMNS


def rows_for(analysis, mode: str) -> tuple[list[str], list[dict]]:
    return columns_for(mode), all_rows(analysis) if mode == "all" else [stats_row(analysis)]


def file_cell(path) -> str:
    """The ``file`` cell of a recording: its name as printable UTF-8 (see mmode.errors.shown)."""
    return shown(Path(path).name)


def _sort_key(row: dict):
    beat = row.get("beat", "")
    return row["file"], int(beat) if beat.isdigit() else -1


def read_rows(path: Path) -> tuple[list[str] | None, list[dict]]:
    """Header and rows of an existing CSV we wrote (None and [] when there is none yet).

    Raises
    ------
    OutputError
        The file was damaged or edited into something else (bad bytes, ragged rows, a special file).
    """
    path = Path(path)
    if not path.exists() or target_of(path).stat().st_size == 0:
        return None, []
    try:
        table = read_table(path, latin1=False)
    except TableError as error:
        raise OutputError(path, f"{error.problem}; repair it or move it away") from None
    return table.header or None, table.rows


def check_csv(path: Path, columns: list[str]) -> list[dict]:
    """The rows of the CSV at ``path`` if rows with ``columns`` can be added to it; else OutputError."""
    header, rows = read_rows(path)
    # A CSV from an earlier version lacks the newest columns at the end: they are added, empty.
    if header is not None and header != columns[:len(header)]:
        raise OutputError(path, f"has columns {header[:3]}..., not those of this -w mode; choose another -f")
    return rows


def sources_path(path: Path) -> Path:
    """Where the CSV at ``path`` keeps which recording each file name's rows come from."""
    target = target_of(path)
    return target.with_name(f".{target.name}{SOURCES_SUFFIX}")


def _fingerprint(path: Path) -> str:
    """Size and a SHA-256 of the first and last MiB: the same for a copy, different for another recording
    (their pixel data differ), and cheap for files of hundreds of megabytes."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        sha = hashlib.sha256(fh.read(FINGERPRINT_BYTES))
        if size > 2 * FINGERPRINT_BYTES:
            fh.seek(-FINGERPRINT_BYTES, os.SEEK_END)
        sha.update(fh.read(FINGERPRINT_BYTES))
    return f"{size}:{sha.hexdigest()}"


def _check_sources(csv_path: Path, sources: dict[str, Path]) -> dict:
    """The CSV's record of sources with ``sources`` added; raise NameClashError for another recording.

    Two recordings are the same when they have the same path or the same fingerprint (a copy, a moved study).
    """
    record_path = sources_path(csv_path)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            record = {}
    except (OSError, ValueError):
        record = {}  # none yet, or damaged: it only guards against clashes
    for cell, source in sources.items():
        source = Path(os.path.abspath(source))
        known = record.get(cell)
        try:
            digest = _fingerprint(source)
        except OSError:  # gone since it was read: its path still tells it apart
            digest = None
        if isinstance(known, dict) and known.get("path") != str(source) and known.get("fingerprint") != digest:
            other = shown(str(known.get("path")))
            raise NameClashError(csv_path, f"already holds the results of another recording named {cell} ({other}); "
                                           f"rename one of them or write to another CSV (-f)")
        record[cell] = {"path": str(source), "fingerprint": digest}  # JSON keeps a name's odd bytes as escapes
    return record


def replace_rows(path: Path, columns: list[str], files: list[str], rows: list[dict],
                 sources: dict[str, Path] | None = None) -> None:
    """Atomically replace every row of ``files`` in the CSV at ``path`` by ``rows``.

    Other files' rows stay; the result is sorted by file and beat, so reruns
    neither duplicate nor reorder anything. The new content is written to a
    temporary file in the same folder and renamed over the old one, under a
    lock, so a crash or a second writer never leaves a half-written CSV. A
    symbolic link is written through; a special file is refused (mmode.outputs).

    Parameters
    ----------
    sources : the recording behind each file cell; the rows of a different recording of the same
        name (from another folder) are then refused instead of replaced (NameClashError).

    Raises
    ------
    OutputError
        The CSV is of another -w mode, damaged, a special file, or cannot be written (a full disk).
    """
    path = Path(path)
    try:
        target_of(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(path, f"cannot create its folder ({exc.strerror})") from None
    with locked(path):
        existing = check_csv(path, columns)
        record = _check_sources(path, sources) if sources else None
        drop = set(files)
        kept = [r for r in existing if r["file"] not in drop]
        merged = sorted(kept + rows, key=_sort_key)
        with written_atomically(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(merged)
            fh.flush()
            os.fsync(fh.fileno())
        if record is not None:
            with written_atomically(sources_path(path)) as tmp:
                tmp.write_text(json.dumps(record, indent=0, sort_keys=True), encoding="utf-8")
