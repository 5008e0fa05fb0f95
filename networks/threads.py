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
M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)


def available_cores() -> int:
    """The cores this process may run on, at most MAX_THREADS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def share_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let every thread of this process allocate from at most ``arenas`` glibc heaps from now on
    (MALLOC_ARENA_MAX without restarting the process); True where that was set. Elsewhere (macOS,
    Windows, musl) nothing changes."""
    # The symbols the process has loaded already, the C library's among them: finding the library
    # by name (ctypes.util.find_library) runs ldconfig, 5 ms of every start-up.
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas))
    except (OSError, TypeError, AttributeError):  # no such handle (Windows), or a C library without mallopt
        return False


def in_threads(fn, items, threads: int) -> list:
    """``[fn(item) for item in items]``, in order, on ``threads`` threads when more than one."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        return list(pool.map(fn, items))
