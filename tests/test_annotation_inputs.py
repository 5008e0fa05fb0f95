"""Issue 14: wrong annotation inputs to the dataset builders are one line naming the file and the problem,
and exit status 2; what is right but unusual (Excel's byte-order mark, Latin-1, DICOM files without
``.dcm``, columns in another order) is read."""
import shutil

import numpy as np
import pytest

import phantom
from heart_segmentation import create_dataset as seg_dataset
from mmode.annotations import BORDER_COLUMNS, borders_path, read_borders
from mmode.errors import AnnotationError
from mmode.quality_annotations import read_quality_annotations
from quality_classification import create_dataset as quality_dataset

HEADER = "Recording,Good-Start,Good-End,Bad-Start,Bad-End\n"
GOOD_ROW = "rec.dcm,0 1.25,0.95 1.4,0.95,1.25\n"  # the fixture's recording: 1.4 s, bad 0.95-1.25 s


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A 1.4 s phantom recording with its border traces; bad from 0.95 to 1.25 s."""
    ph = phantom.generate(phantom.PhantomConfig(seed=2024, n_frames=8, bad_segments=(("probe_off", 0.95, 0.3),)))
    return phantom.write(ph, tmp_path_factory.mktemp("source") / "rec.dcm")


@pytest.fixture
def study(source, tmp_path):
    """A folder with a copy of the recording and its traces."""
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(source, folder / source.name)
    shutil.copy(borders_path(source), borders_path(folder / source.name))
    return folder


def _annotations(folder, text: str, encoding="utf-8", name="quality.csv"):
    path = folder.parent / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def _build(builder, study, annotations, capsys, *extra):
    argv = ["-i", str(study), "-o", str(study.parent / "out")]
    argv += ["-a", str(annotations)] if annotations else []
    code = builder.main(argv + list(extra))
    lines = capsys.readouterr().err.splitlines()
    assert not any("Traceback" in line for line in lines)
    return code, [line for line in lines if line.startswith(("error:", "warning:"))]


def _one_error(builder, study, annotations, capsys, *extra) -> str:
    code, lines = _build(builder, study, annotations, capsys, *extra)
    errors = [line for line in lines if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, lines
    return errors[0]


BOTH = pytest.mark.parametrize("builder", [seg_dataset, quality_dataset], ids=["segmentation", "quality"])


# --- quality annotations ------------------------------------------------------------------------------------

@BOTH
def test_excel_byte_order_mark_is_read(builder, study, capsys):
    annotations = _annotations(study, "\ufeff" + HEADER + GOOD_ROW, encoding="utf-8")
    assert _build(builder, study, annotations, capsys)[0] == 0


def test_latin1_names_are_read(tmp_path):
    path = _annotations(tmp_path, HEADER + "souris_\u00e9t\u00e9.dcm,0,1,,\n", encoding="latin-1")
    assert list(read_quality_annotations(path)) == ["souris_\u00e9t\u00e9"]


def test_bytes_that_are_no_text(study, capsys):
    annotations = _annotations(study, (HEADER + GOOD_ROW).encode() + b"\x00\x01\x02\n")
    assert "line 3: holds a NUL character" in _one_error(seg_dataset, study, annotations, capsys)


@BOTH
def test_semicolon_separated_export(builder, study, capsys):
    annotations = _annotations(study, HEADER.replace(",", ";") + GOOD_ROW.replace(",", ";"))
    line = _one_error(builder, study, annotations, capsys)
    assert line.startswith(f"error: {annotations}: quality annotations: line 1:") and "semicolons" in line


@BOTH
def test_missing_column(builder, study, capsys):
    annotations = _annotations(study, "Recording,Good-Start,Good-End,Bad-Start\nrec.dcm,0,1.4,\n")
    assert "line 1: no column 'Bad-End'" in _one_error(builder, study, annotations, capsys)


def test_unknown_column(study, capsys):
    annotations = _annotations(study, HEADER.strip() + ",Notes\n" + GOOD_ROW.strip() + ",ok\n")
    assert "line 1: unknown column 'Notes'" in _one_error(quality_dataset, study, annotations, capsys)


def test_row_with_an_extra_cell(study, capsys):
    annotations = _annotations(study, HEADER + GOOD_ROW.strip() + ",1.3\n")
    assert "line 2: 6 cells, the header has 5" in _one_error(seg_dataset, study, annotations, capsys)


@BOTH
def test_unequal_start_and_end_lists(builder, study, capsys):
    annotations = _annotations(study, HEADER + "rec.dcm,0 1.25,0.95,0.95,1.25\n")
    assert "line 2: 2 times in Good-Start but 1 in Good-End" in _one_error(builder, study, annotations, capsys)


def test_time_that_is_not_a_number(study, capsys):
    annotations = _annotations(study, HEADER + "rec.dcm,0,\"0,95\",,\n")
    line = _one_error(quality_dataset, study, annotations, capsys)
    assert "line 2, column Good-End: '0,95' is not a number of seconds (use a decimal point" in line


def test_interval_that_ends_before_it_starts(study, capsys):
    annotations = _annotations(study, HEADER + "rec.dcm,0.9,0.2,,\n")
    assert "interval 1 ends (0.2 s) before it starts (0.9 s)" in _one_error(seg_dataset, study, annotations, capsys)


def test_good_overlapping_bad(study, capsys):
    annotations = _annotations(study, HEADER + "rec.dcm,0,1.4,0.95,1.25\n")
    assert "line 2: good 0-1.4 s overlaps bad 0.95-1.25 s" in _one_error(seg_dataset, study, annotations, capsys)


def test_recording_annotated_twice(study, capsys):
    annotations = _annotations(study, HEADER + GOOD_ROW + "rec,0,1,,\n")
    assert "line 3: recording 'rec' is already annotated on line 2" in \
        _one_error(quality_dataset, study, annotations, capsys)


@BOTH
def test_interval_after_the_end_of_the_recording(builder, study, capsys):
    annotations = _annotations(study, HEADER + "rec.dcm,0 1.25,0.95 14,0.95,1.25\n")
    line = _one_error(builder, study, annotations, capsys)
    assert line.startswith(f"error: {annotations}: quality annotations: line 2, column Good-End: 14 s is after the "
                           "end of rec.dcm (1.4")


@BOTH
def test_names_without_a_recording_are_named(builder, study, capsys):
    annotations = _annotations(study, HEADER + GOOD_ROW + "rec_typo.dcm,0,1,,\n")
    code, lines = _build(builder, study, annotations, capsys)
    assert code == 0 and lines == [f"warning: {annotations}: line 3: recording 'rec_typo.dcm' has no DICOM file in "
                                   f"{study}; ignored"]


@BOTH
def test_no_name_matches_a_recording(builder, study, capsys):
    annotations = _annotations(study, HEADER + GOOD_ROW.replace("rec.dcm", "Rec1.dcm"))
    assert "none of its 1 recordings is in" in _one_error(builder, study, annotations, capsys)


def test_segmentation_skips_a_recording_without_a_quality_row(study, capsys):
    shutil.copy(study / "rec.dcm", study / "other.dcm")
    shutil.copy(borders_path(study / "rec.dcm"), borders_path(study / "other.dcm"))
    code, lines = _build(seg_dataset, study, _annotations(study, HEADER + GOOD_ROW), capsys)
    assert code == 0 and lines == [f"warning: {study / 'other.dcm'}: no row in {study.parent / 'quality.csv'}; "
                                   "skipped"]
    assert not list((study.parent / "out" / "img").glob("other_*"))


# --- recordings and folders --------------------------------------------------------------------------------

@BOTH
def test_dicom_without_extension_is_read_as_run4all_reads_it(builder, study, capsys):
    (study / "rec.dcm").rename(study / "rec")
    assert _build(builder, study, _annotations(study, HEADER + GOOD_ROW), capsys) == (0, [])


@BOTH
def test_missing_folder(builder, study, capsys):
    line = _one_error(builder, study.parent / "stdy", _annotations(study, HEADER + GOOD_ROW), capsys)
    assert line == f"error: {study.parent / 'stdy'}: no such folder of DICOM recordings"


@BOTH
def test_folder_without_recordings(builder, study, capsys):
    empty = study.parent / "empty"
    empty.mkdir()
    assert "holds no DICOM recording" in _one_error(builder, empty, _annotations(study, HEADER + GOOD_ROW), capsys)


@BOTH
def test_dataset_without_a_window(builder, study, capsys):
    annotations = _annotations(study, HEADER + "rec.dcm,0,0.2,,\n")  # annotated: 0.2 s, shorter than any window
    line = _one_error(builder, study, annotations, capsys)
    assert line.startswith(f"error: {annotations}: ") and "no window for the dataset" in line


def test_quality_windows_are_not_centred_by_the_network_unasked(study, capsys):
    borders_path(study / "rec.dcm").unlink()
    line = _one_error(quality_dataset, study, _annotations(study, HEADER + GOOD_ROW), capsys)
    assert line.startswith(f"error: {borders_path(study / 'rec.dcm')}: no border traces") and \
        "heart_segmentation.trace" in line


def test_the_segmenter_traces_untraced_recordings_for_the_quality_builder(study, source, tmp_path):
    from heart_segmentation import trace

    traces = borders_path(study / "rec.dcm")
    traces.unlink()
    assert trace.main(["-i", str(study)]) == 0
    truth, traced = read_borders(borders_path(source)), read_borders(traces)
    good = slice(0, int(traced.shape[1] * 0.6))  # before the probe comes off the chest at 0.95 s of 1.4 s
    errors = np.nanmedian(np.abs(traced[:, good] - truth[:, good]), axis=1)  # rows, per border
    assert (errors[1:] < 5).all()  # the endocardia and the posterior epicardium (3.5 rows at most today)
    assert errors[0] < 60  # the anterior epicardium is the shipped segmenter's weak border (45 rows here)
    assert quality_dataset.main(["-i", str(study), "-o", str(tmp_path / "q"), "-a",
                                 str(_annotations(study, HEADER + GOOD_ROW))]) == 0
    traces.write_text(traces.read_text().replace("column", "column", 1))  # kept without --replace
    before = traces.stat().st_mtime_ns
    assert trace.main(["-i", str(study)]) == 0 and traces.stat().st_mtime_ns == before


# --- border traces --------------------------------------------------------------------------------------------

def _rewrite_borders(study, change):
    path = borders_path(study / "rec.dcm")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")
    return path


def test_border_columns_are_read_by_name(study):
    path = borders_path(study / "rec.dcm")
    before = read_borders(path)
    _rewrite_borders(study, lambda lines: [",".join(reversed(line.split(","))) for line in lines])
    assert np.array_equal(read_borders(path), before, equal_nan=True)


def test_border_file_without_a_border_column(study, capsys):
    path = _rewrite_borders(study, lambda lines: [",".join(line.split(",")[:4]) for line in lines])
    line = _one_error(seg_dataset, study, None, capsys)
    assert line.startswith(f"error: {path}: border traces: line 1: no column 'posterior_epicardium'")


def test_border_that_is_not_a_number(study, capsys):
    path = _rewrite_borders(study, lambda lines: lines[:3] + [lines[3].replace(",", ",x", 1)] + lines[4:])
    line = _one_error(seg_dataset, study, None, capsys)
    assert line.startswith(f"error: {path}: border traces: line 4, column {BORDER_COLUMNS[0]}: 'x")


def test_border_column_given_twice(study, capsys):
    path = _rewrite_borders(study, lambda lines: lines[:3] + [lines[2]] + lines[3:])
    assert f"error: {path}: border traces: column 1 occurs twice (lines 3 and 4)" == \
        _one_error(seg_dataset, study, None, capsys)


def test_border_traces_of_a_longer_recording(study, capsys):
    path = _rewrite_borders(study, lambda lines: lines + ["9000,100,150,300,350,"])
    line = _one_error(seg_dataset, study, None, capsys)
    assert line.startswith(f"error: {path}: border traces: column 9000 is traced but the recording has only")


def test_partly_traced_windows_are_left_out(study, capsys):
    path = _rewrite_borders(study, lambda lines: lines[:701] + [line.split(",")[0] + ",,,,," for line in lines[701:]])
    code, lines = _build(seg_dataset, study, None, capsys)
    assert code == 0 and lines == []
    assert [p.name for p in (study.parent / "out" / "img").glob("*.png")] == ["rec_00000.png"]
    assert np.isnan(read_borders(path)[:, 700:]).all()


def test_read_borders_raises_annotation_error(tmp_path):
    path = tmp_path / "x.borders.csv"
    path.write_text("column,anterior_epicardium,anterior_endocardium,posterior_endocardium,posterior_epicardium\n"
                    "-3,1,2,3,4\n")
    with pytest.raises(AnnotationError, match=r"line 2, column column: -3 is outside"):
        read_borders(path)


def test_builders_pick_the_files_run4all_picks(source, tmp_path):
    import run4all
    from mmode.recording import find_recordings

    for name in ("a.dcm", "B.DCM", "c", ".hidden.dcm"):
        shutil.copy(source, tmp_path / name)
    (tmp_path / "notes").write_text("not DICOM")
    (tmp_path / "folder.dcm").mkdir()
    assert find_recordings(tmp_path) == run4all.find_recordings(tmp_path) == \
        [tmp_path / "B.DCM", tmp_path / "a.dcm", tmp_path / "c"]
