"""YOLOv3 detection layers: a conv stack on one feature map, then a 1x1 prediction conv.

In YOLOv3 (section 2.3 of the paper) each further detection layer takes the previous
layer's path, upsamples it by 2, concatenates the backbone's feature map of that finer
resolution, and predicts again. Coarse grids see large objects with much context; finer
grids see small objects and get the coarse grid's semantics through the upsampled path.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from yolo_smol.model.backbone import ConvBNAct

__all__ = ["DetectionHead", "UpsamplePath"]

# Prior probabilities used to initialise the prediction biases (see init_prediction_bias).
OBJECTNESS_PRIOR = 0.01


class DetectionHead(nn.Module):
    """One detection layer.

    ``neck`` is YOLOv3's alternating 1x1 / 3x3 stack (three convs here, five in the paper:
    the smaller model needs less depth); its output, the *route*, also feeds the next head.
    ``predict`` is a 3x3 conv and the final 1x1 conv to ``A * (5 + C)`` channels.

    Args:
        in_channels: channels of the map this head reads.
        width: channels of the route (the 3x3 convs use twice this).
        num_anchors: A, anchors at this scale.
        num_classes: C.
    """

    def __init__(self, in_channels: int, width: int, num_anchors: int, num_classes: int):
        super().__init__()
        self.num_anchors = num_anchors
        self.num_outputs = 5 + num_classes  # tx, ty, tw, th, objectness, C class logits
        self.neck = nn.Sequential(
            ConvBNAct(in_channels, width, kernel_size=1),
            ConvBNAct(width, 2 * width, kernel_size=3),
            ConvBNAct(2 * width, width, kernel_size=1),
        )
        self.predict = nn.Sequential(
            ConvBNAct(width, 2 * width, kernel_size=3),
            nn.Conv2d(2 * width, num_anchors * self.num_outputs, kernel_size=1),
        )
        self.init_prediction_bias()

    def init_prediction_bias(self) -> None:
        """Start by predicting 'no object' (probability 0.01) and uniform classes.

        Almost every cell is background. With a zero bias every cell starts at objectness
        0.5 and the first steps are spent only on pushing that down; starting at the prior
        keeps the early objectness loss small and the early gradients useful (the same
        reasoning as RetinaNet's prior initialisation, section 4.1 of Lin et al. 2017).
        """
        final = self.predict[-1]
        num_classes = self.num_outputs - 5
        with torch.no_grad():
            bias = final.bias.view(self.num_anchors, self.num_outputs)  # (A, 5 + C)
            bias.zero_()
            bias[:, 4] = math.log(OBJECTNESS_PRIOR / (1 - OBJECTNESS_PRIOR))
            if num_classes > 1:
                bias[:, 5:] = math.log(1 / (num_classes - 1))  # sigmoid = 1 / C

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``features (B, in, S, S)`` -> ``route (B, width, S, S)``, ``raw (B, A, S, S, 5 + C)``."""
        route = self.neck(features)
        raw = self.predict(route)  # (B, A * (5 + C), S, S)
        batch, _, height, width = raw.shape
        raw = raw.view(batch, self.num_anchors, self.num_outputs, height, width)  # (B,A,5+C,S,S)
        return route, raw.permute(0, 1, 3, 4, 2)  # (B, A, S, S, 5 + C)


class UpsamplePath(nn.Module):
    """The link between two heads: 1x1 conv to half the channels, nearest upsampling by 2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.out_channels = max(1, in_channels // 2)
        self.reduce = ConvBNAct(in_channels, self.out_channels, kernel_size=1)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, route: torch.Tensor) -> torch.Tensor:
        """``route (B, in, S, S)`` -> ``(B, in / 2, 2S, 2S)``."""
        return self.upsample(self.reduce(route))
