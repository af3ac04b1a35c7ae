"""A training run's folder: one run writes it at a time, and a finished run is not lost.

``yolo-smol train`` into a folder that already holds a run would replace its ``last.pt``
with an untrained model before the first step; two runs into one folder would overwrite
each other's checkpoints. So a new run refuses a folder that holds a run unless it is told
to replace it (``exist_ok``), and every run holds the folder's lock file while it writes.
The lock is an OS file lock (``fcntl.flock``): the OS drops it when its process ends, even
by SIGKILL, so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from yolo_smol.errors import YoloSmolError
from yolo_smol.outputs import writable_folder

__all__ = ["RunFolderError", "LOCK_NAME", "RUN_FILES", "check_new_run", "holding_run_lock"]

LOCK_NAME = ".yolo-smol.lock"
# A folder holding any of these holds (part of) a run.
RUN_FILES = ("last.pt", "best.pt", "config.json", "metrics.csv")


class RunFolderError(YoloSmolError):
    """A run folder that holds another run, or that another run is writing."""


def check_new_run(save_dir: str | Path, exist_ok: bool) -> Path:
    """``save_dir``, writable, for a new run: refused if it holds a run and ``exist_ok`` is
    False.

    Raises:
        RunFolderError: the folder holds a run (the message says the two ways on).
        OutputError: the folder cannot be created or written.
    """
    folder = writable_folder(save_dir)
    found = [name for name in RUN_FILES if (folder / name).exists()]
    if found and not exist_ok:
        raise RunFolderError(
            f"--save_dir {folder}: holds a run already ({', '.join(found)}); continue it "
            f"with --resume {folder}, give another --save_dir, or pass --exist_ok to "
            "replace it")
    return folder


@contextlib.contextmanager
def holding_run_lock(save_dir: str | Path) -> Iterator[Path]:
    """Hold ``save_dir``'s lock for the ``with`` block.

    Raises:
        RunFolderError: another process holds it; the message names that process.
    """
    path = Path(save_dir) / LOCK_NAME
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the check for an existing run still holds
        yield path
        return
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunFolderError(f"--save_dir {save_dir}: {holder} is training into it; "
                                 "wait for that run to end, or give another --save_dir"
                                 ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}, started "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        try:
            yield path
        finally:
            handle.seek(0)
            handle.truncate()  # released: an empty lock file names nobody
