"""Study statistics: mutant against control mice, per sex, from per-beat measurements.

The published method (Echo2Pheno, Mammalian Genome 34:200-215, 2023, Module II):
beats are kept when their quality is good and LVID;d > LVID;s > 0; each mouse is
the mean of its kept beats over all its recordings; per sex, controls and
mutants are compared with a two-sided Mann-Whitney U test with continuity
correction, on the automatic per-mouse means and on the expert's manual values.

Added here, because a Mann-Whitney p says neither how large an effect is nor
whether it is only the mutants' body mass: an OLS model per parameter on the
per-mouse values, ``value ~ genotype + sex + body_mass``, gives the mutant -
control effect with its 95 % CI in the parameter's units; a second model with a
genotype x sex term tests whether the effect differs between the sexes; and
Benjamini-Hochberg q-values correct the model p-values for the number of
parameters of a line. Agreement of automatic and manual values is a
Bland-Altman analysis (bias, limits of agreement) and Pearson's r on per-mouse
values, in the parameter's units (the publication plotted log10 values).

Inputs are read by :mod:`mmode.study_inputs` into a :class:`StudyLine`; the
plots, CSV files and the HTML report are written by :mod:`mmode.study_report`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from mmode.errors import EchoInputError

# Every parameter a per-beat CSV may hold: column -> (label, unit). Our CSV's names.
PARAMETERS = {
    "lvid;d": ("LVID;d", "mm"), "lvid;s": ("LVID;s", "mm"), "heart rate": ("heart rate", "bpm"),
    "lv vol;d": ("LV Vol;d", "uL"), "lv vol;s": ("LV Vol;s", "uL"), "sv": ("SV", "uL"),
    "ef": ("EF", "%"), "fs": ("FS", "%"), "co": ("CO", "mL/min"),
    "LVAW;d": ("LVAW;d", "mm"), "LVAW;s": ("LVAW;s", "mm"), "LVPW;d": ("LVPW;d", "mm"),
    "LVPW;s": ("LVPW;s", "mm"), "LV Mass AW": ("LV Mass AW", "mg"),
    "LV Mass AW (Corrected)": ("LV Mass AW (Corrected)", "mg"),
}
MANUAL = " manual"  # suffix of the expert's values: "lvid;d manual"
SEXES = ("f", "m")
CONTROL, MUTANT = "control", "mutant"
AGGREGATES = ("mean", "median")
MIN_MICE_PER_GROUP = 2  # a Mann-Whitney test, a mean difference or an SD needs two values
MIN_MICE_FOR_CORRELATION = 3  # two points always lie on a line
Z_95 = 1.96  # limits of agreement: bias +- 1.96 SD
ALPHA = 0.05  # 95 % confidence intervals
# The published table: rows and the parameter each one is; columns are "<sex> <manual|automatic>".
PUBLISHED_ROWS = {"LVIDs": "lvid;s", "LVIDd": "lvid;d", "ejection fraction": "ef", "fractional shortening": "fs"}
PUBLISHED_COLUMNS = ("f manual", "f automatic", "m manual", "m automatic")
MOUSE_COLUMNS = ["sex", "genotype", "genotype_label", "body_mass_g"]
QUALITY_COLUMNS = ["n_recordings", "n_beats", "good_beats_percent", "good_columns_percent"]
VALUE_KINDS = {"automatic": "", "manual": MANUAL}  # kind of value -> suffix of its column


class StudyInputError(EchoInputError):
    """A study input (CSV, metadata, option) that cannot be analysed; names the file and the column."""


@dataclass
class StudyLine:
    """One mouse line as read, before any statistics.

    beats: one row per kept beat; columns ``mouse_id``, ``file`` and parameter columns (PARAMETERS' names).
    mice: one row per mouse, index ``mouse_id`` (str); MOUSE_COLUMNS (genotype is CONTROL or MUTANT,
    genotype_label the input's own label), optionally ``"<parameter> manual"``, ``good_beats_percent``
    (kept beats of all beats, where the input has the rejected beats too) and ``good_columns_percent``
    (good-quality share of the recordings' columns, where a quality file was given).
    """

    name: str
    source: Path
    beats: pd.DataFrame
    mice: pd.DataFrame
    notes: list[str] = field(default_factory=list)


@dataclass
class LineResult:
    """Every table of one line's analysis (the CSV files of OUT/<line>/) and what could not be computed."""

    line: StudyLine
    per_mouse: pd.DataFrame
    parameters: list[str]
    group_sizes: pd.DataFrame
    tests: pd.DataFrame
    p_values: pd.DataFrame
    models: pd.DataFrame
    agreement: pd.DataFrame
    notes: list[str]

    @property
    def name(self) -> str:
        return self.line.name


def per_mouse_table(line: StudyLine, aggregate: str = "mean") -> pd.DataFrame:
    """One row per mouse: its metadata, manual values, beat counts and the aggregate of its beats.

    Mice with metadata but no kept beat have empty automatic values and ``n_beats`` 0.
    """
    parameters = [p for p in PARAMETERS if p in line.beats and line.beats[p].notna().any()]
    by_mouse = line.beats.groupby("mouse_id")
    counts = pd.DataFrame({"n_recordings": by_mouse["file"].nunique(), "n_beats": by_mouse.size()})
    table = line.mice.join(counts).join(by_mouse[parameters].agg(aggregate))
    table[["n_recordings", "n_beats"]] = table[["n_recordings", "n_beats"]].fillna(0).astype(int)
    manual = [c for c in table if c.endswith(MANUAL)]
    quality = [c for c in QUALITY_COLUMNS if c in table]
    table = table[MOUSE_COLUMNS + quality + parameters + manual]
    return table.sort_index().sort_values(["sex", "genotype"], kind="stable")


def measured_parameters(per_mouse: pd.DataFrame) -> list[str]:
    """Parameters with an automatic or a manual value for at least one mouse, in PARAMETERS' order."""
    return [p for p in PARAMETERS
            if any(c in per_mouse and per_mouse[c].notna().any() for c in (p, p + MANUAL))]


def _groups(per_mouse: pd.DataFrame, column: str, sex: str) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``column`` of the control and the mutant mice of one sex, without empty cells."""
    values = per_mouse[column].to_numpy(dtype=float)
    chosen = (per_mouse["sex"] == sex).to_numpy() & ~np.isnan(values)
    genotype = per_mouse["genotype"].to_numpy()
    return values[chosen & (genotype == CONTROL)], values[chosen & (genotype == MUTANT)]


def group_sizes(per_mouse: pd.DataFrame) -> pd.DataFrame:
    """Mice per sex and genotype with manual and with automatic values (the published number_of_mice layout)."""
    manual = [c for c in per_mouse if c.endswith(MANUAL)]
    has = {"man": per_mouse[manual].notna().any(axis=1), "auto": per_mouse["n_beats"] > 0}
    table = pd.DataFrame(index=pd.Index(SEXES))
    for genotype, short in ((CONTROL, "con"), (MUTANT, "mut")):
        for kind in ("man", "auto"):
            chosen = per_mouse[has[kind] & (per_mouse["genotype"] == genotype)]
            table[f"{kind} {short}"] = [int((chosen["sex"] == sex).sum()) for sex in SEXES]
    return table


def mann_whitney_tests(per_mouse: pd.DataFrame, parameters: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Per parameter, sex and kind of value: control against mutant, two-sided, with continuity correction.

    Returns one row per test (columns parameter, sex, values, n_control, n_mutant, median_control,
    median_mutant, u, p) and a note for each test that could not be done (p empty).
    """
    rows, notes = [], []
    for parameter in parameters:
        for kind, suffix in VALUE_KINDS.items():
            column = parameter + suffix
            if column not in per_mouse or per_mouse[column].isna().all():
                continue
            for sex in SEXES:
                control, mutant = _groups(per_mouse, column, sex)
                row = {"parameter": parameter, "sex": sex, "values": kind, "n_control": len(control),
                       "n_mutant": len(mutant), "median_control": np.median(control) if len(control) else np.nan,
                       "median_mutant": np.median(mutant) if len(mutant) else np.nan, "u": np.nan, "p": np.nan}
                if min(len(control), len(mutant)) < MIN_MICE_PER_GROUP:
                    notes.append(f"{parameter} ({kind}), {sex}: {len(control)} control and {len(mutant)} mutant "
                                 f"mice; a test needs at least {MIN_MICE_PER_GROUP} in each group")
                else:
                    test = mannwhitneyu(control, mutant, alternative="two-sided", use_continuity=True)
                    row["u"], row["p"] = float(test.statistic), float(test.pvalue)
                rows.append(row)
    columns = ["parameter", "sex", "values", "n_control", "n_mutant", "median_control", "median_mutant", "u", "p"]
    return pd.DataFrame(rows, columns=columns), notes


def published_p_values(tests: pd.DataFrame) -> pd.DataFrame:
    """The published table: rows LVIDs, LVIDd, ejection fraction, fractional shortening; columns
    ``f manual, f automatic, m manual, m automatic``; empty where a test was not possible."""
    table = pd.DataFrame(np.nan, index=list(PUBLISHED_ROWS), columns=list(PUBLISHED_COLUMNS))
    for _, test in tests.iterrows():
        rows = [row for row, parameter in PUBLISHED_ROWS.items() if parameter == test["parameter"]]
        if rows:
            table.loc[rows[0], f"{test['sex']} {test['values']}"] = test["p"]
    return table


def _ols(y: np.ndarray, design: np.ndarray):
    """statsmodels OLS fit, or None when the design has no residual degree of freedom or is singular."""
    from statsmodels.regression.linear_model import OLS

    if len(y) <= design.shape[1] or np.linalg.matrix_rank(design) < design.shape[1]:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):  # a perfect fit has zero standard errors
        return OLS(y, design).fit()


def genotype_models(per_mouse: pd.DataFrame, parameters: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Body-mass-adjusted genotype effect per parameter on the automatic per-mouse values.

    ``value ~ genotype + sex + body_mass`` (OLS; the sex term only when both sexes are there):
    ``effect`` is the mutant - control coefficient in the parameter's units, ``ci_low``/``ci_high``
    its 95 % confidence interval, ``p`` its two-sided t-test; ``interaction_p`` is the p of the
    genotype x sex term of ``value ~ genotype * sex + body_mass``; ``q`` the Benjamini-Hochberg
    q-value over the parameters of the line; ``n_mice`` the mice with a value and a body mass.
    """
    from statsmodels.stats.multitest import multipletests

    rows, notes = [], []
    for parameter in parameters:
        row = {"parameter": parameter, "effect": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan,
               "q": np.nan, "interaction_p": np.nan, "n_mice": 0}
        rows.append(row)
        if parameter not in per_mouse:
            notes.append(f"{parameter}: manual values only: no model")
            continue
        data = per_mouse[[parameter, "genotype", "sex", "body_mass_g"]].dropna()
        row["n_mice"] = len(data)
        y = data[parameter].to_numpy(dtype=float)
        mutant = (data["genotype"] == MUTANT).to_numpy(dtype=float)
        male = (data["sex"] == "m").to_numpy(dtype=float)
        columns = [np.ones(len(data)), mutant, male, data["body_mass_g"].to_numpy(dtype=float)]
        both_sexes = len(data) > 0 and male.min() != male.max()
        if not both_sexes:
            del columns[2]
        if len(data) == 0 or mutant.min() == mutant.max():
            notes.append(f"{parameter}: no genotype effect: {len(data)} mice with a value and a body mass, "
                         f"{int(mutant.sum())} of them mutant")
            continue
        fit = _ols(y, np.column_stack(columns))
        if fit is None:
            notes.append(f"{parameter}: no genotype effect: too few mice ({len(data)}) or body mass "
                         "confounded with genotype or sex")
            continue
        row["effect"], row["p"] = float(fit.params[1]), float(fit.pvalues[1])
        row["ci_low"], row["ci_high"] = (float(v) for v in fit.conf_int(ALPHA)[1])
        interaction = _ols(y, np.column_stack(columns + [mutant * male])) if both_sexes else None
        if interaction is None:
            notes.append(f"{parameter}: no genotype x sex interaction: "
                         + ("one sex only" if not both_sexes else "a sex has mice of one genotype only, "
                            "or too few mice"))
        else:
            row["interaction_p"] = float(interaction.pvalues[-1])
    table = pd.DataFrame(rows, columns=["parameter", "effect", "ci_low", "ci_high", "p", "q", "interaction_p",
                                        "n_mice"])
    tested = table["p"].notna()
    if tested.any():
        table.loc[tested, "q"] = multipletests(table.loc[tested, "p"].to_numpy(), method="fdr_bh")[1]
    return table, notes


def agreement(per_mouse: pd.DataFrame, parameters: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Bland-Altman agreement of automatic with manual per-mouse values, in the parameter's units.

    ``bias`` = mean(auto - manual), ``sd`` its sample SD, limits ``bias +- 1.96 sd``, Pearson's r of
    auto and manual; over the ``n_mice`` mice with both values. Empty below 2 mice (3 for r) or for
    constant values.
    """
    rows, notes = [], []
    for parameter in parameters:
        if parameter not in per_mouse or parameter + MANUAL not in per_mouse:
            continue
        both = per_mouse[[parameter, parameter + MANUAL]].dropna().to_numpy(dtype=float)
        auto, manual = both.T
        difference = auto - manual
        row = {"parameter": parameter, "n_mice": len(both), "bias": np.nan, "sd": np.nan, "loa_low": np.nan,
               "loa_high": np.nan, "pearson_r": np.nan}
        if len(both) >= MIN_MICE_PER_GROUP:
            row["bias"], row["sd"] = difference.mean(), difference.std(ddof=1)
            row["loa_low"], row["loa_high"] = row["bias"] - Z_95 * row["sd"], row["bias"] + Z_95 * row["sd"]
        else:
            notes.append(f"{parameter}: {len(both)} mice with automatic and manual values; agreement needs "
                         f"at least {MIN_MICE_PER_GROUP}")
        if len(both) >= MIN_MICE_FOR_CORRELATION and auto.std() > 0 and manual.std() > 0:
            row["pearson_r"] = float(np.corrcoef(auto, manual)[0, 1])
        elif len(both) >= MIN_MICE_PER_GROUP:
            notes.append(f"{parameter}: no Pearson r ({len(both)} mice, or constant values)")
        rows.append(row)
    columns = ["parameter", "n_mice", "bias", "sd", "loa_low", "loa_high", "pearson_r"]
    return pd.DataFrame(rows, columns=columns), notes


def analyse_line(line: StudyLine, aggregate: str = "mean") -> LineResult:
    """Every statistic of one line; what cannot be computed is an empty cell and a note."""
    per_mouse = per_mouse_table(line, aggregate)
    notes = list(line.notes)
    genotypes = set(per_mouse["genotype"])
    sexes = set(per_mouse["sex"])
    if not len(per_mouse):
        notes.append("no mice: nothing to compare")
    elif len(genotypes) < 2:
        notes.append(f"only {genotypes.pop()} mice: no comparison of genotypes")
    if len(sexes) == 1:
        notes.append(f"mice of sex {sexes.pop()} only")
    parameters = measured_parameters(per_mouse)
    tests, test_notes = mann_whitney_tests(per_mouse, parameters)
    models, model_notes = genotype_models(per_mouse, parameters)
    agreements, agreement_notes = agreement(per_mouse, parameters)
    return LineResult(line, per_mouse, parameters, group_sizes(per_mouse), tests, published_p_values(tests),
                      models, agreements, notes + test_notes + model_notes + agreement_notes)
