"""Helper processes that read recordings and draw graphs while the main process runs the networks.

Without them one of two cores idles for much of the main job. Importing torch
takes 1.3 s and holds the GIL, so a thread cannot read the DICOM file
meanwhile; a process forked before torch is imported can. In
end2end_framework.py one sidecar reads and stitches the recording and imports
matplotlib while the main process imports torch and loads the networks, then
draws the graphs. run4all.py keeps two: while the networks run on file i, one
reads file i+1 and the other draws the graphs of file i-1.

Forking is safe only before torch starts its threads, and we fork only on
Linux (macOS system libraries do not survive a fork; Windows cannot fork).
Anywhere else (tests calling ``main`` in a process that has torch loaded,
other systems) the same requests run in this process, in order, when their
results are asked for. So do the outstanding requests of a sidecar that dies.

Answers travel as pickle files in a private folder; only their names go
through the queue. A name is shorter than a pipe's atomic write, so an answer
is either all there or not at all, and a sidecar that dies halfway through one
cannot leave the main process waiting for the rest.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import shutil
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections import deque
from pathlib import Path

from mmode.cli import write_file_graphs
from mmode.outputs import STALE_S, pid_alive, written_atomically
from mmode.recording import load_recording_timed

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often a waiting side checks that the other one is still alive
FOLDER_PREFIX = "mmode-sidecar-"  # + the main process's id + "-": see remove_orphaned_folders
IDLE_S = 0.05  # a sidecar with no request for this long imports matplotlib meanwhile


JOBS = {"load": load_recording_timed, "draw": write_file_graphs}


def _transportable(error: Exception) -> Exception:
    """``error`` if it survives pickling both ways, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(error).__name__}: {error}")


def _answer(kind: str, args) -> tuple:
    """("ok", what the job returns) or ("error", the exception), in the sidecar process."""
    try:
        return "ok", JOBS[kind](*args)
    except Exception as error:  # noqa: BLE001 - the main process raises it
        if hasattr(error, "add_note"):  # Python 3.11+: --debug then shows where it happened
            error.add_note(f"in the sidecar process:\n{traceback.format_exc().rstrip()}")
        return "error", _transportable(error)


def _stash(answer: tuple, path: Path) -> str:
    """Write ``answer`` to ``path`` whole (a temporary name, then a rename) and return its name."""
    with written_atomically(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(answer, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return str(path)


def _import_plots() -> bool:
    """Import mmode.plots (and matplotlib); False, so that the caller need not try again."""
    try:
        import mmode.plots  # noqa: F401
    except Exception:  # noqa: BLE001 - write_file_graphs imports it again and reports the error
        pass
    return False


def _exit_when_orphaned(parent_pid: int, folder: Path) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)
    shutil.rmtree(folder, ignore_errors=True)  # the parent cannot clean up any more
    os._exit(0)


def _serve(requests, replies, graphs: bool, parent_pid: int, folder: Path) -> None:
    """The sidecar process: answer (kind, args) requests in order until None or the parent is gone."""
    # A watchdog thread, because a parent killed halfway through sending a request leaves us
    # waiting for the rest of it for ever.
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid, folder), daemon=True).start()
    try:
        # matplotlib is imported at the first idle moment or right after the first answer (the
        # recording the main process waits for first): while it imports torch, not beside its networks.
        plots_to_import = graphs
        number = 0
        while True:
            try:
                request = requests.get(timeout=IDLE_S if plots_to_import else None)
            except queue.Empty:
                plots_to_import = _import_plots()
                continue
            if request is None:
                break
            replies.put(_stash(_answer(*request), folder / f"{number}.pickle"))
            number += 1
            if plots_to_import:
                plots_to_import = _import_plots()
    except KeyboardInterrupt:
        pass  # the main process reports the interruption
    finally:
        # Nobody waits for answers not yet sent: leave without multiprocessing's exit handlers,
        # which would wait for them to be read.
        sys.stderr.flush()
        os._exit(0)


def remove_orphaned_folders() -> int:
    """Remove the answer folders that sidecars of dead processes left in the temporary folder.

    A sidecar removes its folder when its main process dies, but not when both
    are killed at once (``kill -9`` of the process group, the OOM killer).
    Only our own folders whose main process is gone are touched. Returns how many.
    """
    removed = 0
    try:
        entries = list(os.scandir(tempfile.gettempdir()))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(FOLDER_PREFIX):
            continue
        pid = entry.name[len(FOLDER_PREFIX):].split("-", 1)[0]
        try:
            info = entry.stat(follow_symlinks=False)
            # Folders of earlier versions have no process id in their name: gone once they are old.
            dead = not pid_alive(int(pid)) if pid.isdigit() else time.time() - info.st_mtime > STALE_S
            if dead and entry.is_dir(follow_symlinks=False) and info.st_uid == os.getuid():
                shutil.rmtree(entry.path)
                removed += 1
        except OSError:
            pass
    return removed


class Sidecar:
    """Requests run in a forked process (or here, where forking is unsafe); results come back in order.

    ``load(path)`` answers (Recording, seconds); ``draw(analysis, out_dir, dpi)``
    answers seconds. ``result()`` returns the answer to the oldest request not
    yet answered and re-raises the exception if that request failed.
    """

    def __init__(self, graphs: bool):
        self._pending = deque()  # (kind, args) of the requests not yet answered, oldest first
        self._process = None
        if sys.platform.startswith("linux") and "torch" not in sys.modules:
            self._folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
            # Removed by _stop, or at exit by a process that ends with an error before close().
            self._remove_folder = weakref.finalize(self, shutil.rmtree, self._folder, True)
            context = multiprocessing.get_context("fork")
            self._requests, self._replies = context.Queue(), context.Queue()
            self._process = context.Process(target=_serve, name="sidecar", daemon=True,
                                            args=(self._requests, self._replies, graphs, os.getpid(), self._folder))
            self._process.start()

    @property
    def forked(self) -> bool:
        return self._process is not None

    def load(self, path) -> None:
        self._ask("load", Path(path))

    def draw(self, analysis, out_dir: Path, dpi: int) -> None:
        self._ask("draw", analysis, Path(out_dir), dpi)

    def _ask(self, kind: str, *args) -> None:
        if self.forked:
            self._requests.put((kind, args))  # a feeder thread sends it: never blocks
        self._pending.append((kind, args))

    def result(self):
        kind, args = self._pending.popleft()
        answer = self._receive() if self.forked else None
        if answer is None:  # never forked, or the sidecar died: the work is done here
            return JOBS[kind](*args)
        status, value = answer
        if status == "error":
            raise value
        return value

    def _receive(self) -> tuple | None:
        """The next answer from the sidecar process, or None once it has died."""
        while True:
            try:
                name = self._replies.get(timeout=POLL_S)
                break
            except queue.Empty:
                if not self._process.is_alive():
                    log.warning("the sidecar process ended unexpectedly (exit code %s); going on without it",
                                self._process.exitcode)
                    self._stop()
                    return None
        with open(name, "rb") as fh:
            answer = pickle.load(fh)
        os.unlink(name)
        return answer

    def close(self) -> None:
        """Stop the sidecar process; requests not yet answered are dropped."""
        self._stop()
        self._pending.clear()

    def _stop(self) -> None:
        if not self.forked:
            return
        if self._process.is_alive():
            if self._pending:  # work nobody will collect: stop it now
                self._process.terminate()
            else:
                self._requests.put(None)
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join()
        self._process.close()
        self._process = None
        for channel in (self._requests, self._replies):
            channel.close()
            channel.cancel_join_thread()  # what the sidecar never read must not block our exit
        self._remove_folder()
