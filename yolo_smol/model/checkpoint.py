"""Saving and loading model weights together with the config that built them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from yolo_smol.config import ModelConfig, load_config
from yolo_smol.errors import YoloSmolError
from yolo_smol.model.yolo import YoloSmol

__all__ = ["CheckpointError", "checkpoint_payload", "write_checkpoint", "save_model",
           "load_model", "read_checkpoint"]

FORMAT_VERSION = 1


class CheckpointError(YoloSmolError):
    """A weights file that cannot be read as a yolo-smol checkpoint."""


def checkpoint_payload(config: ModelConfig, weights: dict[str, torch.Tensor],
                       **extra: Any) -> dict:
    """What every yolo-smol checkpoint holds: the format, the config, the inference
    ``weights`` (a state dict), and ``extra`` entries (``train_config``, ``training``)."""
    return {"format_version": FORMAT_VERSION, "model_config": config.to_dict(),
            "model": weights, **extra}


def write_checkpoint(payload: dict, path: str | Path) -> None:
    """Write ``payload`` to ``path`` atomically.

    The file is written beside the target and renamed into place, so an interrupted save
    never leaves a truncated checkpoint where a good one was.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    partial.replace(path)


def save_model(model: YoloSmol, path: str | Path, **extra: Any) -> None:
    """Write ``model``'s weights, its config and any ``extra`` entries to ``path``."""
    write_checkpoint(checkpoint_payload(model.config, model.state_dict(), **extra), path)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The raw checkpoint dict, after checking that it is one of ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({error})") from None
    if not isinstance(payload, dict) or "model_config" not in payload or "model" not in payload:
        raise CheckpointError(f"{path}: not a yolo-smol checkpoint (it has no model_config "
                              "and model entries); save weights with yolo_smol.save_model")
    return payload


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> YoloSmol:
    """Rebuild the model from its stored config and load its weights (in eval mode)."""
    payload = read_checkpoint(path, map_location)
    model = YoloSmol(load_config(payload["model_config"]))
    model.load_state_dict(payload["model"])
    return model.eval()
