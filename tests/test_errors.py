"""Bad input raises our specific exceptions, each naming the file."""
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from mmode.dicom_io import read_frames
from mmode.errors import (CalibrationError, CorruptFileError, EchoInputError, NoMModeRegionError,
                          NoPixelDataError, NotDicomError)
from mmode.recording import load_recording
from helpers import drop_mmode_region, rewrite_dicom, set_region


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "examples_palette.dcm", "examples_rgb_color.dcm"])
def test_pydicom_ultrasound_examples_have_no_mmode_region(name):
    path = get_testdata_file(name)
    with pytest.raises(NoMModeRegionError, match=name):
        read_frames(path)


def test_random_bytes_are_not_dicom(tmp_path):
    path = tmp_path / "noise.dcm"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(NotDicomError, match=r"noise\.dcm: not a DICOM file"):
        read_frames(path)


def test_empty_file_is_not_dicom(tmp_path):
    path = tmp_path / "empty.dcm"
    path.touch()
    with pytest.raises(NotDicomError, match="empty.dcm"):
        read_frames(path)


@pytest.mark.parametrize("fraction", [0.0005, 0.02, 0.5, 0.999])
def test_truncated_phantom(write_phantom, tmp_path, fraction):
    path, _, _ = write_phantom(seed=21)
    data = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(EchoInputError, match=r"cut\.dcm: ") as info:
        load_recording(cut)
    assert type(info.value) in (NotDicomError, CorruptFileError, NoMModeRegionError)


def test_truncated_pixel_data_is_corrupt(write_phantom, tmp_path):
    path, _, _ = write_phantom(seed=21)
    data = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptFileError, match=r"cut\.dcm: truncated file: PixelData \(7FE0,0010\) holds"):
        load_recording(cut)



def test_no_pixel_data(write_phantom, tmp_path):
    path, _, _ = write_phantom(seed=21)
    out = rewrite_dicom(path, tmp_path / "nopix.dcm", lambda ds: ds.__delattr__("PixelData"))
    with pytest.raises(NoPixelDataError, match=r"nopix\.dcm: DICOM file holds no pixel data"):
        read_frames(out)


def test_no_ultrasound_regions(write_phantom, tmp_path):
    path, _, _ = write_phantom(seed=21)
    out = rewrite_dicom(path, tmp_path / "noreg.dcm", lambda ds: ds.__delattr__("SequenceOfUltrasoundRegions"))
    with pytest.raises(NoMModeRegionError, match="no SequenceOfUltrasoundRegions"):
        read_frames(out)


def test_regions_without_mmode(write_phantom, tmp_path):
    path, _, _ = write_phantom(seed=21)
    with pytest.raises(NoMModeRegionError, match=r"found formats \[1, 4\]"):
        read_frames(rewrite_dicom(path, tmp_path / "nomm.dcm", drop_mmode_region))


@pytest.mark.parametrize("name, keyword, value, match", [
    ("units.dcm", "PhysicalUnitsYDirection", 2, r"units\.dcm: M-mode region units are \(4, 2\)"),  # %, not cm
    ("box.dcm", "RegionLocationMaxY1", 5000, "lies outside"),
])
def test_bad_mmode_region(write_phantom, tmp_path, name, keyword, value, match):
    path, _, _ = write_phantom(seed=21)
    with pytest.raises(CalibrationError, match=match):
        read_frames(rewrite_dicom(path, tmp_path / name, set_region(keyword, value)))
