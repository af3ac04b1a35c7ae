"""The Darknet-style backbone, built layer by layer from ``ModelConfig.backbone_layers``.

Darknet-53 (the YOLOv3 paper, table 1) is a stack of two kinds of layer: a strided 3x3
convolution that halves the resolution, and residual units (1x1 squeeze, 3x3 expand, skip).
yolo-smol keeps exactly those two, so a JSON list of them describes any such backbone.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from yolo_smol.config import DownsampleConfig, LayerConfig, ResidualBlockConfig

__all__ = ["ConvBNAct", "FoldedConvAct", "Downsample", "ResidualUnit", "ResidualBlock",
           "Backbone", "fold_batch_norms"]

LEAKY_SLOPE = 0.1  # Darknet's leaky ReLU slope, kept from the paper's reference code.


class ConvBNAct(nn.Sequential):
    """Conv (no bias: BatchNorm has one) + BatchNorm + LeakyReLU(0.1), 'same' padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                      padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
        )


class FoldedConvAct(nn.Module):
    """A :class:`ConvBNAct` in eval mode as one module: the BatchNorm folded into the
    convolution's weights and bias, then LeakyReLU(0.1). For inference only (it has no
    BatchNorm left to train); ``fold_batch_norms`` puts it in place of each ConvBNAct."""

    def __init__(self, block: ConvBNAct):
        super().__init__()
        conv = fuse_conv_bn_eval(block[0].eval(), block[1].eval())
        self.weight = nn.Parameter(conv.weight.detach(), requires_grad=False)
        self.bias = nn.Parameter(conv.bias.detach(), requires_grad=False)
        self.stride, self.padding = conv.stride, conv.padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in, H, W) -> (B, out, H / stride, W / stride)``."""
        # In place: the convolution's output is a fresh tensor that nothing else holds.
        return F.leaky_relu_(F.conv2d(x, self.weight, self.bias, self.stride, self.padding),
                             LEAKY_SLOPE)


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) with each BatchNorm folded into its convolution.

    In eval mode a BatchNorm is a fixed per-channel scale and shift, so it can be written
    into the convolution before it (``W' = W * gamma / sigma``, ``b' = beta - mean * gamma /
    sigma``); the outputs are the same up to float rounding, and reading a photo skips a
    pass over every feature map (about a quarter of the forward time on a CPU). Each
    conv-BatchNorm-activation triple becomes one :class:`FoldedConvAct`: at a batch of one
    photo, calling three modules instead of one costs about a tenth of the forward pass. For
    inference only: the copy has no BatchNorm left to train. ``model`` is not changed.
    """
    folded = copy.deepcopy(model).eval()
    for parent in list(folded.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ConvBNAct) and isinstance(child[1], nn.BatchNorm2d):
                setattr(parent, name, FoldedConvAct(child))
    return folded


class Downsample(ConvBNAct):
    """3x3 conv with stride 2: ``(B, in, H, W) -> (B, out, H/2, W/2)``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, kernel_size=3, stride=2)


class ResidualUnit(nn.Module):
    """``x + conv3x3(conv1x1(x))``, the 1x1 squeezing to half the channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.squeeze = ConvBNAct(channels, channels // 2, kernel_size=1)
        self.expand = ConvBNAct(channels // 2, channels, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.expand(self.squeeze(x))


class ResidualBlock(nn.Sequential):
    """``num_blocks`` residual units in a row; shape ``(B, C, H, W)`` is kept."""

    def __init__(self, num_blocks: int, channels: int):
        super().__init__(*(ResidualUnit(channels) for _ in range(num_blocks)))


def build_layer(layer: LayerConfig) -> nn.Module:
    if isinstance(layer, DownsampleConfig):
        return Downsample(layer.in_channels, layer.out_channels)
    if isinstance(layer, ResidualBlockConfig):
        return ResidualBlock(layer.num_blocks, layer.channels)
    raise TypeError(f"unknown layer config {layer!r}")  # load_config rules this out


class Backbone(nn.Module):
    """The layers of ``backbone_layers`` in order, returning one feature map per stage.

    A *stage* ends just before each Downsample (and at the end): its output is the richest
    feature map at that resolution, which is what the detection heads read.

    Attributes:
        stage_channels: channels of each stage's output, finest (stride 2) first.
        stage_strides: stride of each stage's output in input pixels (2, 4, 8, ...).
    """

    def __init__(self, layers: tuple[LayerConfig, ...]):
        super().__init__()
        self.layers = nn.ModuleList(build_layer(layer) for layer in layers)
        # Index of the last layer of each stage: the layer before each later Downsample.
        downsample_positions = [i for i, layer in enumerate(layers)
                                if isinstance(layer, DownsampleConfig)]
        self.stage_ends = tuple(position - 1 for position in downsample_positions[1:]) + (
            len(layers) - 1,)
        self.stage_channels = tuple(_out_channels(layers[:end + 1]) for end in self.stage_ends)
        self.stage_strides = tuple(2 ** (i + 1) for i in range(len(self.stage_ends)))

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images (B, 3, H, W)`` -> stage maps, finest first, ``(B, C_i, H/2^i, W/2^i)``."""
        features = []
        x = images
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in self.stage_ends:
                features.append(x)
        return features


def _out_channels(layers: tuple[LayerConfig, ...]) -> int:
    last = layers[-1]
    return last.out_channels if isinstance(last, DownsampleConfig) else last.channels
