"""Saving and loading model weights together with the config that built them."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from yolo_smol.config import ConfigError, ModelConfig, load_config
from yolo_smol.errors import YoloSmolError
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.outputs import write_atomically

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
    """Write ``payload`` to ``path`` atomically (:func:`yolo_smol.outputs.write_atomically`).

    The file is written beside the target and renamed into place, so an interrupted save or
    a full disk never leaves a truncated checkpoint where a good one was.

    Raises:
        WriteError: the file could not be written (torch's "unexpected pos" on a full disk
            among them); one line naming ``path``, the earlier file left as it was.
    """
    write_atomically(path, lambda partial: torch.save(payload, partial))


def save_model(model: YoloSmol, path: str | Path, **extra: Any) -> None:
    """Write ``model``'s weights, its config and any ``extra`` entries to ``path``."""
    write_checkpoint(checkpoint_payload(model.config, model.state_dict(), **extra), path)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The raw checkpoint dict, after checking that it is one of ours.

    Only tensors and plain data are unpickled (``weights_only=True``): a file that holds
    other Python objects could run code when loaded, and is refused.

    Raises:
        CheckpointError: naming the file: missing, damaged, holding code, or not ours.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        # torch's own message advises weights_only=False, which would run the file's code:
        # say what the file is instead.
        if isinstance(error, pickle.UnpicklingError) and "GLOBAL" in str(error):
            raise CheckpointError(f"{path}: holds pickled Python objects beyond tensors and "
                                  "plain data, which could run code when loaded, so it was "
                                  "refused; use weights saved by yolo-smol (save_model, "
                                  "train)") from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint "
                              f"({type(error).__name__}); it is damaged, or not a "
                              "checkpoint") from None
    if not isinstance(payload, dict) or "model_config" not in payload or "model" not in payload:
        raise CheckpointError(f"{path}: not a yolo-smol checkpoint (it has no model_config "
                              "and model entries); save weights with yolo_smol.save_model")
    if not isinstance(payload["model_config"], dict):
        # A name ("smol") would build that config's input size onto weights that may have
        # been trained at another: the same shapes, silently wrong readings.
        raise CheckpointError(f"{path}: its model_config is {payload['model_config']!r}, not "
                              "the full config the weights were trained with; save weights "
                              "with yolo_smol.save_model, which stores it")
    return payload


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> YoloSmol:
    """Rebuild the model from its stored config and load its weights (in eval mode).

    Raises:
        CheckpointError: the file cannot be read (see :func:`read_checkpoint`), its config
            is invalid, or its weights do not fit the model its config builds.
    """
    payload = read_checkpoint(path, map_location)
    try:
        model = YoloSmol(load_config(payload["model_config"]))
    except ConfigError as error:
        raise CheckpointError(f"{path}: its model_config is not valid: {error}") from None
    problem = _state_problem(model.state_dict(), payload["model"])
    if problem:
        raise CheckpointError(f"{path}: the weights do not fit the model its config builds "
                              f"({problem}); the file was changed or saved by other code")
    model.load_state_dict(payload["model"])
    return model.eval()


def _state_problem(expected: dict[str, torch.Tensor], found: Any) -> str | None:
    """What keeps ``found`` from loading as ``expected`` (a state dict), or None."""
    if not isinstance(found, dict):
        return f"the model entry is a {type(found).__name__}, not a state dict"
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    if missing or unexpected:
        return (f"{len(missing)} missing entries, e.g. {missing[:2]}; {len(unexpected)} "
                f"unexpected, e.g. {unexpected[:2]}")
    for key, tensor in expected.items():
        value = found[key]
        if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
            return f"{key} is {shape}, the config needs {tuple(tensor.shape)}"
    return None
