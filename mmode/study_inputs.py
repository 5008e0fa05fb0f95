"""A study's inputs as :class:`mmode.study.StudyLine` objects, checked column by column.

Two kinds of input:

* our own: a ``run4all.py -w all`` CSV (one row per good beat) and a metadata CSV with one row
  per recording: ``file, mouse_id, sex, genotype, body_mass_g``, optionally ``line`` and the
  expert's values as ``"<parameter> manual"`` (per recording or per mouse: a mouse's values are
  averaged). An ``output_stats.csv`` beside the CSV gives each recording's good-quality share.
* Echo2Pheno's per-line files as published: ``<LINE>_data_filtered_plus_functional_parameter_
  plus_manual_measurements.csv[.gz]`` (beats, metadata and manual values in one table), or
  ``<LINE>_output_labeled.csv[.gz]`` (every beat with its quality flags) with
  ``<LINE>_manual_annotation.csv`` beside it. A manual annotation beside the merged file adds the
  mice that have manual values but no kept beat: the published manual tests counted them
  (Dnajb14: 9 female controls manual, 8 automatic). ``<LINE>_image_quality_per_file.csv``
  beside either gives each recording's good-quality share.

Every problem names the file and the column: a :class:`mmode.study.StudyInputError` when the
input cannot be used, a note in the line's report when only some mice or recordings are affected.
"""
from __future__ import annotations

import difflib
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from mmode.beats import teichholz_ul
from mmode.errors import TableError
from mmode.study import CONTROL, MANUAL, MOUSE_COLUMNS, MUTANT, PARAMETERS, StudyInputError, StudyLine
from mmode.tables import read_text

MERGED_SUFFIX = "_data_filtered_plus_functional_parameter_plus_manual_measurements.csv"
LABELED_SUFFIX = "_output_labeled.csv"
ANNOTATION_SUFFIX = "_manual_annotation.csv"
IMAGE_QUALITY_SUFFIX = "_image_quality_per_file.csv"
OUR_STATS_CSV = "output_stats.csv"  # run4all -w stats, beside output_all.csv
DEFAULT_LINE = "study"
CONTROL_LABELS = ("control", "wt", "wildtype", "wild type", "wild-type", "+/+")
SEX_LABELS = {"f": "f", "female": "f", "w": "f", "m": "m", "male": "m"}
METADATA_COLUMNS = ["file", "mouse_id", "sex", "genotype", "body_mass_g"]
OUR_BEAT_COLUMNS = ["file", "lvid;d", "lvid;s"]
UL_PER_ML = 1000.0  # CO (mL/min) = SV (uL) * HR (1/min) / 1000
PERCENT = 100.0
# Echo2Pheno's columns -> ours.
E2P_BEATS = {"LVIDd_auto": "lvid;d", "LVIDs_auto": "lvid;s", "heart_rate_auto": "heart rate",
             "LV_Vold_auto": "lv vol;d", "LV_Vols_auto": "lv vol;s", "EF_auto": "ef", "FS_auto": "fs"}
E2P_FLAGS = ["LVIDd_auto_quality_flag", "LVIDs_auto_quality_flag"]
E2P_GOOD = "high"
E2P_MICE = {"sex": "sex", "genotype": "genotype", "bw": "body_mass_g", "LVIDd_manual": "lvid;d manual",
            "LVIDs_manual": "lvid;s manual", "EF_manual": "ef manual", "FS_manual": "fs manual"}
E2P_MOUSE_REQUIRED = ["mouse_id", "sex", "genotype", "bw"]
MAX_NAMES_IN_NOTE = 5


