"""Bounded mutation fuzzing of the DICOM reader and stitcher.

    python tools/fuzz_reader.py --seconds 60 [--seed 0]

Mutates a small valid phantom and runs mmode.recording.load_recording on each
case. Two kinds of mutation: bytes (flips, overwrites with special values,
truncation, inserted and deleted runs; mostly in the header where the parser
lives), and attributes (NumberOfFrames, Rows, the M-mode region's box and
calibration, the pixel format set to zero, negative, huge, NaN or implausible
values, written as a valid DICOM file), which reach the plausibility checks
behind the parser. Each case is saved under a file name drawn from awkward
ones (bytes that are not UTF-8, a newline, ``$``, blanks).

Our own EchoInputError subclasses are the expected outcome for broken input,
with a message on one printable line; any other exception, or a message with a
line break or characters no UTF-8 file takes, is a crash. Prints iterations,
outcomes, the slowest case and crashes; exit status 1 when any crash was found
(each saved under --crashes).
"""
from __future__ import annotations

import collections
import io
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import phantom
from mmode.errors import EchoInputError
from mmode.recording import load_recording
from fuzzing import keep_crash, parse_arguments, summary  # tools/fuzzing.py, beside this script

NAMES = ["case.dcm", os.fsdecode(b"cas\xe9_latin1.dcm"), "two\nlines.dcm", "price $5 $x$.dcm", " blank .dcm"]
ATTRIBUTES = ["NumberOfFrames", "Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored",
              "PlanarConfiguration", "PhotometricInterpretation"]
REGION_ATTRIBUTES = ["PhysicalDeltaX", "PhysicalDeltaY", "RegionLocationMinX0", "RegionLocationMinY0",
                     "RegionLocationMaxX1", "RegionLocationMaxY1", "PhysicalUnitsXDirection",
                     "PhysicalUnitsYDirection", "RegionSpatialFormat"]
VALUES = [0, 1, 2, 3, -1, -3, 7, 65535, 2 ** 31 - 1, 0.999, 1e-9, 1e9, float("nan"), float("inf"), "", "RGB",
          "YBR_FULL", "MONOCHROME1", "PALETTE COLOR", "XYZ"]
SPECIAL = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"DICM", b"\xfe\xff\x00\xe0"]


def mutate(data: bytes, rng: np.random.Generator, header_bytes: int) -> bytes:
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        limit = header_bytes if rng.random() < 0.85 else len(buf)
        pos = int(rng.integers(0, max(min(limit, len(buf)), 1)))
        kind = rng.integers(0, 5)
        if kind == 0:
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            value = SPECIAL[int(rng.integers(0, len(SPECIAL)))]
            buf[pos:pos + len(value)] = value
        elif kind == 2:
            del buf[pos:pos + int(rng.integers(1, 64))]
        elif kind == 3:
            buf[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        else:
            del buf[int(rng.integers(0, len(buf))):]
    return bytes(buf)


def mutate_attributes(data: bytes, rng: np.random.Generator) -> bytes | None:
    """``data`` with one to three attributes set to special values, or None if pydicom cannot write that."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    regions = [r for r in ds.SequenceOfUltrasoundRegions if r.get("RegionSpatialFormat") == 2]
    for _ in range(int(rng.integers(1, 4))):
        value = VALUES[int(rng.integers(0, len(VALUES)))]
        try:
            if regions and rng.random() < 0.6:
                setattr(regions[0], REGION_ATTRIBUTES[int(rng.integers(0, len(REGION_ATTRIBUTES)))], value)
            else:
                setattr(ds, ATTRIBUTES[int(rng.integers(0, len(ATTRIBUTES)))], value)
        except (ValueError, TypeError, OverflowError):
            continue
    out = io.BytesIO()
    try:
        ds.save_as(out)
    except Exception:  # noqa: BLE001 - a value pydicom refuses to write cannot reach a user's file either
        return None
    return out.getvalue()


def one_printable_line(message: str) -> bool:
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\n" not in message and "\r" not in message


def main(argv=None) -> int:
    args = parse_arguments(__doc__, argv)
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")  # pydicom warns about every odd value it meets
    rng = np.random.default_rng(args.seed)
    outcomes = collections.Counter()
    crashes = 0
    kinds = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = []
        for k, extra in enumerate([{}, {"jpeg": True}, {"photometric": "MONOCHROME2", "implicit_vr": True}]):
            cfg = phantom.PhantomConfig(seed=k, n_frames=3, region_rows=120, region_cols=200, frame_rows=300,
                                        frame_cols=320, bad_segments=(), **extra)
            path = phantom.write(phantom.generate(cfg), Path(tmp) / f"seed{k}.dcm")
            data = path.read_bytes()
            header = data.find(b"\xe0\x7f\x10\x00")  # the PixelData tag: everything before is header
            seeds.append((data, header + 64 if header > 0 else 2048))
        started, iterations, slowest = time.perf_counter(), 0, (0.0, "")
        while time.perf_counter() - started < args.seconds:
            data, header = seeds[iterations % len(seeds)]
            kind = "attributes" if rng.random() < 0.3 else "bytes"
            case = mutate_attributes(data, rng) if kind == "attributes" else mutate(data, rng, header)
            if case is None:
                outcomes["attributes pydicom cannot write"] += 1
                continue
            target = Path(tmp) / NAMES[iterations % len(NAMES)]
            target.write_bytes(case)
            iterations += 1
            case_started = time.perf_counter()
            try:
                try:
                    load_recording(target)
                    outcomes["read fine"] += 1
                except EchoInputError as error:
                    outcomes[type(error).__name__] += 1
                    if not one_printable_line(str(error)):
                        raise AssertionError(f"message not on one printable line: {str(error)!r}") from None
            except Exception as error:
                crashes += 1
                kinds[f"{type(error).__name__}: {str(error)[:70]}"] += 1
                keep_crash(args.crashes, f"crash_{crashes:03d}.dcm", case, crashes)
            finally:
                target.unlink()
            seconds = time.perf_counter() - case_started
            if seconds > slowest[0]:
                slowest = (seconds, kind)
    return summary(f"iterations: {iterations} in {args.seconds:.0f} s; crashes: {crashes}; slowest case "
                   f"{slowest[0]:.2f} s ({slowest[1]} mutation)", outcomes, kinds)


if __name__ == "__main__":
    raise SystemExit(main())
