"""Issue 14: tracing training labels in labelme and importing them (mmode.labelme_io).

The round trip: a phantom's true borders and bad stretches, clicked as a person would in labelme (a vertex
every 5-10 columns, one more wherever the line leaves the border by over half a pixel, clicks on a quarter
pixel grid), imported, give the true borders within 1 px and the bad stretches within one column; both
dataset builders accept the imported files, and the segmenter trains on them.
"""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

import phantom
from mmode.annotations import BORDER_COLUMNS, borders_path, read_borders
from mmode.labelme_io import (bad_shapes, border_index, export_recording, import_annotations, main, read_piece,
                              strip_rows)
from mmode.quality_annotations import merge, read_quality_annotations
from mmode.recording import load_recording

SEED = 2024
PIECE_PX = 700
CLICK_GRID_PX = 0.25  # labelme at 4x zoom: one screen pixel is a quarter of an image pixel
TOLERANCE_PX = 0.5  # the person adds a vertex where the drawn line leaves the border by more


def _click(value: float) -> float:
    return round(value / CLICK_GRID_PX) * CLICK_GRID_PX


def _person_vertices(row: np.ndarray, first: int, stop: int, rng) -> np.ndarray:
    """Columns a person clicks on to trace ``row`` over columns [first, stop)."""
    chosen = [first]
    while chosen[-1] < stop - 1:
        chosen.append(min(chosen[-1] + int(rng.integers(5, 11)), stop - 1))
    chosen = set(chosen)
    while True:
        columns = np.array(sorted(chosen))
        xy = np.stack([columns + 0.5, [_click(r + 0.5) for r in row[columns]]], axis=1)
        covered, rows = strip_rows(xy, 0)
        error = np.abs(rows - row[covered])
        if error.max() <= TOLERANCE_PX:
            return columns
        chosen.add(int(covered[np.argmax(error)]))


def _trace(json_path, ph, rng) -> int:
    """Draw the phantom's borders and bad stretches into an exported labelme file; return the vertices."""
    document = json.loads(json_path.read_text())
    meta = document["mmode"]
    offset, width, height = meta["column_offset"], document["imageWidth"], document["imageHeight"]
    shapes, vertices = [], 0
    for name, row in zip(("4", "anterior_endocardium", "posterior endocardium", "posterior_epicardium"), ph.borders):
        columns = _person_vertices(row, offset, offset + width, rng)
        points = [[c + 0.5 - offset, _click(row[c] + 0.5)] for c in columns]
        shapes.append({"label": name, "points": points, "group_id": None, "description": "",
                       "shape_type": "linestrip", "flags": {}, "mask": None})
        vertices += len(points)
    for shape in bad_shapes(ph.bad_intervals, meta["seconds_per_px"], offset, width, height):
        shape["points"] = [[_click(x), y] for x, y in shape["points"]]
        shapes.append(shape)
    document["shapes"] = shapes
    json_path.write_text(json.dumps(document))
    return vertices


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """A phantom recording (its own traces removed), exported in pieces, traced, imported."""
    root = tmp_path_factory.mktemp("labelme")
    # 1.4 s: four segmentation windows before the bad stretch, and a good stretch after it.
    ph = phantom.generate(phantom.PhantomConfig(seed=SEED, n_frames=8, bad_segments=(("probe_off", 0.95, 0.3),)))
    dicom = phantom.write(ph, root / "study" / "rec.dcm")
    borders_path(dicom).unlink()
    labels = export_recording(dicom, root / "labels", piece_px=PIECE_PX)
    rng = np.random.default_rng(SEED)
    vertices = sum(_trace(path, ph, rng) for path in labels)
    written, quality = import_annotations([root / "labels"], root / "study")
    return ph, dicom, labels, written, quality, vertices


