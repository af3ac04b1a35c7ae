"""Configs shared by the tests: the shipped one and two that build differently."""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SMOL = json.loads((REPO / "configs" / "smol.json").read_text())

# Three heads with two anchors each at 64 px: four Downsamples, strides 16, 8, 4.
THREE_HEADS = {
    "num_classes": 10, "image_size": 64,
    "backbone_layers": [
        {"type": "Downsample", "in_channels": 3, "out_channels": 16},
        {"type": "ResidualBlock", "num_blocks": 1, "channels": 16},
        {"type": "Downsample", "in_channels": 16, "out_channels": 32},
        {"type": "ResidualBlock", "num_blocks": 2, "channels": 32},
        {"type": "Downsample", "in_channels": 32, "out_channels": 64},
        {"type": "ResidualBlock", "num_blocks": 2, "channels": 64},
        {"type": "Downsample", "in_channels": 64, "out_channels": 128},
        {"type": "ResidualBlock", "num_blocks": 1, "channels": 128}],
    "anchors": [[0.3, 0.9], [0.2, 0.7], [0.15, 0.6], [0.12, 0.5], [0.08, 0.35], [0.05, 0.2]],
    "num_anchors_per_scale": 2, "num_detection_layers": 3,
}

# A wider backbone, a single head, 3 classes, and Downsamples back to back.
WIDE = {
    "num_classes": 3, "image_size": 48,
    "backbone_layers": [
        {"type": "Downsample", "in_channels": 3, "out_channels": 48},
        {"type": "Downsample", "in_channels": 48, "out_channels": 96},
        {"type": "ResidualBlock", "num_blocks": 3, "channels": 96},
        {"type": "Downsample", "in_channels": 96, "out_channels": 160},
        {"type": "ResidualBlock", "num_blocks": 1, "channels": 160}],
    "anchors": [[0.2, 0.8], [0.1, 0.4], [0.05, 0.2]],
    "num_anchors_per_scale": 3, "num_detection_layers": 1,
}

CONFIGS = {"smol": SMOL, "three_heads": THREE_HEADS, "wide": WIDE}
