"""CSV rows of an analysis, and safe CSV updates.

Column order starts with the original program's columns so that existing
downstream scripts keep working; our additions follow, the wall measurements last
under Vevo LAB's names. Units: LVID, LVAW and LVPW mm, times s, heart rate bpm,
volumes and SV uL, EF and FS %, CO mL/min, quality 0-1, LV mass mg. Wall cells are
empty when the segmenter has no wall classes (the published one-class network).
"""
from __future__ import annotations

import csv
import fcntl
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from mmode.errors import OutputError

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


def _fmt(value: float, digits: int = 4) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def all_rows(analysis) -> list[dict]:
    """One row per good beat, every value from that one beat."""
    name = analysis.path.name
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
    row = {"file": analysis.path.name, "n_good_beats": str(len(beats)),
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


@contextmanager
def locked(path: Path):
    """An exclusive lock on the folder of ``path`` so that concurrent writers take turns."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sort_key(row: dict):
    beat = row.get("beat", "")
    return row["file"], int(beat) if beat.isdigit() else -1


def read_rows(path: Path) -> tuple[list[str] | None, list[dict]]:
    if not path.exists() or path.stat().st_size == 0:
        return None, []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


@contextmanager
def written_atomically(path: Path):
    """Yield a temporary path beside ``path``: renamed over ``path`` on success, removed on failure.

    Readers see the old file or the whole new one, never a half-written one,
    and concurrent writers never share a temporary file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 is not what the user's umask asks for
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_rows(path: Path, columns: list[str], files: list[str], rows: list[dict]) -> None:
    """Atomically replace every row of ``files`` in the CSV at ``path`` by ``rows``.

    Other files' rows stay; the result is sorted by file and beat, so reruns
    neither duplicate nor reorder anything. The new content is written to a
    temporary file in the same folder and renamed over the old one, under a
    lock, so a crash or a second writer never leaves a half-written CSV.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path):
        header, existing = read_rows(path)
        # A CSV from an earlier version lacks the newest columns at the end: they are added, empty.
        if header is not None and header != columns[:len(header)]:
            raise OutputError(path, f"has columns {header[:3]}..., not those of this -w mode; choose another -f")
        drop = set(files)
        kept = [r for r in existing if r["file"] not in drop]
        merged = sorted(kept + rows, key=_sort_key)
        with written_atomically(path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(merged)
            fh.flush()
            os.fsync(fh.fileno())