def test_export_writes_pieces_with_their_columns(traced):
    ph, dicom, labels, *_ = traced
    assert [p.name for p in labels] == [f"rec_c{c:05d}.json" for c in range(0, ph.width, PIECE_PX)]
    first = json.loads(labels[0].read_text())
    assert first["imagePath"] == "rec_c00000.png" and first["imageData"] is None
    rows = load_recording(dicom).image.shape[0]
    with Image.open(labels[0].with_suffix(".png")) as image:
        assert image.size == (first["imageWidth"], first["imageHeight"]) == (PIECE_PX, rows)
    assert first["mmode"]["recording"] == "rec.dcm" and first["mmode"]["stitched_width"] == ph.width
    assert set(first) >= {"version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"}


def test_imported_borders_are_the_true_borders_within_one_pixel(traced):
    ph, dicom, labels, written, _, vertices = traced
    assert written == [borders_path(dicom)]
    imported = read_borders(written[0])
    assert imported.shape == ph.borders.shape and not np.isnan(imported).any()
    error = np.abs(imported - ph.borders)
    # Measured (seeds 2024, 1, 7, 11, 99): max 0.50 px, median 0.08-0.09 px, a vertex every 5.7-6.2 columns.
    assert error.max() < 1.0, error.max()
    assert np.median(error) < 0.15
    assert ph.width * len(BORDER_COLUMNS) / vertices > 5


def test_imported_bad_stretches_are_the_true_ones_within_one_column(traced):
    ph, dicom, _, _, quality, _ = traced
    annotation = read_quality_annotations(quality)["rec"]
    dt, duration = ph.config.seconds_per_px, ph.width * ph.config.seconds_per_px
    truth = [(max(a, 0.0), min(b, duration)) for a, b in merge(ph.bad_intervals) if a < duration]
    assert len(annotation.bad_s) == len(truth) > 0
    assert np.abs(np.array(annotation.bad_s) - np.array(truth)).max() <= dt
    good = np.array(annotation.good_s)
    assert good[0, 0] == 0 and abs(good[-1, 1] - duration) <= dt


@pytest.fixture(scope="module")
def datasets(traced, tmp_path_factory):
    """Both datasets built from the imported files: exit statuses and roots."""
    from heart_segmentation import create_dataset as seg_dataset
    from quality_classification import create_dataset as quality_dataset

    _, dicom, _, _, quality, _ = traced
    root = tmp_path_factory.mktemp("datasets")
    codes = [builder.main(["-i", str(dicom.parent), "-o", str(root / name), "-a", str(quality)])
             for builder, name in ((seg_dataset, "seg"), (quality_dataset, "quality"))]
    return codes, root / "seg", root / "quality"


def test_both_datasets_build_from_the_import(datasets):
    codes, seg, quality = datasets
    assert codes == [0, 0]
    windows = sorted(p.name for p in (seg / "img").glob("*.png"))
    assert len(windows) == 4 and windows == sorted(p.name for p in (seg / "mask").glob("*.png"))
    assert list((quality / "npys" / "good").glob("*.npy")) and list((quality / "npys" / "bad").glob("*.npy"))


@pytest.mark.slow
def test_the_segmenter_trains_on_the_import(datasets, tmp_path):
    from heart_segmentation import train as seg_train

    _, seg, _ = datasets
    assert seg_train.main(["-d", str(seg), "-e", "1", "-b", "2", "-p", "64", "--filters", "4", "-v", "0",
                           "--threads", "1", "-o", str(tmp_path / "run")]) == 0
    assert list((tmp_path / "run").rglob("*.pt"))


# --- coordinates ------------------------------------------------------------------------------------------------

def test_a_strip_names_pixel_centres_and_covers_the_columns_it_passes_over():
    # labelme x = 2.5 is the centre of column 2, y = 10.5 the centre of row 10.
    columns, rows = strip_rows(np.array([[2.5, 10.5], [6.5, 14.5]]), column_offset=100)
    assert columns.tolist() == [102, 103, 104, 105, 106]
    assert rows.tolist() == [10.0, 11.0, 12.0, 13.0, 14.0]


