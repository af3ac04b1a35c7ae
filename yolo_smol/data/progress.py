"""Progress that suits where it is read: bars on a terminal, one plain line elsewhere.

A progress bar redraws itself with carriage returns. On a terminal that is one line that
moves; in a log file or a pipe (``yolo-smol train ... > log``) it is hundreds of ``\\r``
updates per stage ("resizing images once: 0% ... 100%"). So where standard error is not a
terminal the bars of ``datasets`` (generating, saving and resizing a split) are switched
off, and the commands print one plain line per stage instead ("resized 2,000 images in
1.9 s"). The training loop's own bars already show only on a terminal (tqdm's
``disable=None``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["on_a_terminal", "bars_only_on_a_terminal"]

_SWITCH = "HF_DATASETS_DISABLE_PROGRESS_BARS"


def on_a_terminal() -> bool:
    """Whether standard error, where the bars are drawn, is a terminal."""
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


@contextlib.contextmanager
def bars_only_on_a_terminal() -> Iterator[None]:
    """Switch ``datasets``' progress bars off for the block when standard error is not a
    terminal; on a terminal, and after the block, they are as they were."""
    if on_a_terminal():
        yield
        return
    if "datasets" not in sys.modules:
        # Read once, when datasets is imported: a command run as a process ends with the
        # block, so the switch need not be undone there.
        os.environ.setdefault(_SWITCH, "1")
        yield
        return
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()
