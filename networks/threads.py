"""Several windows through a network at once, each on one torch thread.

Measured on the 2-core machine with the 20 segmentation windows of a full-size recording
(shipped QuickNAT, 128 x 256, OMP_WAIT_POLICY=PASSIVE as the command lines run it):
torch's two intra-op threads sharing each layer took 1.0-1.4 s, one torch thread 1.0-1.3 s,
and two Python threads each running whole windows on one torch thread 0.52-0.55 s. The
layers of these small networks are too short to split: torch wakes and joins its threads
hundreds of times per window, and a sleeping thread's wake-up costs more than its half of
the layer. The windows are independent, so they share the cores instead (the borders come
out identical: each window's arithmetic is the same on one thread).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

MAX_THREADS = 8  # beyond this, the 20 windows of a recording divide unevenly and memory grows


def available_cores() -> int:
    """The cores this process may run on, at most MAX_THREADS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def in_threads(fn, items, threads: int) -> list:
    """``[fn(item) for item in items]``, in order, on ``threads`` threads when more than one."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        return list(pool.map(fn, items))
