"""Receptive fields, measured on the network itself rather than worked out on paper.

The receptive field of an output cell is the square of input pixels that can change it.
We measure it by back-propagating from one cell to the input: pixels outside the receptive
field get exactly zero gradient. The chapter derives the same numbers with the textbook
recurrence ``r_out = r_in + (k - 1) * jump`` and checks them against this.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from yolo_smol.model.yolo import YoloSmol

__all__ = ["measure_receptive_field", "stage_receptive_fields", "head_receptive_fields"]


def measure_receptive_field(network: Callable[[torch.Tensor], torch.Tensor],
                            input_size: int) -> int:
    """Side in pixels of the input region that the centre cell of ``network``'s output sees.

    Args:
        network: maps ``(1, 3, N, N)`` to a ``(1, ..., S, S)`` map (channels anywhere before
            the last two axes).
        input_size: N; must be large enough that the field does not reach the border.

    Raises:
        ValueError: if the field reaches the border (give a larger ``input_size``).
    """
    image = torch.zeros(1, 3, input_size, input_size, requires_grad=True)
    output = network(image)
    rows, cols = output.shape[-2:]
    output[..., rows // 2, cols // 2].sum().backward()
    seen = image.grad.abs().sum(dim=(0, 1)) > 0  # (N, N)
    seen_rows = seen.any(dim=1).nonzero().flatten()
    seen_cols = seen.any(dim=0).nonzero().flatten()
    if (seen_rows[0] == 0 or seen_cols[0] == 0 or seen_rows[-1] == input_size - 1
            or seen_cols[-1] == input_size - 1):
        raise ValueError(f"the receptive field reaches the border of a {input_size}-pixel "
                         "input; measure with a larger input_size")
    return int(seen_cols[-1] - seen_cols[0] + 1)


def _positive_copy(model: YoloSmol) -> YoloSmol:
    """A copy in eval mode with all weights positive, so no gradient cancels by chance.

    Eval mode matters: in training mode BatchNorm's batch statistics make every output
    depend on every pixel, which is not what 'receptive field' means.
    """
    probe = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.fill_(1.0 / module.weight[0].numel())
    return probe


def stage_receptive_fields(model: YoloSmol, input_size: int = 512) -> list[int]:
    """Receptive field in pixels of each backbone stage's output, finest stage first."""
    probe = _positive_copy(model)
    return [measure_receptive_field(lambda x, i=i: probe.backbone(x)[i], input_size)
            for i in range(len(probe.backbone.stage_ends))]


def head_receptive_fields(model: YoloSmol, input_size: int = 512) -> list[int]:
    """Receptive field in pixels of each head's output cells, coarsest head first."""
    probe = _positive_copy(model)
    # Channels-last raw maps: move the grid axes to the end for the measurement.
    return [measure_receptive_field(lambda x, i=i: probe(x)[i].permute(0, 1, 4, 2, 3),
                                    input_size)
            for i in range(len(probe.heads))]
