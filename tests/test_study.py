"""Study statistics: the published Echo2Pheno table reproduced, models and agreement against an
independent computation, our own CSV with metadata, bad input, and run4all --metadata end to end."""
import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analyse_study
import run4all
from mmode.study import (MANUAL, PUBLISHED_COLUMNS, PUBLISHED_ROWS, agreement, analyse_line, genotype_models,
                         per_mouse_table)
from mmode.study_inputs import MERGED_SUFFIX, read_echo2pheno, read_ours

ROOT = Path(__file__).resolve().parents[1]
STUDY_DIR = Path(os.environ.get("MMODE_STUDY_DIR", ROOT.parent / "shared" / "reference" / "echo2pheno_study"))
LINES = ["Acnat2", "Cisd1", "Cmas", "Cnot6l", "Dmd", "Dnajb14", "Echs1", "Ergic2"]
needs_study = pytest.mark.skipif(not STUDY_DIR.is_dir(), reason=f"Echo2Pheno study data not at {STUDY_DIR} "
                                                                "(set MMODE_STUDY_DIR)")


def merged_file(line: str) -> Path:
    return STUDY_DIR / line / f"{line}{MERGED_SUFFIX}.gz"


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    """analyse_study.py on the whole study folder (all 8 merged files), plots and report included."""
    if not STUDY_DIR.is_dir():
        pytest.skip(f"Echo2Pheno study data not at {STUDY_DIR} (set MMODE_STUDY_DIR)")
    out = tmp_path_factory.mktemp("study")
    assert analyse_study.main([str(STUDY_DIR), "-o", str(out), "--workers", "1"]) == 0
    return out


@pytest.mark.slow
@needs_study
@pytest.mark.parametrize("line", LINES)
def test_published_p_values_are_reproduced(study_run, line):
    ours = pd.read_csv(study_run / line / "p_values.csv", index_col=0)
    published = pd.read_csv(STUDY_DIR / line / f"{line}_p_values.csv", index_col=0)
    assert list(ours.index) == list(published.index) == list(PUBLISHED_ROWS)
    assert list(ours.columns) == list(published.columns) == list(PUBLISHED_COLUMNS)
    assert np.abs(ours.to_numpy() - published.to_numpy()).max() <= 1e-9


@pytest.mark.slow
@needs_study
@pytest.mark.parametrize("line", LINES)
def test_mice_per_group_as_published(study_run, line):
    ours = pd.read_csv(study_run / line / "number_of_mice.csv", index_col=0)
    published = pd.read_csv(STUDY_DIR / line / f"{line}_number_of_mice.csv", index_col=0)
    pd.testing.assert_frame_equal(ours[published.columns], published)


