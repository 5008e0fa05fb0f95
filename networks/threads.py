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

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor

MAX_THREADS = 8  # beyond this, the 20 windows of a recording divide unevenly and memory grows
# glibc gives each thread that allocates its own heap ("arena", up to 8 per core) and keeps what a
# heap once held. The window threads and the helpers' pipe threads each kept tens of MB of torch's
# and pickle's buffers: run4all's main process peaked at 1.09-1.11 GB over 6 full-size files, and at
# 0.97-0.99 GB with two arenas (0.95 GB with one), in the same time (12.0-12.5 s against 11.3-12.7 s
# for the 6 files, three runs each, alternated).
MALLOC_ARENAS = 2
# And glibc hands freed memory back to the system as soon as a few MB lie free at the top of a heap
# (and maps each block over its adaptive threshold afresh), so the next window's activations, a few MB
# per layer, come in new pages that the kernel must fault in and zero: one thread running the shipped
# segmenter's forward pass over and over took 6,000-10,000 page faults and 68-96 ms a pass, and 15-70
# faults and 55-59 ms with freed memory kept; tests/test_models.py counts them for whole windows (450
# against 7,900, the log-probabilities' arrays included). Blocks up to MMAP_FROM_MB now come from
# the heaps, which keep up to KEEP_FREED_MB free. run4all over 8 full-size files (seeds 9100-9107),
# alternated, two runs each: 13.4 and 13.8 s against 15.2 and 16.3 s, 0.15-0.17 million page faults
# against 0.45-0.70 million, system time 0.6 s against 1.3-1.8 s, peak memory 0.77-0.83 GB both ways,
# and identical CSVs.
MMAP_FROM_MB = 32
KEEP_FREED_MB = 128
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # mallopt's parameter numbers (glibc's malloc.h)


def available_cores() -> int:
    """The cores this process may run on, at most MAX_THREADS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def configure_malloc(arenas: int = MALLOC_ARENAS) -> bool:
    """From now on, let every thread of this process allocate from at most ``arenas`` glibc heaps
    (MALLOC_ARENA_MAX without restarting the process) and keep freed memory for reuse (MMAP_FROM_MB,
    KEEP_FREED_MB); True where that was set. Processes forked later inherit it. Elsewhere (macOS,
    Windows, musl) nothing changes."""
    # The symbols the process has loaded already, the C library's among them: finding the library
    # by name (ctypes.util.find_library) runs ldconfig, 5 ms of every start-up.
    try:
        libc = ctypes.CDLL(None)
        return all([libc.mallopt(M_ARENA_MAX, arenas), libc.mallopt(M_MMAP_THRESHOLD, MMAP_FROM_MB << 20),
                    libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREED_MB << 20)])
    except (OSError, TypeError, AttributeError):  # no such handle (Windows), or a C library without mallopt
        return False


def in_threads(fn, items, threads: int) -> list:
    """``[fn(item) for item in items]``, in order, on ``threads`` threads when more than one."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        return list(pool.map(fn, items))
