"""An exponential moving average of a model's weights, used for evaluation.

Averaging the weights of the last few hundred steps smooths out the noise of each step;
the average usually scores better than the weights of any single step.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["ModelEMA"]


class ModelEMA:
    """``average = decay * average + (1 - decay) * weights`` after every optimizer step.

    The decay ramps up from 0 (``updates / (updates + 10)``), so early averages are not
    dominated by the random initial weights. Buffers (BatchNorm statistics) are copied.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, self.updates / (self.updates + 10))
        averaged = list(self.model.parameters())
        current = [parameter.detach() for parameter in model.parameters()]
        # Fused over all parameters: average = decay * average + (1 - decay) * current.
        torch._foreach_mul_(averaged, decay)
        torch._foreach_add_(averaged, current, alpha=1 - decay)
        for own, theirs in zip(self.model.buffers(), model.buffers(), strict=True):
            own.copy_(theirs)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.updates, self.decay = state["updates"], state["decay"]
