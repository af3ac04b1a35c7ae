"""yolo-smol: a small YOLOv3 for street house numbers, the package behind the book.

Shape symbols used throughout: B batch, A anchors per scale, S grid size, C classes,
N predictions, M ground-truth boxes.

The package's folders follow the book: ``data`` (chapter 1), ``anchors`` (2), ``model``
(3-4), ``detection`` (5 and 7), ``training`` (6), ``reading`` (8). The names below
are imported on first use, so ``import yolo_smol`` (and ``yolo-smol --help``) does not pay
for PyTorch until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from yolo_smol.errors import YoloSmolError

__version__ = "0.1.0"

# Public name -> the module that defines it.
_LAZY = {
    "CheckpointError": "yolo_smol.model.checkpoint",
    "load_model": "yolo_smol.model.checkpoint",
    "save_model": "yolo_smol.model.checkpoint",
    "ConfigError": "yolo_smol.config",
    "ModelConfig": "yolo_smol.config",
    "builtin_config_names": "yolo_smol.config",
    "load_config": "yolo_smol.config",
    "YoloSmol": "yolo_smol.model.yolo",
    "summarize": "yolo_smol.model.summary",
    "Detector": "yolo_smol.reading.detector",
    "Reading": "yolo_smol.reading.rules",
    "ReadingOptions": "yolo_smol.reading.options",
}

__all__ = ["YoloSmolError", *_LAZY]

if TYPE_CHECKING:  # for type checkers and editors; at run time __getattr__ imports them
    from yolo_smol.config import ConfigError, ModelConfig, builtin_config_names, load_config  # noqa: F401
    from yolo_smol.model.checkpoint import CheckpointError, load_model, save_model  # noqa: F401
    from yolo_smol.model.summary import summarize  # noqa: F401
    from yolo_smol.model.yolo import YoloSmol  # noqa: F401
    from yolo_smol.reading.detector import Detector  # noqa: F401
    from yolo_smol.reading.options import ReadingOptions  # noqa: F401
    from yolo_smol.reading.rules import Reading  # noqa: F401


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'yolo_smol' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
