"""The whole detector: backbone + YOLOv3 detection layers, built from a ``ModelConfig``."""

from __future__ import annotations

import torch
from torch import nn

from yolo_smol.config import ModelConfig, load_config
from yolo_smol.model.backbone import Backbone
from yolo_smol.model.head import DetectionHead, UpsamplePath

__all__ = ["YoloSmol"]


class YoloSmol(nn.Module):
    """A small YOLOv3.

    ``forward`` is pure: it maps images to one raw tensor per head and nothing else.
    Decoding, the loss and NMS live in their own modules.

    Attributes:
        config: the validated :class:`ModelConfig`.
        strides: stride of each head in input pixels, coarsest first (smol: ``(8, 4)``).
        anchors: ``(L, A, 2)`` buffer of anchor ``(w, h)`` as fractions of the image,
            ``anchors[i]`` belonging to head ``i`` (coarsest first).
    """

    def __init__(self, config: ModelConfig | str | dict):
        super().__init__()
        config = load_config(config)
        self.config = config
        self.strides = config.strides
        self.backbone = Backbone(config.backbone_layers)
        # Heads read the deepest stages, deepest (coarsest) first.
        stage_channels = self.backbone.stage_channels[::-1][:config.num_detection_layers]
        self.heads = nn.ModuleList()
        self.upsample_paths = nn.ModuleList()
        route_channels = 0
        for index, channels in enumerate(stage_channels):
            in_channels = channels
            if index > 0:
                path = UpsamplePath(route_channels)
                self.upsample_paths.append(path)
                in_channels = channels + path.out_channels
            width = max(1, channels // 2)
            self.heads.append(DetectionHead(in_channels, width, config.num_anchors_per_scale,
                                            config.num_classes))
            route_channels = width
        # Not persistent: the anchors come from the config, which every checkpoint stores.
        anchors = torch.tensor(config.anchors_per_head, dtype=torch.float32)  # (L, A, 2)
        self.register_buffer("anchors", anchors, persistent=False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Raw predictions of every head.

        Args:
            images: ``(B, 3, H, W)`` float, H and W multiples of the backbone's total stride.

        Returns:
            One tensor per head, coarsest first, each ``(B, A, S_h, S_w, 5 + C)`` with
            ``S = H / stride``; the last axis is ``(tx, ty, tw, th, objectness, classes...)``
            as logits, before any sigmoid or exp.
        """
        self._check_input(images)
        stages = self.backbone(images)  # finest first
        outputs = []
        route = None
        for index, head in enumerate(self.heads):
            features = stages[-1 - index]  # (B, C_i, S, S), coarsest first
            if route is not None:
                upsampled = self.upsample_paths[index - 1](route)  # (B, width/2, S, S)
                features = torch.cat([upsampled, features], dim=1)  # (B, C_i + width/2, S, S)
            route, raw = head(features)
            outputs.append(raw)  # (B, A, S, S, 5 + C)
        return outputs

    def _check_input(self, images: torch.Tensor) -> None:
        total_stride = 2 ** self.config.num_downsamples
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        if images.shape[2] % total_stride or images.shape[3] % total_stride:
            raise ValueError(f"image height and width must be multiples of {total_stride} "
                             f"(the total stride), got {tuple(images.shape[2:])}")
