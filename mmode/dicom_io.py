"""Read an ultrasound M-mode export: calibration and the frames of its M-mode region.

The M-mode region is found by its RegionSpatialFormat (not by its position in
SequenceOfUltrasoundRegions) and its units are checked: x in seconds, y in
centimetres.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmode import plausibility
from mmode.errors import (CalibrationError, CorruptFileError, EchoInputError, NoMModeRegionError,
                          NoPixelDataError, NotDicomError, UnsupportedPixelFormatError)
from mmode.tables import check_regular

log = logging.getLogger(__name__)

SPATIAL_FORMAT_MMODE = 2
UNITS_CM = 3
UNITS_SECONDS = 4
MM_PER_CM = 10.0
GREY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)  # the original's RGB -> grey


@dataclass(frozen=True)
class RegionBox:
    """Pixel box of a region in the frame; ``x1`` and ``y1`` are exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def rows(self) -> int:
        return self.y1 - self.y0

    @property
    def cols(self) -> int:
        return self.x1 - self.x0


@dataclass(frozen=True)
class Calibration:
    """How stitched-image pixels map to physical units."""

    seconds_per_px: float
    mm_per_px: float
    region: RegionBox


@dataclass
class Frames:
    """The M-mode region of every frame, not yet converted to grey.

    ``pixels`` has shape (n_frames, rows, cols, channels) and may be a view
    into the file's pixel buffer; ``channels`` is 1 (grey) or 3 (RGB).
    """

    path: Path
    calibration: Calibration
    pixels: np.ndarray
    colour: str = "grey"  # "grey", "rgb", or "ybr" (channel 0 is already the luma)
    inverted: bool = False  # MONOCHROME1: high values are dark

    def grey(self, frame: int, col_start: int = 0, col_stop: int | None = None) -> np.ndarray:
        """Grey values 0-255 (float32) of columns [col_start, col_stop) of one frame."""
        part = self.pixels[frame, :, col_start:col_stop]
        if self.colour == "rgb":
            grey = part @ GREY_WEIGHTS
        else:
            grey = part[..., 0].astype(np.float32)
        return 255.0 - grey if self.inverted else grey

    def luma(self, frame: int) -> np.ndarray:
        """A cheap grey proxy (green, luma or the only channel) for matching frames."""
        return self.pixels[frame, :, :, 1 if self.colour == "rgb" else 0]


def _mmode_region(ds, path: Path):
    regions = ds.get("SequenceOfUltrasoundRegions")
    if not regions:
        raise NoMModeRegionError(path, "no SequenceOfUltrasoundRegions (0018,6011): not a calibrated ultrasound export")
    mmode = [r for r in regions if r.get("RegionSpatialFormat") == SPATIAL_FORMAT_MMODE]
    if not mmode:
        formats = sorted({int(r.get("RegionSpatialFormat", 0)) for r in regions})
        raise NoMModeRegionError(path, f"no M-mode ultrasound region (RegionSpatialFormat 2); found formats {formats}")
    # Several M-mode regions happen on split screens: take the largest.
    return max(mmode, key=lambda r: (r.RegionLocationMaxX1 - r.RegionLocationMinX0)
               * (r.RegionLocationMaxY1 - r.RegionLocationMinY0))


def calibration(ds, path: Path) -> Calibration:
    """Calibration of the M-mode region of dataset ``ds`` read from ``path``."""
    region = _mmode_region(ds, path)
    try:
        units = (int(region.PhysicalUnitsXDirection), int(region.PhysicalUnitsYDirection))
        dx, dy = float(region.PhysicalDeltaX), float(region.PhysicalDeltaY)
        box = RegionBox(int(region.RegionLocationMinX0), int(region.RegionLocationMinY0),
                        int(region.RegionLocationMaxX1), int(region.RegionLocationMaxY1))
    except (AttributeError, TypeError, ValueError) as exc:
        raise CalibrationError(path, f"M-mode region lacks calibration attributes ({exc})") from None
    if units != (UNITS_SECONDS, UNITS_CM):
        raise CalibrationError(path, f"M-mode region units are {units} (x, y); expected (4 = seconds, 3 = cm)")
    rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    if not (0 <= box.x0 < box.x1 <= cols and 0 <= box.y0 < box.y1 <= rows):
        raise CalibrationError(path, f"M-mode region box {box} lies outside the {cols}x{rows} frame")
    cal = Calibration(seconds_per_px=dx, mm_per_px=dy * MM_PER_CM, region=box)
    plausibility.check_calibration(cal, path)
    return cal


def _native_view(ds, n: int) -> np.ndarray | None:
    """Zero-copy view of the ``n`` frames of uncompressed 8-bit RGB/grey pixel data, or None."""
    if ds.file_meta.TransferSyntaxUID.is_compressed or ds.BitsAllocated != 8:
        return None
    spp = int(ds.SamplesPerPixel)
    if ds.PhotometricInterpretation not in ("RGB", "MONOCHROME1", "MONOCHROME2"):
        return None
    if spp == 3 and int(ds.get("PlanarConfiguration", 0)) != 0:
        return None
    shape = (n, int(ds.Rows), int(ds.Columns), spp)
    data = np.frombuffer(ds.PixelData, dtype=np.uint8)
    if data.size < np.prod(shape):
        return None  # let pydicom report the length problem
    return data[:np.prod(shape)].reshape(shape)


