"""A layer-by-layer table of a model: output shapes, parameters and multiply-accumulates."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from yolo_smol.config import input_size
from yolo_smol.model.yolo import YoloSmol

__all__ = ["LayerRow", "ModelSummary", "summarize", "count_macs", "network_blocks", "plot_network"]


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


@dataclass(frozen=True)
class _Block:
    """One box of the network diagram: its text and where it sits (column, row)."""

    text: str
    column: float
    row: int


def network_blocks(model: YoloSmol) -> tuple[list[_Block], list[tuple[int, int]]]:
    """The diagram of ``model`` as boxes and arrows (pairs of box indices), from a forward
    pass of one zero image: the input, every backbone layer with its output shape, and for
    each head (coarsest first) the upsample-and-concatenate path and the raw output."""
    width, height = model.config.input_size
    with torch.no_grad():
        images = torch.zeros(1, 3, height, width)
        stages = model.backbone(images)  # finest first
        outputs = model(images)
    blocks, arrows = [_Block(f"input\n3 x {height} x {width}", 0, 0)], []
    size = (height, width)
    for index, layer in enumerate(model.config.backbone_layers):
        if layer.type == "Downsample":
            size = (size[0] // 2, size[1] // 2)
            text = f"Downsample\n{layer.out_channels} x {size[0]} x {size[1]}"
        else:
            text = f"Residual x{layer.num_blocks}\n{layer.channels} x {size[0]} x {size[1]}"
        blocks.append(_Block(text, index + 1, 0))
        arrows.append((index, index + 1))
    # Stage k (finest first) ends with layer stage_ends[k]: block stage_ends[k] + 1.
    stage_block = {k: end + 1 for k, end in enumerate(model.backbone.stage_ends)}
    previous_head = None
    for head, raw in enumerate(outputs):
        stage = len(stages) - 1 - head
        column = blocks[stage_block[stage]].column
        _, anchors, rows, columns, values = raw.shape
        blocks.append(_Block(f"head {head} (stride {model.strides[head]})\n"
                             f"{anchors} x {rows} x {columns} x {values}", column, 1 + head))
        arrows.append((stage_block[stage], len(blocks) - 1))
        if previous_head is not None:  # the route of the coarser head, upsampled, joins in
            arrows.append((previous_head, len(blocks) - 1))
        previous_head = len(blocks) - 1
    return blocks, arrows


def plot_network(model: YoloSmol):
    """A matplotlib figure of ``model``: backbone left to right, the heads below the stages
    they read, arrows for the data flow (the arrow between heads is the 1x1 conv, the
    upsampling by 2 and the concatenation with the finer stage). Shapes are C x H x W for
    one image; head outputs A x S_h x S_w x (5 + C)."""
    import matplotlib.pyplot as plt

    blocks, arrows = network_blocks(model)
    columns = max(block.column for block in blocks) + 1
    rows = max(block.row for block in blocks) + 1
    # Compact, with large type: the book shows it at a page's width (about 7 inches).
    figure, ax = plt.subplots(figsize=(1.35 * columns, 0.95 * rows + 0.2))
    for block in blocks:
        colour = "#dbe9f6" if block.row == 0 else "#fde2c8"
        ax.text(block.column, -block.row, block.text, ha="center", va="center", fontsize=10,
                bbox={"boxstyle": "round,pad=0.4", "fc": colour, "ec": "0.4"})
    for start, end in arrows:
        a, b = blocks[start], blocks[end]
        ax.annotate("", xy=(b.column - 0.45 * (b.row == a.row), -b.row + 0.28 * (b.row != a.row)),
                    xytext=(a.column + 0.45 * (b.row == a.row), -a.row - 0.28 * (b.row != a.row)),
                    arrowprops={"arrowstyle": "->", "color": "0.3"})
        if a.row > 0:  # head to head: the upsample path
            ax.text((a.column + b.column) / 2 + 0.3, -(a.row + b.row) / 2 - 0.1,
                    "1x1 conv,\nupsample x2,\nconcatenate", fontsize=9, color="0.3",
                    va="center")
    ax.set(xlim=(-0.6, columns - 0.4), ylim=(-rows + 0.4, 0.6))
    ax.axis("off")
    figure.tight_layout()
    return figure
