"""A layer-by-layer table of a model: output shapes, parameters and multiply-accumulates."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from yolo_smol.config import input_size
from yolo_smol.model.yolo import YoloSmol

__all__ = ["LayerRow", "ModelSummary", "summarize", "count_macs"]


@dataclass(frozen=True)
class LayerRow:
    name: str
    description: str
    output_shape: tuple[int, ...]
    num_params: int


@dataclass(frozen=True)
class ModelSummary:
    rows: tuple[LayerRow, ...]
    num_params: int
    macs_per_image: int
    image_size: int | tuple[int, int]

    def format(self) -> str:
        """The table as plain text, one layer a line, totals at the bottom."""
        header = ("layer", "type", "output shape (B=1)", "params")
        lines = [(row.name, row.description, str(tuple(row.output_shape)),
                  f"{row.num_params:,}") for row in self.rows]
        widths = [max(len(line[i]) for line in [header, *lines]) for i in range(4)]

        def render(cells: tuple[str, ...]) -> str:
            return "  ".join([cells[0].ljust(widths[0]), cells[1].ljust(widths[1]),
                              cells[2].ljust(widths[2]), cells[3].rjust(widths[3])])

        rule = "-" * len(render(header))
        return "\n".join([render(header), rule, *map(render, lines), rule,
                          f"parameters:          {self.num_params:,}",
                          f"MACs per image:      {self.macs_per_image:,} "
                          f"({self.macs_per_image / 1e6:.2f} M at {self._size_text} px)"])

    @property
    def _size_text(self) -> str:
        width, height = input_size(self.image_size)
        return str(width) if width == height else f"{width} x {height}"


def count_macs(model: nn.Module, images: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass on ``images``, counted by PyTorch.

    ``torch.utils.flop_counter`` counts a multiply and an add as two FLOPs; a MAC is one of
    each, hence the halving.
    """
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(images)
    return counter.get_total_flops() // 2


def _described_modules(model: YoloSmol) -> list[tuple[str, str, nn.Module]]:
    """The modules that make a row, in the order data flows through them."""
    config = model.config
    rows = [(f"backbone.layers[{i}]", _describe_layer(layer), module)
            for i, (layer, module) in enumerate(zip(config.backbone_layers,
                                                    model.backbone.layers, strict=True))]
    for index, head in enumerate(model.heads):
        if index > 0:
            path = model.upsample_paths[index - 1]
            rows.append((f"upsample_paths[{index - 1}]",
                         f"1x1 conv to {path.out_channels}, upsample x2", path))
        rows.append((f"heads[{index}]", f"head, stride {model.strides[index]}, "
                     f"A={head.num_anchors}", head))
    return rows


def _describe_layer(layer) -> str:
    if layer.type == "Downsample":
        return f"Downsample {layer.in_channels}->{layer.out_channels}"
    return f"ResidualBlock {layer.num_blocks}x{layer.channels}"


def summarize(model: YoloSmol, image_size: int | tuple[int, int] | None = None,
              ) -> ModelSummary:
    """Run one image through ``model`` and tabulate every layer's output shape and size.

    The route output of a head is left out: the row shows the raw prediction map.
    """
    image_size = image_size or model.config.image_size
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    described = _described_modules(model)
    for name, _, module in described:
        def record(_module, _inputs, output, name=name):
            tensor = output[1] if isinstance(output, tuple) else output
            shapes[name] = tuple(tensor.shape)
        hooks.append(module.register_forward_hook(record))
    was_training = model.training
    model.eval()
    try:
        width, height = input_size(image_size)
        images = torch.zeros(1, 3, height, width)
        macs = count_macs(model, images)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    rows = tuple(LayerRow(name, description, shapes[name],
                          sum(p.numel() for p in module.parameters()))
                 for name, description, module in described)
    total = sum(p.numel() for p in model.parameters())
    return ModelSummary(rows=rows, num_params=total, macs_per_image=macs, image_size=image_size)