def _decode_raw(ds) -> np.ndarray:
    """Decoded pixels without colour conversion (YBR stays YBR)."""
    from pydicom.pixels import pixel_array

    if ds.file_meta.TransferSyntaxUID.is_compressed:
        try:  # Pillow decodes baseline JPEG several times faster than the alternatives
            return pixel_array(ds, raw=True, decoding_plugin="pillow")
        except Exception:
            pass
    return pixel_array(ds, raw=True)


def _decoded(ds, path: Path, n: int) -> tuple[np.ndarray, str]:
    """All frames as (n, rows, cols, channels) uint8 and their colour space.

    YBR data stays YBR: its luma channel is the grey image we need, so no
    colour conversion is spent on it.
    """
    from pydicom.pixels import apply_color_lut

    photometric = str(ds.PhotometricInterpretation)
    if photometric not in ("RGB", "YBR_FULL", "YBR_FULL_422", "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"):
        raise UnsupportedPixelFormatError(path, f"photometric interpretation {photometric!r} is not supported")
    colour = "ybr" if photometric.startswith("YBR") else "rgb" if photometric in ("RGB", "PALETTE COLOR") else "grey"
    view = _native_view(ds, n)
    if view is not None:
        return view, colour
    try:
        arr = _decode_raw(ds)
    except Exception as exc:  # pydicom raises many types for damaged or unusual data
        raise CorruptFileError(path, f"pixel data cannot be decoded ({type(exc).__name__}: {exc})") from None
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    if arr.dtype != np.uint8:
        if int(ds.get("BitsStored", 8)) > 8 and photometric != "PALETTE COLOR":
            raise UnsupportedPixelFormatError(path, f"{ds.BitsStored}-bit pixels; expected 8-bit screenshots")
        arr = (arr >> 8).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
    if n == 1:
        arr = arr[None]
    if arr.ndim == 3:
        arr = arr[..., None]
    return arr, colour


def read_frames(path) -> Frames:
    """Read a DICOM M-mode export; return its calibration and M-mode region frames.

    Raises
    ------
    NotDicomError, CorruptFileError, NoPixelDataError, NoMModeRegionError,
    CalibrationError, UnsupportedPixelFormatError
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    check_regular(path, NotDicomError, "DICOM file")  # reading a FIFO would wait for a writer for ever
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path)
    except FileNotFoundError:
        raise NotDicomError(path, "file not found") from None
    except IsADirectoryError:
        raise NotDicomError(path, "is a folder, not a regular DICOM file") from None
    except InvalidDicomError:
        raise NotDicomError(path, "not a DICOM file (no DICM preamble)") from None
    except Exception as exc:
        raise CorruptFileError(path, f"damaged DICOM file ({type(exc).__name__}: {exc})") from None
    try:
        return _frames_of(ds, path, _truncation(ds, caught))
    except EchoInputError:
        raise
    except Exception as exc:  # pydicom parses lazily: a damaged element fails where it is first used
        raise CorruptFileError(path, f"damaged or inconsistent DICOM data ({type(exc).__name__}: "
                                     f"{str(exc)[:100]})") from None


def _truncation(ds, caught) -> str | None:
    """How the file was cut short, or None: pydicom keeps what it could read of a truncated file.

    An element whose value is shorter than its declared length is where the
    file ends; an encapsulated pixel data element without its end is another
    such place (pydicom warns about it).
    """
    from pydicom.dataelem import RawDataElement
    from pydicom.datadict import keyword_for_tag

    for tag in list(ds.keys()):
        raw = ds.get_item(tag)  # the element as read, not yet converted
        if (isinstance(raw, RawDataElement) and raw.value is not None and raw.length != 0xFFFFFFFF
                and len(raw.value) < raw.length):
            name = keyword_for_tag(tag) or "element"
            return f"{name} {tag} holds {len(raw.value)} of its {raw.length} bytes"
    if any("End of file reached" in str(warning.message) for warning in caught):
        return "the encapsulated pixel data has no end"
    return None


def _frames_of(ds, path: Path, truncated: str | None = None) -> Frames:
    if truncated is not None:
        raise CorruptFileError(path, f"truncated file: {truncated}")
    if "PixelData" not in ds:
        # A file cut exactly between two elements reads as complete: its image attributes give it away.
        hint = "; its image attributes are there, so the file is probably truncated" if "Rows" in ds else ""
        raise NoPixelDataError(path, f"DICOM file holds no pixel data (PixelData){hint}")
    cal = calibration(ds, path)
    n_frames = plausibility.check_frame_count(ds, path)
    pixels, colour = _decoded(ds, path, n_frames)
    if pixels.ndim != 4 or pixels.shape[-1] != (1 if colour == "grey" else 3) or 0 in pixels.shape:
        raise UnsupportedPixelFormatError(path, f"{ds.PhotometricInterpretation} pixels of shape {pixels.shape}; "
                                                "expected frames x rows x columns x samples (1 or 3)")
    box = cal.region
    if pixels.shape[1] < box.y1 or pixels.shape[2] < box.x1:
        raise CalibrationError(path, f"M-mode region {box} lies outside the {pixels.shape[2]}x{pixels.shape[1]} frame")
    region = pixels[:, box.y0:box.y1, box.x0:box.x1]
    plausibility.check_grey(region, colour, path)
    return Frames(path, cal, region, colour, inverted=str(ds.PhotometricInterpretation) == "MONOCHROME1")
