"""Ctrl-C during a long command stops it between two photos, never inside PyTorch."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

__all__ = ["interrupts_between_photos"]


@contextlib.contextmanager
def interrupts_between_photos() -> Iterator[Callable[[], None]]:
    """Ctrl-C during ``detect`` stops it between two photos, never inside PyTorch.

    A KeyboardInterrupt raised while PyTorch's C++ code runs Python (its import, loading
    weights) is swallowed there, and the run goes on to exit 0, or meets pybind11, which
    aborts the process (SIGABRT). So SIGINT only notes the request here, and the
    ``stop_if_interrupted`` this yields raises it after the photo in progress is written:
    exit 130, with ``readings.json`` holding every photo read.
    """
    requested: list[int] = []

    def stop_if_interrupted() -> None:
        if requested:
            raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, lambda number, frame: requested.append(number))
    except ValueError:  # not the main thread: its interrupts are not this command's
        yield lambda: None
        return
    try:
        yield stop_if_interrupted
        stop_if_interrupted()  # one that came after the last photo still ends the run so
    finally:
        signal.signal(signal.SIGINT, previous)
