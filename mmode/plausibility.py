"""Is this a mouse M-mode recording at all? The checks made before anything is measured.

A DICOM file can be perfectly readable and still describe something no
scanner exports: a depth calibration of 1 cm per pixel (LVID;d of metres), an
M-mode region a few pixels high, a NumberOfFrames that disagrees with the pixel
data, or a colour photograph with an M-mode region added. Measuring such a
file gives numbers without meaning and exit status 0, so every check lives
here, before reading the pixels or right after, and fails with
:class:`mmode.errors.ImplausibleRecordingError` naming the file and the
reason with the limit that was broken.

The limits are wide on purpose: they bound what a small-animal scanner can
produce, not what a typical study holds (Vevo exports have 0.01-0.03 mm and
about 1 ms per pixel, regions of 300-700 rows).
"""
from __future__ import annotations

from io import BytesIO

import numpy as np

from mmode.errors import ImplausibleRecordingError

MM_PER_PX_RANGE = (0.001, 0.2)  # depth per pixel
DEPTH_MM_RANGE = (2.0, 60.0)  # depth shown by the M-mode region: a mouse heart is 3-8 mm across
SECONDS_PER_PX_RANGE = (1e-5, 0.005)  # at 0.005 s a beat of a mouse (600 bpm) still spans 20 columns
MIN_REGION_ROWS = 64  # fewer rows hold no ventricle the networks could find
MIN_REGION_COLS = 64  # two frames must share at least mmode.stitch.MIN_OVERLAP_PX columns
MAX_FRAMES = 100_000
COLOUR_CHROMA = 30  # grey levels of colour (max - min of R, G, B; or Cb, Cr off neutral) that count as colour
MAX_COLOUR_FRACTION = 0.02  # an M-mode trace is grey; markers and text may colour a few pixels


def _outside(value: float, limits: tuple[float, float]) -> bool:
    return not limits[0] <= value <= limits[1]  # also True for NaN


def check_calibration(calibration, path) -> None:
    """Calibration and region size within what a scanner exports (see the module's limits)."""
    mm, seconds, box = calibration.mm_per_px, calibration.seconds_per_px, calibration.region
    low, high = MM_PER_PX_RANGE
    if _outside(mm, MM_PER_PX_RANGE):
        raise ImplausibleRecordingError(path, f"implausible depth calibration {mm:g} mm per pixel (PhysicalDeltaY "
                                              f"{mm / 10:g} cm); expected {low:g}-{high:g} mm")
    if _outside(seconds, SECONDS_PER_PX_RANGE):
        raise ImplausibleRecordingError(path, f"implausible time calibration {seconds:g} s per pixel (PhysicalDeltaX); "
                                              f"expected {SECONDS_PER_PX_RANGE[0]:g}-{SECONDS_PER_PX_RANGE[1]:g} s")
    if box.rows < MIN_REGION_ROWS or box.cols < MIN_REGION_COLS:
        raise ImplausibleRecordingError(path, f"M-mode region of {box.cols}x{box.rows} pixels is too small; at least "
                                              f"{MIN_REGION_COLS}x{MIN_REGION_ROWS} needed")
    depth = box.rows * mm
    if _outside(depth, DEPTH_MM_RANGE):
        raise ImplausibleRecordingError(path, f"M-mode region shows {depth:.3g} mm of depth ({box.rows} rows of "
                                              f"{mm:g} mm); expected {DEPTH_MM_RANGE[0]:g}-{DEPTH_MM_RANGE[1]:g} mm")


def _declared_frames(ds, path) -> int:
    value = ds.get("NumberOfFrames", 1)
    try:
        n = int(str(value).strip() or 1)
    except (TypeError, ValueError):
        raise ImplausibleRecordingError(path, f"NumberOfFrames {value!r} is not a whole number") from None
    if not 1 <= n <= MAX_FRAMES:
        raise ImplausibleRecordingError(path, f"NumberOfFrames {n} is outside 1-{MAX_FRAMES}")
    return n


def check_frame_count(ds, path) -> int:
    """NumberOfFrames, checked against the pixel data; raises when they disagree."""
    from pydicom.encaps import parse_basic_offsets, parse_fragments

    n = _declared_frames(ds, path)
    data = ds.PixelData
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        buffer = BytesIO(data)
        try:
            offsets = parse_basic_offsets(buffer)
            fragments, _ = parse_fragments(buffer)
        except (ValueError, EOFError, OSError):  # pydicom reports the broken encapsulation when decoding
            return n
        if fragments < n or (offsets and len(offsets) != n):
            held = len(offsets) if offsets else fragments
            raise ImplausibleRecordingError(path, f"NumberOfFrames {n} does not match the pixel data, which holds "
                                                  f"{held} frames")
        return n
    frame_bytes = (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1))
                   * max(int(ds.get("BitsAllocated", 8)), 1)) // 8
    if frame_bytes == 0:
        raise ImplausibleRecordingError(path, f"frames of {ds.Columns}x{ds.Rows} pixels")
    held = len(data) // frame_bytes
    if len(data) >= frame_bytes * n and held != n:
        raise ImplausibleRecordingError(path, f"NumberOfFrames {n} does not match the pixel data, which holds "
                                              f"{held} frames")
    return n  # shorter data than declared: truncated, reported by the decoder


def check_grey(region: np.ndarray, colour: str, path) -> None:
    """An M-mode trace is grey: refuse a region that is a colour picture.

    Parameters
    ----------
    region : (frames, rows, cols, channels) uint8 pixels of the M-mode region, RGB or YBR.
    """
    if colour == "grey":
        return
    sample = region[::max(1, region.shape[0] // 4), ::4, ::4].astype(np.int16)
    if colour == "ybr":
        chroma = np.abs(sample[..., 1] - 128) + np.abs(sample[..., 2] - 128)
    else:
        chroma = sample.max(axis=-1) - sample.min(axis=-1)
    fraction = float(np.mean(chroma > COLOUR_CHROMA))
    if fraction > MAX_COLOUR_FRACTION:
        raise ImplausibleRecordingError(path, f"the M-mode region is a colour picture ({fraction:.0%} of its pixels "
                                              f"are coloured, at most {MAX_COLOUR_FRACTION:.0%} expected); an M-mode "
                                              "trace is grey")


def check_scrolls(n_frames: int, image, frame_cols: int, path) -> None:
    """A scrolling M-mode export's frames move: refuse frames that all show the same picture.

    Parameters
    ----------
    n_frames : frames in the file.
    image : (rows, width) the stitched image; as wide as one frame when no frame scrolled.
    frame_cols : columns of one frame's M-mode region.

    Blank frames do not scroll either; they are reported later, as an image without a heart.
    """
    blank = bool((image == image.flat[0]).all())
    if n_frames > 1 and image.shape[1] == frame_cols and not blank:
        raise ImplausibleRecordingError(path, f"none of its {n_frames} frames scrolls (all show the same "
                                              "picture): not a scrolling M-mode recording")
