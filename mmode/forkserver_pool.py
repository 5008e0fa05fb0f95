"""Worker processes that start at once with heavy modules already imported: forks of a forkserver.

``start(modules)`` launches the server and returns at once; the server imports the modules while
the caller goes on (imports the same itself, reads its inputs). A ProcessPoolExecutor on that
server gets workers that fork from it with those imports done, and the parent may hold threads
(run4all has torch's), which a plain fork of the parent would not survive reliably. Standard
library only, so that a command line can start the server before its own slow imports.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def start(modules: list[str]) -> bool:
    """Launch the forkserver with ``modules`` preloaded (if not running yet); False where there is none."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    from multiprocessing import forkserver  # POSIX only

    multiprocessing.set_forkserver_preload(modules)
    forkserver.ensure_running()  # does not wait for the imports; the first worker does
    return True


def pool(workers: int, modules: list[str]) -> ProcessPoolExecutor | None:
    """``workers`` processes forked from the server, or None for fewer than 2 or without a forkserver."""
    if workers < 2 or not start(modules):
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
