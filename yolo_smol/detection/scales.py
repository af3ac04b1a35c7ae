"""Reading one photo at several input sizes (test-time scale augmentation).

A photo squashed to a slightly smaller or larger input shows its digits a few pixels
smaller or larger, and the network, which sees only pixels, finds a somewhat different set
of them: a digit missed at one size is often found at another. Reading at a few sizes and
merging what they find is the oldest of test-time augmentations (multi-scale testing).

One thing has to move with the input: the anchors. The network learned box sizes in
pixels of the input it was trained on: a digit 40 pixels tall comes out as the anchor
times ``exp(t_h)`` for one ``t_h``, whatever the input. The anchors are stored as fractions
of the image (``configs/*.json``), which at another input size are other pixel sizes. So
at an input of another size each anchor is given the fraction that keeps its trained size
in pixels (:func:`anchors_at`); decoded with the stored fractions, every box read at 144 x 72
would come out 1.125 times too large.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from yolo_smol.config import ModelConfig

__all__ = ["SCALES", "input_sizes", "anchors_at"]

# The input sizes the Detector reads a whole photo at, as multiples of the model's own: for
# the shipped 128 x 64 detector, 112 x 56, 128 x 64 and 144 x 72. Picked on generated test
# photos (1,000 of each of seeds 5 and 6; three detectors trained by make weights' recipe):
# of {1}, {1, 0.875}, {1, 1.125} and {0.875, 1, 1.125}, the three sizes scored the best
# mAP@0.5 and mAP@0.5:0.95 in all six pairs. Larger steps (1.25: 160 x 80) scored lower.
SCALES = (0.875, 1.0, 1.125)


def input_sizes(config: ModelConfig, scales: Sequence[float] = SCALES,
                ) -> list[tuple[int, int]]:
    """The ``(width, height)`` inputs, in pixels, to read a photo at for ``scales``.

    Each side is ``scale`` times the model's own, rounded to the nearest multiple of the
    backbone's total stride (the network's input must divide into its coarsest grid) and
    at least one stride. Sizes that round to one already listed are left out, so a small
    input may read at fewer sizes than ``scales``: the book's 32 px model reads at 32
    alone for the default scales (28 and 36 round back to 32).

    Raises:
        ValueError: no scale, or a scale that is not a positive number.
    """
    scales = tuple(scales)
    if not scales or any(not 0 < scale < math.inf for scale in scales):
        raise ValueError(f"scales must be positive numbers, one at least (1.0: the model's "
                         f"own input size), got {scales}")
    stride = 2 ** config.num_downsamples
    sizes: list[tuple[int, int]] = []
    for scale in scales:
        size = tuple(max(stride, round(side * scale / stride) * stride)
                     for side in config.input_size)
        if size not in sizes:
            sizes.append(size)
    return sizes


def anchors_at(anchors: torch.Tensor, trained_size: tuple[int, int],
               size: tuple[int, int]) -> torch.Tensor:
    """``(L, A, 2)`` anchors ``(w, h)``, fractions of an input of ``size`` ``(width,
    height)``, that are as many pixels as ``anchors`` are at ``trained_size``."""
    return anchors * anchors.new_tensor([trained_size[0] / size[0],
                                         trained_size[1] / size[1]])
