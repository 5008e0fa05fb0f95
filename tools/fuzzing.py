"""What the fuzzers (tools/fuzz_*.py) share: the summary they print and their exit status."""
from __future__ import annotations

import collections


def summary(first_line: str, outcomes: collections.Counter, crashes: collections.Counter) -> int:
    """Print ``first_line``, the count of each outcome and of each kind of crash; 1 if any crash, else 0."""
    print(first_line)
    for name, count in sorted(outcomes.items()):
        print(f"  {name}: {count}")
    for name, count in crashes.most_common(15):
        print(f"  crash {name}: {count}")
    return 1 if crashes else 0
