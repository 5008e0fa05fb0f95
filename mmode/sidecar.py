"""A second process that reads the recording and draws the graphs for end2end_framework.py.

On two cores, one file from a cold start is mostly waiting: importing torch
takes 1.3 s and holds the GIL, so a thread cannot read the DICOM file meanwhile.
A process forked before torch is imported can: it reads and stitches the
recording and imports matplotlib while the main process imports torch and
loads the networks, then draws the five graphs while the main process writes
the CSV. That takes a third off the cold start.

Forking is safe only before torch starts its threads, and only where fork
exists; anywhere else (tests calling ``main`` in a process that has torch
loaded, other systems) the same calls run in this process, one after another.
"""
from __future__ import annotations

import multiprocessing
import sys
import time
from pathlib import Path


def _draw(analysis, out_dir: Path, dpi: int) -> float:
    from mmode.plots import write_graphs

    started = time.perf_counter()
    write_graphs(analysis, out_dir, dpi)
    return time.perf_counter() - started


def _load(path: Path):
    from mmode.recording import load_recording

    started = time.perf_counter()
    recording = load_recording(path)
    return recording, time.perf_counter() - started


def _raise_or_return(value):
    if isinstance(value, Exception):
        raise value
    return value


def _send(conn, work) -> bool:
    """Send ("ok", work()) or ("error", exception); True if work succeeded."""
    try:
        conn.send(("ok", work()))
        return True
    except Exception as error:  # noqa: BLE001 - the main process raises it
        try:
            conn.send(("error", error))
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            conn.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))
        return False


def _serve(conn, path: Path, graphs: bool) -> None:
    """The sidecar process: the recording, then (if asked for) the graphs of one Analysis."""
    try:
        loaded = _load(path)
    except Exception as error:  # noqa: BLE001 - the main process raises it
        loaded = error
    try:
        if graphs:
            # Before sending: the send waits until the main process has imported torch and
            # takes the recording, and importing matplotlib after that would slow its networks.
            try:
                import mmode.plots  # noqa: F401
            except Exception:  # noqa: BLE001 - _draw imports it again and reports the error
                pass
        if not _send(conn, lambda: _raise_or_return(loaded)) or not graphs:
            return
        request = conn.recv()
        if request is not None:
            _send(conn, lambda: _draw(*request))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the main process ended first: nothing is waiting for us


class Sidecar:
    """Reads ``path`` (and later draws its graphs) in a forked process, or here where forking is unsafe.

    Use ``recording()`` once, then ``draw(...)`` and ``wait()`` if ``graphs``;
    both re-raise what failed in the sidecar.
    """

    def __init__(self, path: Path, graphs: bool):
        self.path, self.graphs = Path(path), graphs
        self._conn = self._process = None
        self._drawing, self._graphs_s = False, None
        if "fork" in multiprocessing.get_all_start_methods() and "torch" not in sys.modules:
            context = multiprocessing.get_context("fork")
            self._conn, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child, self.path, graphs), daemon=True,
                                            name="sidecar")
            self._process.start()
            child.close()

    def _receive(self):
        try:
            status, value = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"the sidecar process for {self.path} ended unexpectedly") from None
        if status == "error":
            raise value
        return value

    def recording(self):
        """(Recording, seconds it took) of ``path``."""
        return _load(self.path) if self._conn is None else self._receive()

    def draw(self, analysis, out_dir: Path, dpi: int) -> None:
        """Start drawing the graphs (without a sidecar process: draw them)."""
        if self._conn is None:
            self._graphs_s = _draw(analysis, out_dir, dpi)
        else:
            self._conn.send((analysis, out_dir, dpi))
            self._drawing = True

    def wait(self) -> float | None:
        """Seconds the graphs took, once they are written (None if none were drawn)."""
        if self._drawing:
            self._drawing = False
            self._graphs_s = self._receive()
        return self._graphs_s

    def close(self) -> None:
        """End the sidecar process (it stops waiting for graphs that were never asked for)."""
        if self._conn is not None:
            self._conn.close()
            self._process.join(timeout=5)
            self._conn = None
