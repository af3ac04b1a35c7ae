"""Kept for the chapters and the training loop until their imports move to
``yolo_smol.reading.looks``; remove then.

Reading at several input sizes is the reader's (``yolo_smol.reading.looks``); its default
scales are ``ReadingOptions.scales``. The names are looked up on first use, since the
reader itself is built on ``detection``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "SCALES":
        from yolo_smol.reading.options import ReadingOptions

        return ReadingOptions.scales
    if name in ("input_sizes", "anchors_at"):
        from yolo_smol.reading import looks

        return getattr(looks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
