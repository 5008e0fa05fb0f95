"""Small helpers shared by the tests."""
import importlib.util
from pathlib import Path

import numpy as np
import pydicom

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def load_tool(name: str):
    """tools/NAME.py as a module (tools is not a package)."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rewrite_dicom(source, target, change):
    """Copy a DICOM file, applying ``change(dataset)`` on the way; return ``target``."""
    ds = pydicom.dcmread(source)
    change(ds)
    ds.save_as(target, enforce_file_format=True)
    return target


# --- changes for rewrite_dicom: the ways the tests spoil a good recording ------------------------

def mmode_region(ds):
    """The M-mode region (RegionSpatialFormat 2) of a dataset's SequenceOfUltrasoundRegions."""
    return next(r for r in ds.SequenceOfUltrasoundRegions if r.RegionSpatialFormat == 2)


def set_region(keyword, value):
    """A change that sets ``keyword`` of the M-mode region to ``value``."""
    def change(ds):
        setattr(mmode_region(ds), keyword, value)
    return change


def set_frames(value):
    """A change that sets NumberOfFrames to ``value``."""
    def change(ds):
        ds.NumberOfFrames = value
    return change


def drop_mmode_region(ds):
    ds.SequenceOfUltrasoundRegions = [r for r in ds.SequenceOfUltrasoundRegions if r.RegionSpatialFormat != 2]


def blank_pixels(ds):
    ds.PixelData = bytes(len(ds.PixelData))


def colour_pixels(ds):
    pixels = ds.pixel_array.copy()
    pixels[..., 0] = 255 - pixels[..., 0]  # a colour picture, not a grey trace
    ds.PixelData = pixels.tobytes()


def log_probs(labels: np.ndarray, n_classes: int = 4, certain: float = 0.98) -> np.ndarray:
    """Confident class log-probabilities (n_classes, rows, width) from a label image, as a network's."""
    prob = np.full((n_classes, *labels.shape), (1 - certain) / (n_classes - 1), dtype=np.float32)
    for cls in range(n_classes):
        prob[cls][labels == cls] = certain
    return np.log(prob)
