"""yolo-smol: a small YOLOv3 for street house numbers, the package behind the book.

Shape symbols used throughout: B batch, A anchors per scale, S grid size, C classes,
N predictions, M ground-truth boxes.
"""

from yolo_smol.checkpoint import CheckpointError, load_model, save_model
from yolo_smol.config import ConfigError, ModelConfig, builtin_config_names, load_config
from yolo_smol.model import YoloSmol
from yolo_smol.summary import summarize

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "ModelConfig",
    "YoloSmol",
    "builtin_config_names",
    "load_config",
    "load_model",
    "save_model",
    "summarize",
]
