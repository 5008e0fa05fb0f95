"""Stitching recovers the phantom's trace exactly (uncompressed) or to +-2 columns (JPEG)."""
import numpy as np
import pytest

import phantom
from mmode.dicom_io import read_frames
from mmode.errors import FramesDoNotOverlapError, RecordingTooShortError
from mmode.recording import load_recording
from mmode.stitch import find_shift
from helpers import rewrite_dicom

VARIANTS = {
    "rgb-explicit": dict(),
    "rgb-implicit": dict(implicit_vr=True),
    "monochrome2": dict(photometric="MONOCHROME2"),
    "jpeg-ybr422": dict(jpeg=True),
}


@pytest.mark.parametrize("mmode_index", [0, 1, 2])
@pytest.mark.parametrize("variant", VARIANTS)
def test_stitched_width_matches_truth(write_phantom, variant, mmode_index):
    path, ph, truth = write_phantom(seed=11, mmode_index=mmode_index, **VARIANTS[variant])
    image = load_recording(path).image
    assert image.shape[0] == ph.config.region_rows
    if VARIANTS[variant].get("jpeg"):
        assert abs(image.shape[1] - truth["stitched_width"]) <= 2
        assert np.abs(image[:, :1000] - ph.image[:, :1000]).mean() < 4  # lossy, but the same picture
    else:
        assert image.shape[1] == truth["stitched_width"]
        np.testing.assert_allclose(image, ph.image, atol=0.05)  # grey weights sum to 0.9999


def test_identical_frames_are_skipped(write_phantom):
    path, ph, truth = write_phantom(seed=12, duplicate_prob=0.4)
    assert 0 in np.diff(truth["frame_starts"])  # the phantom really repeats frames
    assert load_recording(path).image.shape[1] == truth["stitched_width"]


@pytest.mark.slow
def test_small_overlap_stitches_exactly(write_phantom):
    path, ph, truth = write_phantom(seed=13, shift_px=(850, 950))  # overlap 74-174 of 1024 columns
    np.testing.assert_allclose(load_recording(path).image, ph.image, atol=0.05)


@pytest.mark.slow
def test_frames_without_overlap_are_reported(write_phantom):
    path, _, _ = write_phantom(seed=14, shift_px=(1030, 1100))
    with pytest.raises(FramesDoNotOverlapError, match=r"rec\.dcm: frames 0 and 1 do not overlap"):
        load_recording(path)


def test_one_frame_is_too_short(write_phantom):
    path, _, _ = write_phantom(seed=15, n_frames=1)
    with pytest.raises(RecordingTooShortError, match="only one frame"):
        load_recording(path)


def test_find_shift_on_a_random_strip():
    rng = np.random.default_rng(0)
    strip = rng.integers(0, 256, size=(64, 400)).astype(np.uint8)
    assert find_shift(strip[:, :200], strip[:, 37:237]) == 37
    assert find_shift(strip[:, :200], strip[:, :200]) == 0
    assert find_shift(strip[:, :200], rng.integers(0, 256, size=(64, 200))) is None



def test_monochrome1_is_inverted(write_phantom, tmp_path):
    path, ph, _ = write_phantom(seed=16, photometric="MONOCHROME2")

    def invert(ds):
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.PixelData = (255 - np.frombuffer(ds.PixelData, np.uint8)).tobytes()

    image = load_recording(rewrite_dicom(path, tmp_path / "m1.dcm", invert)).image
    np.testing.assert_array_equal(image, ph.image)


def test_palette_colour_is_decoded(write_phantom, tmp_path):
    path, ph, _ = write_phantom(seed=16, photometric="MONOCHROME2")

    def palette(ds):  # a grey ramp stored as an 8-bit palette
        ds.PhotometricInterpretation = "PALETTE COLOR"
        lut = (np.arange(256, dtype=np.uint16) * 257).tobytes()
        for k in range(3):  # red, green, blue
            ds.add_new(0x00281101 + k, "US", [256, 0, 16])
            ds.add_new(0x00281201 + k, "OW", lut)

    image = load_recording(rewrite_dicom(path, tmp_path / "pal.dcm", palette)).image
    np.testing.assert_allclose(image, ph.image, atol=0.05)


def test_uncompressed_ybr_full_uses_luma(write_phantom, tmp_path):
    path, ph, _ = write_phantom(seed=16)

    def to_ybr(ds):
        from pydicom.pixels import convert_color_space

        rgb = np.frombuffer(ds.PixelData, np.uint8).reshape(ds.NumberOfFrames, ds.Rows, ds.Columns, 3)
        ds.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").tobytes()
        ds.PhotometricInterpretation = "YBR_FULL"

    image = load_recording(rewrite_dicom(path, tmp_path / "ybr.dcm", to_ybr)).image
    assert image.shape == ph.image.shape
    assert np.abs(image - ph.image).max() <= 1.0  # YBR rounding


def test_calibration_equals_what_the_phantom_wrote(write_phantom):
    for index in (0, 1, 2):
        path, _, truth = write_phantom(seed=11, mmode_index=index)
        cal = read_frames(path).calibration
        assert cal.seconds_per_px == pytest.approx(truth["seconds_per_px"], rel=1e-12)
        assert cal.mm_per_px == pytest.approx(truth["mm_per_px"], rel=1e-12)
        box = cal.region
        assert [box.x0, box.y0, box.x1, box.y1] == truth["region_box"]
        assert box.rows == 616 and box.cols == 1024


def test_phantom_is_deterministic_per_seed():
    a = phantom.generate(phantom.PhantomConfig(seed=3, n_frames=5))
    b = phantom.generate(phantom.PhantomConfig(seed=3, n_frames=5))
    c = phantom.generate(phantom.PhantomConfig(seed=4, n_frames=5))
    np.testing.assert_array_equal(a.image, b.image)
    assert a.beats == b.beats
    assert not np.array_equal(a.image[:, :500], c.image[:, :500])


def test_faint_jpeg_frames_of_a_probe_off_the_chest_still_stitch(write_phantom):
    """Frames 3 and 4 of this recording show little but JPEG noise: their best match was 0.17 of the
    typical mismatch (more than MAX_MATCH_RATIO) and the whole file failed to stitch."""
    path, ph, truth = write_phantom(seed=9, n_frames=16, jpeg=True, bad_segments=(("probe_off", 0.2, 1.0),))
    image = load_recording(path).image
    assert abs(image.shape[1] - truth["stitched_width"]) <= 2
    assert np.abs(image[:, -1000:] - ph.image[:, -1000:]).mean() < 4  # lossy, but the same picture after it
