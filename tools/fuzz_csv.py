"""Bounded mutation fuzzing of every reader of CSV files we did not just write.

    python tools/fuzz_csv.py --seconds 60 [--seed 0]

Mutates valid CSV files of each kind (a study's output_all.csv, its errors.csv,
a mass table, a study metadata table): byte flips, special bytes (NUL, a
UTF-8 byte-order mark, Latin-1 letters, quotes, commas, line breaks), deleted
and duplicated lines, truncation, re-encoding as Latin-1 or UTF-16. Each case
goes to the code that reads that kind of file:

* output_all.csv and errors.csv: mmode.results.replace_rows adds a row to the
  damaged file, as run4all.py and end2end_framework.py do; on success the file
  must read back with the new row and every earlier row.
* mass table: run4all.read_mass_table.
* metadata: mmode.study_inputs.read_table (pandas behind mmode.tables.read_text).

Our EchoInputError subclasses (one line naming the file) are the expected
outcome for unusable input; any other exception, a message with a line break,
or a successful write that lost a row is a crash. Prints iterations, outcomes
and crashes; exit status 1 when any crash was found (each saved under --crashes).
"""
from __future__ import annotations

import collections
import tempfile
import time
from pathlib import Path

import numpy as np

import run4all
from mmode.errors import EchoInputError
from mmode.results import ALL_COLUMNS, read_rows, replace_rows
from mmode.study_inputs import read_table
from fuzzing import keep_crash, parse_arguments, summary  # tools/fuzzing.py, beside this script

SPECIAL = [b"\x00", b"\xef\xbb\xbf", b"\xe9", b"\xff\xfe", b'"', b",", b"\n", b"\r", b"\r\n", b'""', b";", b"\t",
           b"\xc3", b"\xed\xa0\x80"]


def _all_csv() -> bytes:
    lines = [",".join(ALL_COLUMNS)]
    for k, name in enumerate(["m1.dcm", "m2.dcm", "souris \u00e9t\u00e9.dcm"]):
        lines.append(",".join([name] + [f"{k + 1}.{j:03d}" for j in range(len(ALL_COLUMNS) - 1)]))
    return ("\n".join(lines) + "\n").encode("utf-8")


SEEDS = {
    "output_all.csv": _all_csv(),
    "errors.csv": b'file,error\nm1.dcm,not a DICOM file (no DICM preamble)\n"a,b.dcm","quoted, with comma"\n',
    "masses.csv": "file,mass\nm1.dcm,22.5\nm2,31\nsouris été.dcm,28\n".encode("utf-8"),
    "mice.csv": b"file,mouse_id,sex,genotype,body_mass_g\nm1.dcm,M1,f,wt,22.5\nm2.dcm,M2,m,hom,31\n",
}


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 7))
        pos = int(rng.integers(0, max(len(buf), 1)))
        if kind == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            buf[pos:pos] = SPECIAL[int(rng.integers(0, len(SPECIAL)))]
        elif kind == 2:
            lines = bytes(buf).split(b"\n")
            k = int(rng.integers(0, len(lines)))
            lines.insert(k, lines[k]) if rng.random() < 0.5 else lines.pop(k)
            buf = bytearray(b"\n".join(lines))
        elif kind == 3:
            del buf[pos:]
        elif kind == 4:
            del buf[pos:pos + int(rng.integers(1, 16))]
        elif kind == 5:
            try:
                buf = bytearray(bytes(buf).decode("utf-8").encode(["latin-1", "utf-16"][int(rng.integers(0, 2))]))
            except (UnicodeDecodeError, UnicodeEncodeError):
                pass
        else:
            buf[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 8)), dtype=np.uint8).tobytes()
    return bytes(buf)


def _check_output_csv(path: Path, columns: list[str]) -> None:
    """replace_rows on the damaged file; if it succeeds, the new row and every earlier one must be there."""
    try:
        _, before = read_rows(path)
    except EchoInputError:
        before = None
    new = {column: "" for column in columns}
    new.update({"file": "new.dcm", columns[1]: "1.5"})
    replace_rows(path, columns, ["new.dcm"], [new])
    _, after = read_rows(path)
    if before is not None:
        kept = [row for row in before if row["file"] != "new.dcm"]
        missing = [row for row in kept if {k: row.get(k, "") for k in columns[:len(row)]} not in
                   [{k: r.get(k, "") for k in columns[:len(row)]} for r in after]]
        if missing:
            raise AssertionError(f"a row was lost: {missing[0]}")
    if sum(row["file"] == "new.dcm" for row in after) != 1:
        raise AssertionError("the new row is not there exactly once")


def run_case(kind: str, path: Path) -> None:
    if kind == "output_all.csv":
        _check_output_csv(path, ALL_COLUMNS)
    elif kind == "errors.csv":
        _check_output_csv(path, ["file", "error"])
    elif kind == "masses.csv":
        run4all.read_mass_table(path)
    else:
        read_table(path, dtype=str)


def main(argv=None) -> int:
    args = parse_arguments(__doc__, argv)
    rng = np.random.default_rng(args.seed)
    outcomes, kinds = collections.Counter(), collections.Counter()
    crashes, iterations = 0, 0
    names = list(SEEDS)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        while time.perf_counter() - started < args.seconds:
            kind = names[iterations % len(names)]
            case = mutate(SEEDS[kind], rng)
            path = Path(tmp) / kind
            path.write_bytes(case)
            iterations += 1
            try:
                try:
                    run_case(kind, path)
                    outcomes[f"{kind}: read fine"] += 1
                except EchoInputError as error:
                    outcomes[f"{kind}: {type(error).__name__}"] += 1
                    if "\n" in str(error) or not str(error).startswith(str(path)):
                        raise AssertionError(f"message not one line naming the file: {str(error)!r}") from None
            except Exception as error:  # noqa: BLE001 - every other exception is what we look for
                crashes += 1
                kinds[f"{kind}: {type(error).__name__}: {str(error)[:70]}"] += 1
                keep_crash(args.crashes, f"crash_{crashes:03d}_{kind}", case, crashes)
            path.unlink(missing_ok=True)
    return summary(f"iterations: {iterations} in {args.seconds:.0f} s; crashes: {crashes}", outcomes, kinds)


if __name__ == "__main__":
    raise SystemExit(main())
