import torch
from torch import nn

from tests.sample_configs import CONFIGS
from yolo_smol import YoloSmol, load_config, summarize
from yolo_smol.model.summary import count_macs


def _conv_macs(model: nn.Module, size: int) -> int:
    """MACs of every conv, from each conv's own output size (an independent count)."""
    seen: list[tuple[nn.Conv2d, torch.Size]] = []
    hooks = [module.register_forward_hook(lambda m, _i, out: seen.append((m, out.shape)))
             for module in model.modules() if isinstance(module, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    for hook in hooks:
        hook.remove()
    return sum(shape.numel() * conv.in_channels // conv.groups * conv.kernel_size[0]
               * conv.kernel_size[1] for conv, shape in seen)


def test_summary_rows_and_totals_for_smol():
    model = YoloSmol(load_config("smol"))
    summary = summarize(model)
    assert summary.num_params == sum(p.numel() for p in model.parameters()) == 101_262
    assert [row.output_shape for row in summary.rows if row.name.startswith("heads")] == [
        (1, 1, 4, 4, 15), (1, 1, 8, 8, 15)]
    assert sum(row.num_params for row in summary.rows) == summary.num_params
    assert summary.macs_per_image == _conv_macs(model, 32)
    text = summary.format()
    assert "backbone.layers[3]" in text and "101,262" in text and "MACs per image" in text


def test_macs_scale_with_image_area():
    model = YoloSmol(load_config(CONFIGS["three_heads"]))
    small = count_macs(model.eval(), torch.zeros(1, 3, 64, 64))
    large = count_macs(model, torch.zeros(1, 3, 128, 128))
    assert large == 4 * small == 4 * _conv_macs(model, 64)


def test_summary_leaves_the_training_mode_alone():
    model = YoloSmol(load_config("smol")).train()
    summarize(model)
    assert model.training


def test_the_network_diagram_follows_the_config_and_the_forward_pass():
    from yolo_smol.model.summary import network_blocks

    model = YoloSmol(load_config("smol128x64"))
    blocks, arrows = network_blocks(model)
    texts = [block.text.replace("\n", " | ") for block in blocks]
    assert texts[0] == "input | 3 x 64 x 128"
    assert texts[5] == "Downsample | 64 x 8 x 16"                # the last stage
    assert texts[6] == "head 0 (stride 8) | 1 x 8 x 16 x 15"     # under it
    assert texts[7] == "head 1 (stride 4) | 1 x 16 x 32 x 15"
    assert (blocks[6].column, blocks[7].column) == (blocks[5].column, blocks[4].column)
    # The backbone is a chain; each head reads its stage; head 1 also gets head 0's route.
    assert arrows == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (4, 7), (6, 7)]
