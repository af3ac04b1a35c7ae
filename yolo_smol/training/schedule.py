"""The learning-rate schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math

__all__ = ["learning_rate"]


def learning_rate(step: int, total_steps: int, warmup_steps: int, base_lr: float,
                  final_fraction: float = 0.05) -> float:
    """The learning rate at optimizer step ``step`` (0-based) of ``total_steps``.

    Warm-up rises linearly from ``base_lr / warmup_steps`` to ``base_lr`` over the first
    ``warmup_steps`` steps: a freshly initialised network with BatchNorm takes large,
    erratic steps at full rate. Then a half cosine falls from ``base_lr`` to
    ``final_fraction * base_lr`` at the last step.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps - 1)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    floor = final_fraction * base_lr
    return floor + (base_lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
