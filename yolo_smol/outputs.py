"""Where results go: output paths are checked before the work that fills them starts, and
every file is written aside and renamed into place, so none is ever left half-written.

A run that trains for an hour, or reads a thousand photos, and then cannot write its
results loses all of that work. Each command therefore checks its output folder and files
first, with the same two functions, and says which flag to change.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from yolo_smol.errors import YoloSmolError

__all__ = ["OutputError", "WriteError", "writable_folder", "writable_file", "write_atomically",
           "write_bytes", "write_text", "write_json", "write_figure", "check_result_folder",
           "check_new_file"]


class OutputError(YoloSmolError):
    """An output folder or file that cannot be created or written."""


class WriteError(OutputError):
    """A file that could not be written (a full disk, no permission, out of memory); whatever
    was at ``path`` before is left as it was.

    Attributes:
        path: the file that was to be written.
        reason: why it could not be, e.g. ``no space left on device``.
        existed: whether an earlier file is still at ``path``.
    """

    def __init__(self, path: Path, reason: str, existed: bool):
        self.path, self.reason, self.existed = path, reason, existed
        kept = "the earlier file there is left as it was" if existed else "nothing is left there"
        super().__init__(f"{path}: could not be written ({reason}); {kept}. Free some space, "
                         "or write to a folder you can write to")


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


# Errors that mean "this file cannot be written here now" rather than a bug: a full disk
# (ENOSPC, EDQUOT), a folder without write permission, a read-only mount, too little memory.
def _why(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return "out of memory"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    if isinstance(error, RuntimeError):
        # torch.save's "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs
        # 598" is what a full disk looks like from PyTorch: say that instead.
        return "the write failed part-way: most likely the disk is full"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through ``write(partial)`` aside, then rename it into place.

    ``write`` is given a temporary path in the same folder and must write the whole file
    there. Only when it returns is the file renamed over ``path`` (``os.replace``: atomic on
    one file system), so a reader, a crash, a full disk or Ctrl-C never leaves a half-written
    file where ``path`` was: ``path`` is either the old file, untouched, or the new one.

    Raises:
        WriteError: the file could not be written (a full disk, no permission, a read-only
            folder, out of memory); one line naming ``path``. The temporary file is removed
            and whatever was at ``path`` before is left as it was.
    """
    target = Path(path)
    # A dot file with the process id: two processes never share one, and `ls` hides it.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        write(partial)
        with open(partial, "rb") as handle:  # on disk before it is renamed into place
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except (OSError, MemoryError, RuntimeError) as error:
        # RuntimeError: torch.save reports a failed write as "[enforce fail at
        # inline_container.cc] ... unexpected pos" rather than an OSError.
        partial.unlink(missing_ok=True)
        if isinstance(error, RuntimeError) and not _is_write_failure(error):
            raise
        raise WriteError(target, _why(error), target.exists()) from None
    except BaseException:  # Ctrl-C or a bug in `write`: no partial file stays behind
        partial.unlink(missing_ok=True)
        raise
    return target


def _is_write_failure(error: RuntimeError) -> bool:
    # torch.save's stream writer: "[enforce fail at inline_container.cc:...] ... unexpected
    # pos" or "... file write failed". Any other RuntimeError is a bug and keeps its traceback.
    text = str(error)
    return any(sign in text for sign in ("inline_container", "unexpected pos", "write failed"))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`write_atomically`)."""
    return write_atomically(path, lambda partial: partial.write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`write_atomically`)."""
    return write_atomically(path, lambda partial: partial.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, value: object) -> Path:
    """Write ``value`` as indented JSON with a final newline, atomically."""
    return write_text(path, json.dumps(value, indent=2) + "\n")


def write_figure(path: str | Path, figure, dpi: int = 100) -> Path:
    """Save a matplotlib ``figure`` to ``path`` atomically, in the format its suffix names
    (the temporary file's own suffix would name none)."""
    image_format = Path(path).suffix.lstrip(".").lower() or "png"
    return write_atomically(path, lambda partial: figure.savefig(partial, format=image_format,
                                                                   dpi=dpi))


def check_result_folder(path: str | Path, results: tuple[str, ...], exist_ok: bool,
                        flag: str = "--save_dir") -> Path:
    """``path`` as a writable folder for a new run's ``results`` (file names), refused when it
    holds any of them already and ``exist_ok`` is False, as ``yolo-smol train`` refuses a
    folder that holds a run.

    Raises:
        OutputError: the folder holds earlier results (the message says the two ways on),
            is a file, or cannot be written.
    """
    folder = writable_folder(path, flag)
    found = [name for name in results if (folder / name).exists()]
    if found and not exist_ok:
        raise OutputError(f"{flag} {path}: holds an earlier run's {', '.join(found)}; give "
                          "another folder, or pass --exist_ok to replace them")
    return folder


def check_new_file(path: str | Path, flag: str, suffixes: tuple[str, ...] = (),
                   exist_ok: bool = False) -> Path:
    """``path`` as a file a command may write (see :func:`writable_file`), refused when a
    file is there already and ``exist_ok`` is False: an earlier run's result is never
    replaced without being asked to.

    Raises:
        OutputError: the file exists (the message names --exist_ok), or cannot be written.
    """
    target = writable_file(path, flag, suffixes)
    if target.exists() and not exist_ok:
        raise OutputError(f"{flag} {path}: exists already; give another name, or pass "
                          "--exist_ok to replace it")
    return target
