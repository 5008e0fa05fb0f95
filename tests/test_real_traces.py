"""The real, expert-annotated example in tests/data/real is consistent, and is what
tools/extract_real_traces.py makes from the annotated screenshot (MMODE_REAL_EXAMPLES names the
folder holding it; those tests are skipped where it is absent)."""
from __future__ import annotations

import csv
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).parent / "data" / "real"
TRACES_CSV = DATA / "annotated_borders.borders.csv"
GREY_PNG = DATA / "annotated_borders.png"
SCRIPT = Path(__file__).parent.parent / "tools" / "extract_real_traces.py"
SOURCE = Path(os.environ.get("MMODE_REAL_EXAMPLES", "/work/shared/reference/real_examples")) / "annotated_borders.png"

BORDERS = ("anterior_epicardium", "anterior_endocardium", "posterior_endocardium", "posterior_epicardium")
N_ROWS, N_COLUMNS = 1236, 1926
MAX_STEP_PX = 40
MIN_COVERAGE = 0.9
SIDE_PX = 6  # a yellow line is 4-8 px thick: 6 px away is beside it
MAX_LINE_CONTRAST = 30  # median grey at a trace minus beside it: 100-175 with the yellow line in, 14 on
# the pericardium, whose own bright echo shows again under the line's unmixed edges (-2.5 to 0 elsewhere)

needs_source = pytest.mark.skipif(not SOURCE.is_file(), reason=f"{SOURCE} is absent (set MMODE_REAL_EXAMPLES)")


def read_borders(path: Path = TRACES_CSV) -> np.ndarray:
    """The CSV as shape (4, columns), NaN where a border is not traced; checks header and columns."""
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["column", *BORDERS]
    assert [int(row[0]) for row in rows[1:]] == list(range(len(rows) - 1))
    return np.array([[float(cell) if cell else np.nan for cell in row[1:]] for row in rows[1:]]).T


@pytest.fixture(scope="module")
def borders() -> np.ndarray:
    return read_borders()


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    with Image.open(GREY_PNG) as image:
        assert image.mode == "L"
        return np.asarray(image)


@pytest.fixture(scope="module")
def extract():
    """tools/extract_real_traces.py as a module (tools is not a package)."""
    pytest.importorskip("skimage")
    spec = importlib.util.spec_from_file_location("extract_real_traces", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_a_row_per_image_column(borders):
    assert borders.shape == (len(BORDERS), N_COLUMNS)
    assert np.nanmin(borders) >= 0 and np.nanmax(borders) <= N_ROWS - 1


def test_every_border_covers_most_of_the_width(borders):
    traced = ~np.isnan(borders)
    assert (traced.sum(axis=1) >= MIN_COVERAGE * N_COLUMNS).all()
    assert 110 <= np.argmax(traced[2]) <= 140  # the expert starts the posterior endocardium near column 130


def test_traces_are_continuous(borders):
    for trace in borders:
        traced = np.flatnonzero(~np.isnan(trace))
        assert traced[-1] - traced[0] + 1 == traced.size  # no gaps
        assert np.abs(np.diff(trace[traced])).max() < MAX_STEP_PX


def test_borders_are_ordered_top_to_bottom(borders):
    for upper in range(len(BORDERS)):
        for lower in range(upper + 1, len(BORDERS)):
            both = ~np.isnan(borders[upper]) & ~np.isnan(borders[lower])
            assert both.any()
            assert (borders[upper, both] < borders[lower, both]).all(), (BORDERS[upper], BORDERS[lower])


def test_grey_image_is_full_size(grey):
    assert grey.shape == (N_ROWS, N_COLUMNS) and grey.dtype == np.uint8


def test_no_line_is_left_in_the_grey_image(borders, grey):
    for name, trace in zip(BORDERS, borders):
        columns = np.flatnonzero(~np.isnan(trace))
        rows = np.rint(trace[columns]).astype(int)
        on_line = grey[rows, columns].astype(float)
        beside = (grey[np.clip(rows - SIDE_PX, 0, N_ROWS - 1), columns].astype(float)
                  + grey[np.clip(rows + SIDE_PX, 0, N_ROWS - 1), columns]) / 2
        assert np.median(on_line - beside) < MAX_LINE_CONTRAST, name


@needs_source
def test_extraction_reproduces_the_committed_files(extract, tmp_path, borders, grey):
    assert extract.main(["--source", str(SOURCE), "--output", str(tmp_path)]) == 0
    again = read_borders(tmp_path / TRACES_CSV.name)
    np.testing.assert_array_equal(np.isnan(again), np.isnan(borders))
    np.testing.assert_allclose(again, borders, rtol=0, atol=1e-6, equal_nan=True)
    with Image.open(tmp_path / GREY_PNG.name) as image:
        np.testing.assert_array_equal(np.asarray(image), grey)


@needs_source
def test_grey_image_keeps_every_unannotated_pixel(extract, grey):
    rgb = extract.read_rgb(SOURCE)
    drawing = extract.find_drawing(rgb)
    untouched = ~drawing.footprint & ~drawing.label_boxes
    assert untouched.mean() > 0.95
    np.testing.assert_array_equal(grey[untouched], rgb[..., 0][untouched])


def test_grey_under_the_edge_of_a_line_is_recovered(extract):
    """A line's anti-aliased edge, (1 - a) * grey + a * yellow in 8 bits, unmixes to the grey under it
    to within its rounding, which 1 / (1 - a) amplifies."""
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, size=(60, 80)).astype(np.float64)
    coverage = rng.uniform(0.0, extract.MAX_UNMIXED_COVERAGE, size=grey.shape)
    drawn = (1 - coverage[..., None]) * grey[..., None] + coverage[..., None] * np.asarray(extract.LINE_RGB)
    rgb = np.rint(drawn).astype(np.uint8)
    channels = rgb.astype(np.int16)
    yellowness = np.clip(np.minimum(channels[..., 0], channels[..., 1]) - channels[..., 2], 0, None)
    found = extract.line_coverage(yellowness)
    assert np.abs(found - coverage).max() < 0.01
    error = np.abs(extract.unmix(rgb, found) - grey)
    assert np.median(error) < 0.5 and error.max() < 4.0  # today 0.29 and 3.4 grey levels
    assert np.median(np.abs(channels[..., 1] - grey)) > 25  # the green channel as it is: 33
