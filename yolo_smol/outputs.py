"""Where results go: output paths are checked before the work that fills them starts.

A run that trains for an hour, or reads a thousand photos, and then cannot write its
results loses all of that work. Each command therefore checks its output folder and files
first, with the same two functions, and says which flag to change.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from yolo_smol.errors import YoloSmolError

__all__ = ["OutputError", "writable_folder", "writable_file"]


class OutputError(YoloSmolError):
    """An output folder or file that cannot be created or written."""


def writable_folder(path: str | Path, flag: str = "--save_dir") -> Path:
    """``path`` as a folder that exists and can be written, created if missing.

    Raises:
        OutputError: ``path`` is a file, cannot be created, or cannot be written (a
            read-only folder); the message names ``flag``.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{flag} {path}: is a file; give a folder (it is created if "
                          "missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Only writing proves a folder writable: permission bits do not tell about
        # read-only mounts, and root ignores them.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputError(f"{flag} {path}: cannot write there ({error.strerror}); give a "
                          "folder you can write to") from None
    return folder


def writable_file(path: str | Path, flag: str, suffixes: tuple[str, ...] = ()) -> Path:
    """``path`` as a file that can be written: its folder exists and is writable, and its
    extension is one of ``suffixes`` (any, when empty). Nothing is created.

    Raises:
        OutputError: the extension is not one of ``suffixes``, the folder is missing, or
            it cannot be written; the message names ``flag``.
    """
    target = Path(path)
    if suffixes and target.suffix.lower() not in suffixes:
        raise OutputError(f"{flag} {path}: unknown extension {target.suffix!r}; end the "
                          f"name with one of {', '.join(suffixes)}")
    if target.is_dir():
        raise OutputError(f"{flag} {path}: is a folder; give a file name")
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"{flag} {path}: the folder {folder} does not exist; create it "
                          "first")
    try:  # only writing tells, as for folders above
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputError(f"{flag} {path}: the folder {folder} cannot be written "
                          f"({error.strerror})") from None
    return target