def read_table(path: Path, **options) -> pd.DataFrame:
    """A CSV file (``.gz`` too) with stripped column names; unreadable files raise StudyInputError.

    The text is UTF-8, with Excel's byte-order mark or without, or else Latin-1 (mmode.tables.read_text).
    """
    if not os.path.lexists(path):
        raise StudyInputError(path, "no such file")
    try:
        text = read_text(path)
    except TableError as error:
        raise StudyInputError(path, error.problem) from None
    try:
        table = pd.read_csv(io.StringIO(text), **options)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise StudyInputError(path, f"cannot read as CSV ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def require_columns(table: pd.DataFrame, columns, path: Path) -> None:
    """Raise StudyInputError naming the first missing column and the closest existing one."""
    for column in columns:
        if column not in table:
            close = difflib.get_close_matches(column, list(table.columns), n=1, cutoff=0.6)
            hint = f" (is {close[0]!r} meant?)" if close else f" (columns: {', '.join(map(str, table.columns))})"
            raise StudyInputError(path, f"no column {column!r}{hint}")


def numbers(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """The column as floats; empty cells are NaN, anything else that is not a number is an error."""
    if pd.api.types.is_numeric_dtype(table[column]):
        return table[column].astype(float)
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() & table[column].notna() & (table[column].astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise StudyInputError(path, f"column {column!r}: {table[column].iloc[row]!r} is not a number "
                                    f"(data row {row + 1})")
    return values.astype(float)


def _listed(names) -> str:
    names = sorted(map(str, names))
    more = f" and {len(names) - MAX_NAMES_IN_NOTE} more" if len(names) > MAX_NAMES_IN_NOTE else ""
    return ", ".join(names[:MAX_NAMES_IN_NOTE]) + more


def _sexes(labels: pd.Series, path: Path) -> pd.Series:
    sexes = labels.astype(str).str.strip().str.lower().map(SEX_LABELS)
    unknown = labels.notna() & sexes.isna()
    if unknown.any():
        raise StudyInputError(path, f"column 'sex': {labels[unknown].iloc[0]!r} is neither f nor m")
    return sexes


def _genotypes(labels: pd.Series, control: str | None, path: Path, line: str) -> pd.Series:
    """CONTROL or MUTANT for each label; exactly one control label and at most one mutant label."""
    found = sorted(set(labels.dropna()))
    if not found:
        raise StudyInputError(path, f"column 'genotype' of line {line} is empty")
    if control is None:
        candidates = [label for label in found if label.strip().lower() in CONTROL_LABELS]
        if len(candidates) != 1:
            raise StudyInputError(path, f"column 'genotype' of line {line}: which of {', '.join(found)} is the "
                                        "control? Say so with --control LABEL")
        control = candidates[0]
    elif control not in found:
        raise StudyInputError(path, f"column 'genotype' of line {line}: no mouse is {control!r} (--control); "
                                    f"the labels are {', '.join(found)}")
    mutants = [label for label in found if label != control]
    if len(mutants) > 1:
        raise StudyInputError(path, f"column 'genotype' of line {line}: {len(found)} genotypes "
                                    f"({', '.join(found)}); expected the control {control!r} and one mutant")
    return labels.map({control: CONTROL, **{label: MUTANT for label in mutants}})


def _mouse_table(mice: pd.DataFrame, control: str | None, path: Path, line: str,
                 notes: list[str]) -> pd.DataFrame:
    """MOUSE_COLUMNS (+ manual) from raw per-mouse columns sex, genotype, body_mass_g; mice without
    sex or genotype are left out with a note."""
    mice = mice.copy()
    mice["sex"] = _sexes(mice["sex"], path)
    mice["genotype_label"] = mice["genotype"].astype("string").str.strip()
    mice["genotype"] = _genotypes(mice["genotype_label"], control, path, line)
    unknown = mice["sex"].isna() | mice["genotype"].isna()
    if unknown.any():
        notes.append(f"mice without sex or genotype in {path.name}, left out: {_listed(mice.index[unknown])}")
        mice = mice[~unknown]
    no_mass = mice["body_mass_g"].isna() | (mice["body_mass_g"] <= 0)
    if no_mass.any():
        notes.append(f"mice without a body mass in {path.name}, left out of the models: "
                     f"{_listed(mice.index[no_mass])}")
        mice.loc[no_mass, "body_mass_g"] = np.nan
    manual = [c for c in mice if c.endswith(MANUAL)]
    return mice[MOUSE_COLUMNS + manual]


def derive_beat_parameters(beats: pd.DataFrame) -> pd.DataFrame:
    """Add the volumes, EF, FS, SV and CO of each beat where the input lacks them (as mmode.beats does)."""
    beats = beats.copy()
    diastole, systole = beats["lvid;d"], beats["lvid;s"]
    for column, value in (("lv vol;d", lambda: teichholz_ul(diastole)), ("lv vol;s", lambda: teichholz_ul(systole)),
                          ("fs", lambda: PERCENT * (diastole - systole) / diastole),
                          ("sv", lambda: beats["lv vol;d"] - beats["lv vol;s"]),
                          ("ef", lambda: PERCENT * beats["sv"] / beats["lv vol;d"])):
        if column not in beats:
            beats[column] = value()
    if "co" not in beats and "heart rate" in beats:
        beats["co"] = beats["sv"] * beats["heart rate"] / UL_PER_ML
    return beats


def _valid(beats: pd.DataFrame) -> pd.Series:
    """The published beat filter's geometric half: LVID;d > LVID;s > 0 (empty values fail)."""
    return (beats["lvid;d"] > beats["lvid;s"]) & (beats["lvid;s"] > 0)


def _line_name(path: Path, suffix: str) -> str:
    return path.name.removesuffix(".gz").removesuffix(suffix)


def echo2pheno_kind(path: Path) -> str | None:
    """"merged", "labeled" or None from an Echo2Pheno file name."""
    name = path.name.removesuffix(".gz")
    return "merged" if name.endswith(MERGED_SUFFIX) else "labeled" if name.endswith(LABELED_SUFFIX) else None


def _image_quality(path: Path) -> pd.Series | None:
    """Per mouse, the mean good-quality percent of its recordings from <LINE>_image_quality_per_file.csv."""
    if not path.exists():
        return None
    table = read_table(path, dtype={"mouse_id": str})
    require_columns(table, ["mouse_id", "high_image_quality"], path)
    return numbers(table, "high_image_quality", path).groupby(table["mouse_id"].str.strip()).mean()


def read_echo2pheno(path: Path, control: str | None = None) -> StudyLine:
    """One line from Echo2Pheno's merged file, or its output_labeled file with the manual annotation."""
    kind = echo2pheno_kind(path)
    suffix = MERGED_SUFFIX if kind == "merged" else LABELED_SUFFIX
    name = _line_name(path, suffix)
    notes: list[str] = []
    table = read_table(path, dtype={"mouse_id": str})
    require_columns(table, ["mouse_id", "file", "LVIDd_auto", "LVIDs_auto", *E2P_FLAGS], path)
    table["mouse_id"] = table["mouse_id"].str.strip()
    beats = table[["mouse_id", "file"]].copy()
    for source, column in E2P_BEATS.items():
        if source in table:
            beats[column] = numbers(table, source, path)
    good = (table[E2P_FLAGS] == E2P_GOOD).all(axis=1)
    kept = good & _valid(beats)

    annotation_path = path.with_name(name + ANNOTATION_SUFFIX)
    annotation = None
    if annotation_path.exists():
        annotation = read_table(annotation_path, dtype={"mouse_id": str})
        require_columns(annotation, E2P_MOUSE_REQUIRED, annotation_path)
        annotation["mouse_id"] = annotation["mouse_id"].str.strip()
        annotation = _raw_mice(annotation, annotation_path)
    if kind == "merged":
        require_columns(table, E2P_MOUSE_REQUIRED, path)
        _check_one_value_per_mouse(table, ["sex", "genotype"], path)
        raw_mice = _raw_mice(table, path).groupby("mouse_id", sort=True).first()
        mice_path = path
        if annotation is not None:
            extra = annotation.index.difference(raw_mice.index)
            if len(extra):
                notes.append(f"mice in {annotation_path.name} without a kept beat (manual values only): "
                             f"{_listed(extra)}")
                raw_mice = pd.concat([raw_mice, annotation.loc[extra]])
    else:
        if annotation is None:
            raise StudyInputError(path, f"needs {annotation_path.name} beside it (sex, genotype, bw per mouse)")
        raw_mice, mice_path = annotation, annotation_path
        elsewhere = raw_mice.index.difference(table["mouse_id"])
        if len(elsewhere):
            notes.append(f"mice in {annotation_path.name} without recordings in {path.name} (e.g. controls "
                         f"shared with other lines; manual values only): {_listed(elsewhere)}")
        beats_per_mouse = kept.groupby(table["mouse_id"])
        raw_mice["good_beats_percent"] = PERCENT * beats_per_mouse.mean()
        without = beats_per_mouse.sum().index[beats_per_mouse.sum().to_numpy() == 0]
        if len(without):
            notes.append(f"mice in {path.name} without a kept beat: {_listed(without)}")
    mice = _mouse_table(raw_mice, control, mice_path, name, notes)
    if "good_beats_percent" in raw_mice:
        mice["good_beats_percent"] = raw_mice["good_beats_percent"]
    quality = _image_quality(path.with_name(name + IMAGE_QUALITY_SUFFIX))
    if quality is not None:
        mice["good_columns_percent"] = quality
    beats = beats[kept]
    strangers = set(beats["mouse_id"]) - set(mice.index)
    if strangers:
        notes.append(f"mice in {path.name} without metadata, left out: {_listed(strangers)}")
        beats = beats[beats["mouse_id"].isin(mice.index)]
    return StudyLine(name, path, derive_beat_parameters(beats.reset_index(drop=True)), mice, notes)


def _raw_mice(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Echo2Pheno per-mouse columns renamed to ours, indexed by mouse_id, numbers checked."""
    mice = pd.DataFrame(index=pd.Index(table["mouse_id"], name="mouse_id"))
    for source, column in E2P_MICE.items():
        if source in table:
            values = numbers(table, source, path) if source not in ("sex", "genotype") else table[source]
            mice[column] = values.to_numpy()
    return mice


def _check_one_value_per_mouse(table: pd.DataFrame, columns, path: Path) -> None:
    for column in columns:
        counts = table.groupby("mouse_id")[column].nunique()
        if (counts > 1).any():
            raise StudyInputError(path, f"column {column!r}: mouse {counts.index[counts > 1][0]} has "
                                        f"{counts.max()} different values")


def _as_in_metadata(files: pd.Series, names: set[str]) -> pd.Series:
    """Each recording's file name as the metadata spells it: the same name, or the one with the
    same stem (metadata often leave out ".dcm"); unknown names unchanged."""
    by_stem = {Path(name).stem: name for name in names}
    return files.astype(str).map(lambda f: Path(f).name if Path(f).name in names else by_stem.get(Path(f).stem, f))


def read_ours(csv_path: Path, metadata_path: Path, control: str | None = None) -> list[StudyLine]:
    """The lines of a run4all ``-w all`` CSV described by a metadata CSV (one row per recording)."""
    beats = read_table(csv_path, dtype={"file": str})
    require_columns(beats, OUR_BEAT_COLUMNS, csv_path)
    for column in [c for c in PARAMETERS if c in beats]:
        beats[column] = numbers(beats, column, csv_path)
    meta = read_table(metadata_path, dtype=str)
    require_columns(meta, METADATA_COLUMNS, metadata_path)
    for column in meta:
        meta[column] = meta[column].str.strip()
    meta = meta.mask(meta == "")  # a cell of blanks is an empty cell
    notes: list[str] = []
    manual = [c for c in meta if c.endswith(MANUAL)]
    for column in manual:
        if column.removesuffix(MANUAL) not in PARAMETERS:
            raise StudyInputError(metadata_path, f"column {column!r}: {column.removesuffix(MANUAL)!r} is not a "
                                                 f"parameter ({', '.join(PARAMETERS)})")
        meta[column] = numbers(meta, column, metadata_path)
    ignored = [c for c in meta if c not in METADATA_COLUMNS + manual + ["line"]]
    if ignored:
        notes.append(f"columns of {metadata_path.name} not used: {', '.join(ignored)}")
    for column in ("file", "mouse_id"):
        if meta[column].isna().any():
            raise StudyInputError(metadata_path, f"column {column!r}: empty in data row "
                                                 f"{int(np.flatnonzero(meta[column].isna().to_numpy())[0]) + 1}")
    meta["body_mass_g"] = numbers(meta, "body_mass_g", metadata_path)
    meta["line"] = meta["line"].fillna(DEFAULT_LINE) if "line" in meta else DEFAULT_LINE
    meta["file"] = [Path(f).name for f in meta["file"]]
    twice = meta["file"][meta["file"].duplicated()]
    if len(twice):
        raise StudyInputError(metadata_path, f"column 'file': {twice.iloc[0]} is listed twice")
    _check_one_value_per_mouse(meta, ["sex", "genotype", "line"], metadata_path)

    # A recording is matched by its file name, or by its stem when the metadata leaves out ".dcm".
    by_name = set(meta["file"])
    beats["file"] = _as_in_metadata(beats["file"], by_name)
    unknown = set(beats["file"]) - by_name
    if unknown:
        notes.append(f"recordings in {csv_path.name} without metadata, left out: {_listed(unknown)}")
    if not set(beats["file"]) & by_name:
        raise StudyInputError(metadata_path, f"column 'file': no recording of {csv_path} is listed")
    absent = by_name - set(beats["file"])
    if absent:
        notes.append(f"recordings without a good beat in {csv_path.name}: {_listed(absent)}")
    valid = _valid(beats)
    if not valid.all():
        notes.append(f"{int((~valid).sum())} beats of {csv_path.name} with LVID;d <= LVID;s or empty values "
                     "left out")
    beats = beats[valid & beats["file"].isin(by_name)].merge(meta[["file", "mouse_id"]], on="file")

    stats_path = csv_path.with_name(OUR_STATS_CSV)
    quality = []
    if stats_path.exists() and stats_path != csv_path:
        stats = read_table(stats_path, dtype={"file": str})
        require_columns(stats, ["file", "good_fraction"], stats_path)
        fraction = numbers(stats, "good_fraction", stats_path).set_axis(_as_in_metadata(stats["file"], by_name))
        meta["good_columns_percent"] = PERCENT * meta["file"].map(fraction)
        quality = ["good_columns_percent"]

    lines = []
    for name, rows in meta.groupby("line", sort=True):
        line_notes = list(notes)
        by_mouse = rows.groupby("mouse_id", sort=True)
        raw = by_mouse[["sex", "genotype"]].first().join(by_mouse[["body_mass_g", *manual, *quality]].mean())
        mice = _mouse_table(raw, control, metadata_path, name, line_notes)
        for column in quality:
            mice[column] = raw[column]
        line_beats = beats[beats["mouse_id"].isin(mice.index)].reset_index(drop=True)
        lines.append(StudyLine(name, csv_path, derive_beat_parameters(line_beats), mice, line_notes))
    return lines


def find_inputs(paths: list[Path]) -> list[Path]:
    """Files to read: the paths given, with folders replaced by the Echo2Pheno files inside them
    (per line the merged file, else the output_labeled file) or by their output_all.csv."""
    found = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        per_line: dict[str, Path] = {}
        for candidate in sorted(path.rglob("*.csv*")):
            kind = echo2pheno_kind(candidate)
            if kind is not None:
                name = _line_name(candidate, MERGED_SUFFIX if kind == "merged" else LABELED_SUFFIX)
                if kind == "merged" or name not in per_line:
                    per_line[name] = candidate
        if per_line:
            found.extend(per_line[name] for name in sorted(per_line))
        elif (path / "output_all.csv").exists():
            found.append(path / "output_all.csv")
        else:
            raise StudyInputError(path, "no Echo2Pheno per-line files and no output_all.csv in this folder")
    return found


def load_lines(paths: list[Path], metadata: Path | None = None, control: str | None = None) -> list[StudyLine]:
    """Every line of every input; a line name may occur only once."""
    lines = []
    for path in find_inputs(paths):
        if echo2pheno_kind(path) is not None:
            lines.append(read_echo2pheno(path, control))
        elif metadata is None:
            raise StudyInputError(path, "is not an Echo2Pheno per-line file; a run4all CSV needs --metadata CSV")
        else:
            lines.extend(read_ours(path, metadata, control))
    seen: dict[str, Path] = {}
    for line in lines:
        if line.name in seen:
            raise StudyInputError(line.source, f"line {line.name} is also in {seen[line.name]}")
        seen[line.name] = line.source
    return lines