@pytest.mark.slow
@needs_study
def test_report_is_one_self_contained_page(study_run):
    page = (study_run / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count('src="data:image/png;base64,') == 1 + 3 * len(LINES)  # overview + 3 plots per line
    for line in LINES:
        assert f'id="{line}"' in page
        for name in ("boxes.png", "bland_altman.png", "image_quality.png", "tests.csv", "per_mouse.csv"):
            assert (study_run / line / name).stat().st_size > 0
    assert (study_run / "p_value_overview.png").stat().st_size > 10_000
    models = pd.read_csv(study_run / "Cnot6l" / "models.csv")
    assert list(models.columns) == ["parameter", "effect", "ci_low", "ci_high", "p", "q", "interaction_p", "n_mice"]
    assert list(pd.read_csv(study_run / "Cnot6l" / "agreement.csv").columns) == [
        "parameter", "n_mice", "bias", "sd", "loa_low", "loa_high", "pearson_r"]


@pytest.mark.slow
@needs_study
def test_two_drawing_processes_give_the_same_report(study_run, tmp_path):
    lines = [STUDY_DIR / "Echs1", STUDY_DIR / "Ergic2"]
    assert analyse_study.main([*map(str, lines), "-o", str(tmp_path), "--workers", "2"]) == 0
    page = (tmp_path / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 1 + 3 * 2
    for line in ("Echs1", "Ergic2"):
        for name in ("p_values.csv", "models.csv", "agreement.csv"):
            assert (tmp_path / line / name).read_bytes() == (study_run / line / name).read_bytes()


@needs_study
@pytest.mark.parametrize("line", LINES)
def test_output_labeled_gives_the_merged_per_mouse_table(line):
    merged = per_mouse_table(read_echo2pheno(merged_file(line)))
    labeled = per_mouse_table(read_echo2pheno(STUDY_DIR / line / f"{line}_output_labeled.csv.gz"))
    recorded = sorted(set(pd.read_csv(STUDY_DIR / line / f"{line}_output_labeled.csv.gz", usecols=["mouse_id"],
                                      dtype=str)["mouse_id"]))
    assert "good_beats_percent" in labeled and "good_beats_percent" not in merged
    pd.testing.assert_frame_equal(merged.loc[recorded], labeled.loc[recorded, merged.columns], rtol=1e-12)


@needs_study
def test_manual_annotation_beside_the_merged_file_adds_mice_without_beats(tmp_path):
    # Dnajb14's published manual tests count a female control that has no kept beat.
    alone = tmp_path / merged_file("Dnajb14").name
    alone.symlink_to(merged_file("Dnajb14"))
    without = analyse_line(read_echo2pheno(alone))
    with_annotation = analyse_line(read_echo2pheno(merged_file("Dnajb14")))
    assert "30522901" not in without.per_mouse.index
    assert with_annotation.per_mouse.loc["30522901", "n_beats"] == 0
    assert with_annotation.group_sizes.loc["f", "man con"] == without.group_sizes.loc["f", "man con"] + 1
    assert any("30522901" in note for note in with_annotation.notes)


@needs_study
def test_median_aggregate(tmp_path):
    line = read_echo2pheno(merged_file("Echs1"))
    table = per_mouse_table(line, "median")
    mouse = table.index[0]
    beats = line.beats[line.beats["mouse_id"] == mouse]
    assert table.loc[mouse, "lvid;d"] == np.median(beats["lvid;d"])
    assert table.loc[mouse, "n_beats"] == len(beats)


# --- models and agreement against an independent computation -----------------------------------

def formula_models(per_mouse, parameters):
    """The same models with the statsmodels formula API and Benjamini-Hochberg in numpy."""
    import statsmodels.formula.api as smf

    genotype = "C(genotype, Treatment('control'))"
    sex = "C(sex, Treatment('f'))"
    rows = []
    for parameter in parameters:
        data = per_mouse[[parameter, "genotype", "sex", "body_mass_g"]].dropna().rename(columns={parameter: "y"})
        both_sexes = data["sex"].nunique() == 2
        additive = smf.ols(f"y ~ {genotype}" + (f" + {sex}" if both_sexes else "") + " + body_mass_g", data).fit()
        term = f"{genotype}[T.mutant]"
        row = {"parameter": parameter, "effect": additive.params[term], "ci_low": additive.conf_int().loc[term, 0],
               "ci_high": additive.conf_int().loc[term, 1], "p": additive.pvalues[term], "interaction_p": np.nan,
               "n_mice": len(data)}
        cells = data.groupby(["sex", "genotype"]).size()
        if both_sexes and len(cells) == 4:
            interaction = smf.ols(f"y ~ {genotype} * {sex} + body_mass_g", data).fit()
            row["interaction_p"] = interaction.pvalues[f"{term}:{sex}[T.m]"]
        rows.append(row)
    table = pd.DataFrame(rows)
    p = table["p"].to_numpy()
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    q = np.empty_like(p)
    q[order] = np.minimum(1, np.minimum.accumulate(ranked[::-1])[::-1])
    table["q"] = q
    return table


def assert_models_match(ours, expected):
    ours = ours.set_index("parameter")
    for row in expected.itertuples():
        for column in ("effect", "ci_low", "ci_high", "p", "q", "interaction_p"):
            assert ours.loc[row.parameter, column] == pytest.approx(getattr(row, column), rel=1e-9, abs=1e-12,
                                                                    nan_ok=True), (row.parameter, column)
        assert ours.loc[row.parameter, "n_mice"] == row.n_mice


PARAMETERS = ["lvid;d", "lvid;s", "heart rate", "lv vol;d", "ef", "fs", "co"]


@needs_study
@pytest.mark.parametrize("line", ["Cnot6l", "Dmd"])
def test_models_match_the_formula_api(line):
    per_mouse = per_mouse_table(read_echo2pheno(merged_file(line)))
    models, notes = genotype_models(per_mouse, PARAMETERS)
    assert_models_match(models, formula_models(per_mouse, PARAMETERS))
    assert not notes


@needs_study
def test_models_with_an_empty_group():
    per_mouse = per_mouse_table(read_echo2pheno(merged_file("Cnot6l")))
    no_female_mutants = per_mouse[~((per_mouse["sex"] == "f") & (per_mouse["genotype"] == "mutant"))]
    models, notes = genotype_models(no_female_mutants, PARAMETERS)
    assert_models_match(models, formula_models(no_female_mutants, PARAMETERS))
    assert models["interaction_p"].isna().all() and models["p"].notna().all()
    assert any("interaction" in note for note in notes)

    males_only = per_mouse[per_mouse["sex"] == "m"]
    models, notes = genotype_models(males_only, PARAMETERS)
    assert_models_match(models, formula_models(males_only, PARAMETERS))
    assert any("one sex only" in note for note in notes)

    controls_only = per_mouse[per_mouse["genotype"] == "control"]
    models, notes = genotype_models(controls_only, PARAMETERS)
    assert models[["effect", "ci_low", "ci_high", "p", "q", "interaction_p"]].isna().all().all()
    assert len(notes) == len(PARAMETERS)


def numpy_agreement(auto, manual):
    keep = ~np.isnan(auto) & ~np.isnan(manual)
    auto, manual = auto[keep], manual[keep]
    difference = auto - manual
    bias = difference.sum() / len(difference)
    sd = np.sqrt(((difference - bias) ** 2).sum() / (len(difference) - 1))
    da, dm = auto - auto.mean(), manual - manual.mean()
    r = (da * dm).sum() / np.sqrt((da ** 2).sum() * (dm ** 2).sum())
    return len(auto), bias, sd, bias - 1.96 * sd, bias + 1.96 * sd, r


@needs_study
@pytest.mark.parametrize("line", ["Acnat2", "Dnajb14"])
def test_agreement_matches_numpy(line):
    per_mouse = per_mouse_table(read_echo2pheno(merged_file(line)))
    table, notes = agreement(per_mouse, ["lvid;d", "lvid;s", "ef", "fs", "heart rate"])
    assert list(table["parameter"]) == ["lvid;d", "lvid;s", "ef", "fs"]  # no manual heart rate
    for row in table.itertuples():
        expected = numpy_agreement(per_mouse[row.parameter].to_numpy(), per_mouse[row.parameter + MANUAL].to_numpy())
        assert row.n_mice == expected[0]
        assert [row.bias, row.sd, row.loa_low, row.loa_high, row.pearson_r] == pytest.approx(expected[1:],
                                                                                             rel=1e-9)
    assert not notes


@needs_study
def test_agreement_with_too_few_manual_values():
    per_mouse = per_mouse_table(read_echo2pheno(merged_file("Acnat2")))
    per_mouse.loc[per_mouse.index[1:], "ef manual"] = np.nan  # one mouse left
    per_mouse.loc[per_mouse.index[2:], "fs manual"] = np.nan  # two mice: no r
    table, notes = agreement(per_mouse, ["ef", "fs"])
    ef, fs = table.set_index("parameter").loc["ef"], table.set_index("parameter").loc["fs"]
    assert ef["n_mice"] == 1 and ef[["bias", "sd", "loa_low", "loa_high", "pearson_r"]].isna().all()
    assert fs["n_mice"] == 2 and not np.isnan(fs["sd"]) and np.isnan(fs["pearson_r"])
    assert len(notes) == 2


# --- our own CSV with a metadata table ----------------------------------------------------------

def write_csv(path, rows, columns=None):
    columns = columns or list(rows[0])
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def beat_rows(file, lvid_d, lvid_s, n=4, heart_rate=600.0):
    from mmode.beats import teichholz_ul

    rows = []
    for i in range(n):
        d, s = lvid_d + 0.01 * i, lvid_s + 0.005 * i
        vd, vs = float(teichholz_ul(d)), float(teichholz_ul(s))
        rows.append({"file": file, "lvid;d": d, "lvid;d time": 0.1 * i, "lvid;s": s, "lvid;s time": 0.1 * i + 0.05,
                     "heart rate": heart_rate, "heart rate time": 0.1 * i, "beat": i, "lv vol;d": vd,
                     "lv vol;s": vs, "sv": vd - vs, "ef": 100 * (vd - vs) / vd, "fs": 100 * (d - s) / d,
                     "co": (vd - vs) * heart_rate / 1000, "quality": 0.99})
    return rows


@pytest.fixture
def own_study(tmp_path):
    """Two lines, 8 mice each (2 per sex and genotype), one recording per mouse, mutants 0.6 mm larger;
    mouse m1 has two recordings; manual LVID;d per recording."""
    beats, meta = [], []
    for line in ("lineA", "lineB"):
        for i, (sex, genotype) in enumerate([(s, g) for s in "fm" for g in ("wt", "het") for _ in range(2)]):
            mouse = f"{line}-{i}"
            lvid_d = 3.0 + (0.6 if genotype == "het" else 0) + 0.05 * i
            files = [f"{mouse}.dcm"] + ([f"{mouse}b.dcm"] if i == 0 else [])
            for k, name in enumerate(files):
                beats += beat_rows(name, lvid_d + 0.1 * k, 1.8)
                meta.append({"file": name.removesuffix(".dcm") if i == 1 else name, "mouse_id": mouse, "sex": sex,
                             "genotype": genotype, "body_mass_g": 22 + i, "line": line,
                             "lvid;d manual": lvid_d + 0.1 * k - 0.2})
    beats += beat_rows("stranger.dcm", 3.0, 1.8)
    meta.append({"file": "no_beats.dcm", "mouse_id": "lineA-0", "sex": "f", "genotype": "wt", "body_mass_g": 22,
                 "line": "lineA", "lvid;d manual": ""})
    csv_path = write_csv(tmp_path / "output_all.csv", beats)
    return csv_path, write_csv(tmp_path / "meta.csv", meta)


def test_our_csv_with_metadata(own_study):
    csv_path, meta_path = own_study
    lines = read_ours(csv_path, meta_path)
    assert [line.name for line in lines] == ["lineA", "lineB"]
    a = analyse_line(lines[0])
    table = a.per_mouse
    assert len(table) == 8 and set(table["genotype_label"]) == {"wt", "het"}
    first = table.loc["lineA-0"]
    assert first["n_recordings"] == 2 and first["n_beats"] == 8
    assert first["lvid;d"] == pytest.approx(np.mean([3.0 + 0.01 * i + 0.1 * k for k in range(2) for i in range(4)]))
    assert first["lvid;d manual"] == pytest.approx(2.85)  # mean of its two recordings' values
    assert table.loc["lineA-1", "n_beats"] == 4  # the metadata named it without ".dcm"
    assert any("stranger.dcm" in note for note in a.notes) and any("no_beats.dcm" in note for note in a.notes)
    models = a.models.set_index("parameter")
    assert models.loc["lvid;d", "effect"] == pytest.approx(0.6, abs=0.05) and models.loc["lvid;d", "p"] < 1e-3
    bias = a.agreement.set_index("parameter").loc["lvid;d", "bias"]
    assert bias == pytest.approx(0.2 + 0.015, abs=1e-9)  # auto means include the beats' +0.015 mm ramp
    assert a.p_values.loc["LVIDd"].notna().all() and a.p_values.loc["LVIDs", ["f manual", "m manual"]].isna().all()


def test_output_stats_beside_gives_good_columns(own_study):
    csv_path, meta_path = own_study
    files = pd.read_csv(meta_path)["file"]
    write_csv(csv_path.with_name("output_stats.csv"),
              [{"file": f if f.endswith(".dcm") else f + ".dcm", "n_good_beats": 4, "good_fraction": 0.5}
               for f in files])
    table = per_mouse_table(read_ours(csv_path, meta_path)[1])
    assert (table["good_columns_percent"] == 50).all()


def test_a_line_with_one_sex_and_one_genotype_is_noted_not_fatal(own_study, tmp_path):
    csv_path, meta_path = own_study
    meta = pd.read_csv(meta_path)
    meta = meta[(meta["sex"] == "f") & ((meta["line"] == "lineA") | (meta["genotype"] == "wt"))]
    meta.to_csv(meta_path, index=False)
    assert analyse_study.main([str(csv_path), "--metadata", str(meta_path), "-o", str(tmp_path / "out"),
                               "--no-plots"]) == 0
    notes = (tmp_path / "out" / "lineB" / "notes.txt").read_text()
    assert "no comparison of genotypes" in notes and "mice of sex f only" in notes
    assert pd.read_csv(tmp_path / "out" / "lineB" / "models.csv")["p"].isna().all()
    assert "no comparison of genotypes" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.slow
def test_a_line_whose_mice_all_lack_a_sex(own_study, tmp_path):
    csv_path, meta_path = own_study
    edit_metadata(meta_path, lambda m: m.assign(sex=m["sex"].where(m["line"] == "lineA")))
    assert analyse_study.main([str(csv_path), "--metadata", str(meta_path), "-o", str(tmp_path / "out")]) == 0
    notes = (tmp_path / "out" / "lineB" / "notes.txt").read_text()
    assert "mice without sex or genotype in meta.csv, left out" in notes and "no mice" in notes
    assert pd.read_csv(tmp_path / "out" / "lineB" / "p_values.csv", index_col=0).isna().all().all()


# --- bad input: one line naming the file and the column, exit 2 ----------------------------------

def edit_metadata(meta_path, change):
    """Rewrite the metadata CSV as ``change(table)`` returns it (``change`` may also edit in place)."""
    meta = pd.read_csv(meta_path, dtype=str)
    changed = change(meta)
    (meta if changed is None else changed).to_csv(meta_path, index=False)


def set_cell(row, column, value):
    return lambda meta: meta.loc.__setitem__((row, column), value)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.rename(columns={"body_mass_g": "body_mass"}),
     r"meta\.csv: no column 'body_mass_g' \(is 'body_mass' meant\?\)"),
    (set_cell(2, "genotype", "hom"),
     r"meta\.csv: column 'genotype' of line lineA: 3 genotypes \(het, hom, wt\)"),
    (set_cell(0, "body_mass_g", "heavy"), r"meta\.csv: column 'body_mass_g': 'heavy' is not"),
    (set_cell(2, "sex", "x"), r"meta\.csv: column 'sex': 'x' is neither f nor m"),
    (lambda m: m.rename(columns={"lvid;d manual": "lvidd manual"}),
     r"meta\.csv: column 'lvidd manual': 'lvidd' is not a parameter"),
    (lambda m: m.replace({"wt": "ctrl"}),
     r"meta\.csv: column 'genotype' of line lineA: which of ctrl, het is the control\? .*--control"),
    (set_cell(1, "sex", "m"), r"meta\.csv: column 'sex': mouse lineA-0 has 2 different"),
])
def test_bad_metadata(own_study, tmp_path, capsys, change, message):
    csv_path, meta_path = own_study
    edit_metadata(meta_path, change)
    assert analyse_study.main([str(csv_path), "--metadata", str(meta_path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err


def test_control_label_option(own_study, tmp_path, capsys):
    csv_path, meta_path = own_study
    edit_metadata(meta_path, lambda m: m.replace({"wt": "ctrl"}))
    assert analyse_study.main([str(csv_path), "--metadata", str(meta_path), "-o", str(tmp_path / "out"),
                               "--control", "ctrl", "--no-plots"]) == 0
    argv = [str(csv_path), "--metadata", str(meta_path), "-o", str(tmp_path / "out"), "--control", "wt"]
    assert analyse_study.main(argv) == 2
    assert "no mouse is 'wt' (--control)" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ("file,lvid;d\na.dcm,3\n", "output_all.csv: no column 'lvid;s'"),
    ("", "output_all.csv: cannot read as CSV"),
    ("file,lvid;d,lvid;s\na.dcm,3,x\n", "output_all.csv: column 'lvid;s': 'x' is not a number"),
])
def test_bad_results_csv(own_study, capsys, tmp_path, content, message):
    csv_path, meta_path = own_study
    csv_path.write_text(content)
    assert analyse_study.main([str(csv_path), "--metadata", str(meta_path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_our_csv_without_metadata_and_missing_files(own_study, capsys, tmp_path):
    csv_path, _ = own_study
    assert analyse_study.main([str(csv_path), "-o", str(tmp_path / "out")]) == 2
    assert "needs --metadata" in capsys.readouterr().err
    assert analyse_study.main([str(tmp_path / "nothing.csv"), "--metadata", str(csv_path), "-o",
                               str(tmp_path / "out")]) == 2
    assert "nothing.csv: no such file" in capsys.readouterr().err


def test_labeled_file_without_its_annotation(tmp_path, capsys):
    path = tmp_path / "X_output_labeled.csv"
    path.write_text("mouse_id,file,LVIDd_auto,LVIDs_auto,LVIDd_auto_quality_flag,LVIDs_auto_quality_flag\n"
                    "1,a.dcm,3,2,high,high\n")
    assert analyse_study.main([str(path), "-o", str(tmp_path / "out")]) == 2
    assert "X_output_labeled.csv: needs X_manual_annotation.csv beside it" in capsys.readouterr().err


def test_debug_shows_the_traceback(own_study, tmp_path, capsys):
    csv_path, meta_path = own_study
    edit_metadata(meta_path, lambda m: m.drop(columns="sex"))
    assert analyse_study.main([str(csv_path), "--metadata", str(meta_path), "-o", str(tmp_path / "o"),
                               "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_command_line_is_light_and_agrees_with_the_module():
    import mmode.study

    assert analyse_study.AGGREGATES == mmode.study.AGGREGATES
    code = ("import sys, analyse_study; "
            "print(sorted(m for m in ('pandas', 'scipy', 'matplotlib', 'statsmodels') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_run4all_metadata_arguments(tmp_path):
    with pytest.raises(SystemExit):
        run4all.parse_args(["-i", "x", "-m", "25", "-w", "stats", "--metadata", str(__file__)])
    with pytest.raises(SystemExit):
        run4all.parse_args(["-i", "x", "-m", "25", "--metadata", str(tmp_path / "missing.csv")])
    assert run4all.parse_args(["-i", "x", "-m", "25", "--metadata", __file__]).metadata == Path(__file__)


# --- our pipeline end to end --------------------------------------------------------------------

@pytest.mark.slow
def test_run4all_metadata_finds_larger_mutant_hearts(tmp_path):
    """6 control and 6 mutant phantoms (LVID;d 3.2 against 4.2 mm), both sexes, through run4all.

    The phantoms have no bad segments and ``--threshold 0`` keeps every beat: this test is about
    the statistics of measured values, not the quality gate (tested on its own; the classifier's
    verdict on a given phantom changes whenever it is retrained).
    """
    import phantom

    folder = tmp_path / "study"
    meta = []
    for i in range(12):
        mutant = i % 2 == 1
        cfg = phantom.PhantomConfig(seed=8100 + i, n_frames=12, lvid_d_mm=4.2 if mutant else 3.2,
                                    lvid_s_mm=2.4 if mutant else 2.0, bad_segments=())
        name = f"mouse{i:02d}.dcm"
        phantom.write(phantom.generate(cfg), folder / name)
        meta.append({"file": name, "mouse_id": f"M{i:02d}", "sex": "fm"[(i // 2) % 2],
                     "genotype": "het" if mutant else "wt", "body_mass_g": 20 + (7 * i) % 9})
    meta_path = write_csv(tmp_path / "meta.csv", meta)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(ROOT / "run4all.py"), "-i", str(folder), "-o", str(out), "-m", "25",
                             "-w", "all", "--metadata", str(meta_path), "--no-graphs", "--threshold", "0"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode in (0, 1), result.stderr  # 1: a recording failed, the statistics still ran
    statistics = out / "statistics" / "study"
    per_mouse = pd.read_csv(statistics / "per_mouse.csv")
    measured = per_mouse[per_mouse["n_beats"] > 0].groupby("genotype").size()
    assert measured.get("control", 0) >= 4 and measured.get("mutant", 0) >= 4, result.stderr
    models = pd.read_csv(statistics / "models.csv").set_index("parameter")
    assert models.loc["lvid;d", "effect"] > 0.3 and models.loc["lvid;d", "p"] < 0.05
    assert models.loc["lvid;d", "ci_low"] > 0
    tests = pd.read_csv(statistics / "tests.csv")
    for test in tests[tests["parameter"] == "lvid;d"].itertuples():
        assert test.median_mutant > test.median_control
    assert (out / "statistics" / "report.html").stat().st_size > 0
