"""Choosing the device to run on: ``auto`` means CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import copy

import torch

__all__ = ["choose_device", "evaluation_copy"]


def choose_device(name: str = "auto") -> torch.device:
    """The device called ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``).

    Raises:
        ValueError: the device is unknown or not available here, saying which ones are.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from None
    available = (device.type == "cpu"
                 or (device.type == "cuda" and torch.cuda.is_available()
                     and (device.index or 0) < torch.cuda.device_count())
                 or (device.type == "mps" and torch.backends.mps.is_available()))
    if not available:
        raise ValueError(f"device {name!r} is not available on this machine; use auto or cpu")
    return device


def evaluation_copy(model: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """``model`` on ``device`` in eval mode, without changing the caller's model.

    The model itself when it already is both (no copy); otherwise a copy, so that a caller
    who is still training does not find its model moved or switched to eval mode.
    """
    device = torch.device(device)
    parameter = next(model.parameters(), None)
    on_device = parameter is None or (parameter.device.type == device.type and (
        device.index is None or parameter.device.index == device.index))
    if on_device and not model.training:
        return model
    return copy.deepcopy(model).to(device).eval()