def test_a_strip_from_edge_to_edge_covers_every_column():
    columns, rows = strip_rows(np.array([[0.0, 5.0], [8.0, 5.0]]), column_offset=0)
    assert columns.tolist() == list(range(8)) and np.all(rows == 4.5)


def test_expert_numbers_and_spellings_name_the_borders():
    assert [border_index(x) for x in ("4", "3", "1", "2")] == [0, 1, 2, 3]
    assert border_index("Posterior Endocardium") == 2 and border_index("anterior-epicardium") == 0
    assert border_index("bad") == -1 and border_index("cavity") is None


# --- files a person gets wrong: one line naming the file and the problem, exit 2 --------------------------

@pytest.fixture
def piece(traced, tmp_path):
    """A copy of the first traced labelme file, to break."""
    source = traced[2][0]
    shutil.copy(source, tmp_path / source.name)
    return tmp_path / source.name


def _edit(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _import_error(path, capsys) -> str:
    code = main(["import", str(path), "-o", str(path.parent / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: {path}: labelme file: ")
    return err[0]


def test_a_right_to_left_strip_reads_as_left_to_right(piece):
    _edit(piece, lambda d: d["shapes"][0]["points"].reverse())
    assert read_piece(piece).lines[0][0][1][0, 0] < read_piece(piece).lines[0][0][1][-1, 0]


def test_unknown_label(piece, capsys):
    _edit(piece, lambda d: d["shapes"][1].update(label="anterior_endocardiun"))
    assert "shape 2 ('anterior_endocardiun'): unknown label" in _import_error(piece, capsys)


def test_border_drawn_as_polygon(piece, capsys):
    _edit(piece, lambda d: d["shapes"][0].update(shape_type="polygon"))
    assert "draw borders as line strips" in _import_error(piece, capsys)


def test_a_line_that_goes_back_in_time(piece, capsys):
    _edit(piece, lambda d: d["shapes"][0]["points"].insert(3, [0.5, 100.0]))
    assert "goes back in time at point 4" in _import_error(piece, capsys)


def test_two_strips_of_one_border_over_the_same_columns(piece, capsys):
    _edit(piece, lambda d: d["shapes"].append(dict(d["shapes"][0])))
    assert "both trace anterior_epicardium in column 0" in _import_error(piece, capsys)


def test_a_file_not_exported_by_us(piece, capsys):
    _edit(piece, lambda d: d.pop("mmode"))
    assert "no 'mmode' entry" in _import_error(piece, capsys)


def test_not_json(piece, capsys):
    piece.write_text('{"version": "5.5.0",\n "shapes": [}')
    assert "line 2, column" in _import_error(piece, capsys)


def test_the_same_piece_twice(piece, capsys):
    shutil.copy(piece, piece.with_name("copy.json"))
    code = main(["import", str(piece.parent), "-o", str(piece.parent / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0] == f"error: {piece}: labelme file: its columns are also those of copy.json (exported twice?)"


def test_export_keeps_traced_files(traced, capsys):
    ph, dicom, labels, *_ = traced
    before = labels[0].read_text()
    code = main(["export", str(dicom), "-o", str(labels[0].parent), "--piece-px", str(PIECE_PX)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"error: {labels[0]}: labelme file exists (traced already?): import it, move it "
                                 "away, or export with --overwrite"]
    assert labels[0].read_text() == before


def test_import_keeps_other_recordings_quality_rows(traced, tmp_path):
    annotations = tmp_path / "quality_annotations.csv"
    annotations.write_text("Recording,Good-Start,Good-End,Bad-Start,Bad-End\nother.dcm,0 1,0.5 2,0.5,1\n"
                           "rec.dcm,0,9,,\n", encoding="utf-8")
    import_annotations(traced[2], tmp_path, annotations)
    rows = read_quality_annotations(annotations)
    assert list(rows) == ["other", "rec"] and rows["other"].bad_s == ((0.5, 1.0),)
    assert rows["rec"].bad_s != ()
