"""Helper processes that read recordings and draw graphs while this process runs the networks.

Without them one of two cores idles for much of the main job. Importing torch
takes 1.3 s and holds the GIL, so a thread cannot read the DICOM file
meanwhile; a process can. In end2end_framework.py one helper reads and
stitches the recording while the main process imports torch and loads the
networks, then draws the graphs. In run4all.py two helpers read file i+1 and
draw the graphs of file i-1 while the networks run on file i.

The helpers are a ProcessPoolExecutor that forks. A process must not fork once
torch has started its threads, and the pool forks its processes on the first
job: so the callers submit their first job before they import torch, and where
torch is loaded already (tests calling ``main``) or the system is not Linux
(macOS system libraries do not survive a fork; Windows cannot fork), each job
runs in this process when its result is asked for. So do the jobs of a pool
whose helper died. A thread in each helper ends it when this process is gone,
so that a killed command leaves no helper behind.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from networks.threads import configure_malloc

log = logging.getLogger(__name__)

PARENT_POLL_S = 0.5  # how often a helper checks that the process it serves is still there


def _end_with_parent(parent: int) -> None:
    """In each helper: a thread that ends the helper once ``parent`` is gone (the helper is re-parented)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def warm_up() -> None:
    """Import the graph module (and matplotlib, a large part of a second) before the first graph is due."""
    import mmode.plots  # noqa: F401


class Job:
    """One call submitted to the helpers: ``result()`` is its value or raises its error."""

    def __init__(self, helpers: "Helpers", fn, args: tuple, future=None):
        self._helpers, self._fn, self._args, self._future = helpers, fn, args, future

    def result(self):
        if self._future is not None:
            try:
                return self._future.result()
            except BrokenProcessPool:
                self._helpers.broken()
        return self._fn(*self._args)  # no helper to do it: done here, in the order asked for


class Helpers:
    """``workers`` forked helper processes, or none where forking is unsafe (see the module docstring)."""

    def __init__(self, workers: int):
        configure_malloc()  # before the pool's threads take heaps of their own (networks.threads)
        self._pool = None
        self._started = False
        if workers > 0 and sys.platform.startswith("linux"):
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                             initializer=_end_with_parent, initargs=(os.getpid(),))

    @property
    def forked(self) -> bool:
        return self._pool is not None

    def submit(self, fn, *args) -> Job:
        """Run ``fn(*args)`` in a helper, or here once its result is asked for."""
        if self._pool is not None and not self._started and "torch" in sys.modules:
            self.close()  # the pool would fork now, after torch started its threads
        if self._pool is not None:
            try:
                future = self._pool.submit(fn, *args)
                self._started = True
                return Job(self, fn, args, future)
            except BrokenProcessPool:
                self.broken()
        return Job(self, fn, args)

    def broken(self) -> None:
        """A helper died: go on without helpers (only speed is lost)."""
        if self._pool is not None:
            log.warning("a helper process ended unexpectedly; going on without helpers")
            self.close()

    def close(self) -> None:
        """Drop the jobs nobody has asked for and let the helpers go; does not wait for them."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
