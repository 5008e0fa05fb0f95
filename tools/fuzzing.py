"""What the fuzzers (tools/fuzz_*.py) share: their options, the summary they print and their exit status."""
from __future__ import annotations

import argparse
import collections
import traceback
from pathlib import Path


def parse_arguments(doc: str, argv=None, crashes: bool = True) -> argparse.Namespace:
    """--seconds, --seed and (with ``crashes``) --crashes, the folder failing inputs are kept in."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    if crashes:
        parser.add_argument("--crashes", type=Path, default=Path("fuzz_crashes"))
    return parser.parse_args(argv)


def summary(first_line: str, outcomes: collections.Counter, crashes: collections.Counter) -> int:
    """Print ``first_line``, the count of each outcome and of each kind of crash; 1 if any crash, else 0."""
    print(first_line)
    for name, count in sorted(outcomes.items()):
        print(f"  {name}: {count}")
    for name, count in crashes.most_common(15):
        print(f"  crash {name}: {count}")
    return 1 if crashes else 0


def keep_crash(folder: Path, name: str, case: bytes, crashes: int) -> None:
    """Save the input of crash number ``crashes`` as ``folder/name``; print the traceback of the first three."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(case)
    if crashes <= 3:
        traceback.print_exc()
