"""Bounded mutation fuzzing of the DICOM reader and stitcher.

    python tools/fuzz_reader.py --seconds 60 [--seed 0]

Mutates a small valid phantom (byte flips, overwrites with special values,
truncation, inserted and deleted runs; mostly in the header where the parser
lives) and runs mmode.recording.load_recording on each. Our own
EchoInputError subclasses are the expected outcome for broken input; any
other exception is a crash. Prints iterations, outcomes and crashes; exit
status 1 when any crash was found (each saved under --crashes).
"""
from __future__ import annotations

import argparse
import collections
import logging
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

import phantom
from mmode.errors import EchoInputError
from mmode.recording import load_recording

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crashes", type=Path, default=Path("fuzz_crashes"))
    args = parser.parse_args(argv)
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
        target = Path(tmp) / "case.dcm"
        started, iterations = time.perf_counter(), 0
        while time.perf_counter() - started < args.seconds:
            data, header = seeds[iterations % len(seeds)]
            case = mutate(data, rng, header)
            target.write_bytes(case)
            iterations += 1
            try:
                load_recording(target)
                outcomes["read fine"] += 1
            except EchoInputError as error:
                outcomes[type(error).__name__] += 1
            except Exception as error:
                crashes += 1
                kinds[f"{type(error).__name__}: {str(error)[:70]}"] += 1
                args.crashes.mkdir(parents=True, exist_ok=True)
                (args.crashes / f"crash_{crashes:03d}.dcm").write_bytes(case)
                if crashes <= 3:
                    traceback.print_exc()
    print(f"iterations: {iterations} in {args.seconds:.0f} s; crashes: {crashes}")
    for name, count in outcomes.most_common():
        print(f"  {name}: {count}")
    for name, count in kinds.most_common(15):
        print(f"  crash {name}: {count}")
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
