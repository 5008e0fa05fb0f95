"""Where results are written, and how: one policy for every output file and folder.

* Every file is written whole under a temporary name beside it and renamed over
  it, so a reader (or a run killed halfway) never sees half a file.
* A symbolic link is written through: the file it points to is replaced and
  the link stays a link.
* Anything that is not a regular file (a folder, a FIFO, a device node such as
  ``/dev/null``, a socket) is refused, never replaced.
* No output may be another output or an input: a study's recordings get graph
  folders of their own even when two of them share a stem (``rec.dcm`` and
  ``rec``) or a recording is named like one of the study's own outputs
  (``output_all.csv.dcm``).
* Temporary names carry the writer's process id, so that what a process killed
  with SIGKILL left behind is recognised and removed by the next run, while a
  live writer's temporary file is left alone.
* Writers of one CSV (runs sharing an output folder) take turns under a lock
  file, ``.NAME.lock`` beside it (filelock, which works on Windows too).
"""
from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from mmode.errors import OutputError, file_kind

GRAPH_FILES = ("output_img.png", "output_img_mask.png", "output_diastole.png", "output_systole.png",
               "output_heartrate.png")  # the original's names, in each recording's output folder
# .NAME.PID.RANDOM.tmp (written_atomically); .NAME.RANDOM.tmp from versions before the process id was in it
TEMP_NAME = re.compile(r"^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?[a-z0-9_]{8}\.tmp$")
STALE_S = 3600  # a temporary file without a process id is a leftover once it is this old


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (ours or another user's) and is not a zombie.

    A writer killed with its parent is a zombie until something reaps it, which in a
    container whose first process does not reap orphans may be never: it writes no more.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rpartition(b")")[2].split()[0]  # the field after the command's name
    except (OSError, IndexError):
        return True  # no /proc (macOS): a process that exists is alive
    return state not in (b"Z", b"X")


def target_of(path) -> Path:
    """The file that writing ``path`` should replace: links followed, special files refused.

    Raises
    ------
    OutputError
        ``path`` (or what its links point to) exists and is not a regular file.
    """
    path = Path(path)
    target = Path(os.path.realpath(path))
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise OutputError(path, f"cannot write ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise OutputError(path, f"is {file_kind(mode)}, not a regular file; refusing to replace it")
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def written_atomically(path):
    """Yield a temporary path beside the file ``path`` names: renamed over it on success, removed on failure.

    Readers see the old file or the whole new one, never a half-written one,
    and concurrent writers never share a temporary file. ``path`` may be a
    symbolic link (its target is replaced); a special file is refused
    (:func:`target_of`). Errors of the file system (a full disk) are OutputError.
    """
    target = target_of(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(path, f"cannot write ({exc.strerror})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 is not what the user's umask asks for
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(path, f"cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def lock_path(path) -> Path:
    """The lock file of the file ``path`` names: a hidden ``.NAME.lock`` beside it, left in place."""
    target = target_of(path)
    return target.with_name(f".{target.name}.lock")


@contextmanager
def locked(path):
    """An exclusive lock on the file ``path`` names, so that concurrent writers take turns (filelock)."""
    with FileLock(lock_path(path)):
        yield


def check_distinct(outputs: dict[str, Path], inputs: dict[str, Path]) -> None:
    """Raise OutputError when two outputs, or an output and an input, are one file (links followed).

    Parameters
    ----------
    outputs, inputs : what each path is (for the message) -> the path.
    """
    seen = {}
    for role, path in [*inputs.items(), *outputs.items()]:
        real = os.path.realpath(path)
        if real in seen and role in outputs:  # two inputs may be one file: the loaders judge them
            raise OutputError(path, f"is both the {seen[real]} and the {role}; choose another output")
        seen.setdefault(real, role)
        if role in outputs:
            target_of(path)  # a special file is refused now, before any work


def remove_leftovers(folder) -> int:
    """Remove the temporary files of dead writers in ``folder``; how many were removed.

    A writer is dead when the process id in the name is gone, or, for names without one (written
    by earlier versions), when the file has not changed for ``STALE_S`` seconds.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        match = TEMP_NAME.match(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if (not pid_alive(int(match["pid"])) if match["pid"]
                    else time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_S):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass
    return removed


def folder_names(names: list[str], reserved: set[str]) -> dict[str, str]:
    """A folder name for each recording's file name, none of them equal to another or to ``reserved``.

    A recording's folder is its stem, as the original's (``rec.dcm`` -> ``rec``),
    unless another recording has the same stem or the stem is one of the
    study's own outputs; then it is the whole file name, and if that too is
    taken, the name with ``_2``, ``_3``, ... added. Deterministic for a given
    set of names, so that ``--resume`` finds the same folders.
    """
    stems = {}
    for name in names:
        stems.setdefault(Path(name).stem or name, []).append(name)
    chosen = {}
    for name in sorted(names):
        stem = Path(name).stem or name
        if len(stems[stem]) == 1 and stem not in reserved:
            chosen[name] = stem
    taken = set(chosen.values()) | reserved
    for name in sorted(names):
        if name in chosen:
            continue
        candidate, number = name, 1
        while candidate in taken:
            number += 1
            candidate = f"{name}_{number}"
        chosen[name] = candidate
        taken.add(candidate)
    return chosen
