import torch

from yolo_smol.config import load_config
from yolo_smol.model.backbone import (
    Backbone,
    ConvBNAct,
    Downsample,
    FoldedConvAct,
    ResidualBlock,
    ResidualUnit,
    fold_batch_norms,
)
from yolo_smol.model.yolo import YoloSmol


def test_downsample_halves_resolution_and_uses_darknet_parts():
    layer = Downsample(3, 16)
    conv, norm, act = layer
    assert conv.kernel_size == (3, 3) and conv.stride == (2, 2) and conv.bias is None
    assert isinstance(norm, torch.nn.BatchNorm2d)
    assert isinstance(act, torch.nn.LeakyReLU) and act.negative_slope == 0.1
    assert layer(torch.zeros(2, 3, 32, 32)).shape == (2, 16, 16, 16)


def test_residual_unit_squeezes_to_half_and_adds_the_input():
    unit = ResidualUnit(32)
    assert unit.squeeze[0].kernel_size == (1, 1) and unit.squeeze[0].out_channels == 16
    assert unit.expand[0].kernel_size == (3, 3) and unit.expand[0].out_channels == 32
    unit.eval()
    x = torch.randn(2, 32, 8, 8)
    torch.testing.assert_close(unit(x), x + unit.expand(unit.squeeze(x)))


def test_residual_block_repeats_units():
    block = ResidualBlock(num_blocks=4, channels=32)
    assert len(block) == 4 and all(isinstance(unit, ResidualUnit) for unit in block)


def test_stages_of_smol():
    backbone = Backbone(load_config("smol").backbone_layers)
    assert backbone.stage_ends == (1, 3, 4)
    assert backbone.stage_channels == (16, 32, 64)
    assert backbone.stage_strides == (2, 4, 8)
    features = backbone(torch.zeros(1, 3, 32, 32))
    assert [tuple(f.shape) for f in features] == [(1, 16, 16, 16), (1, 32, 8, 8), (1, 64, 4, 4)]


def test_folding_batch_norms_keeps_the_outputs_and_leaves_the_model_as_it_was():
    model = YoloSmol(load_config("smol128x64"))
    # BatchNorm statistics and affine terms far from their defaults, so that folding them
    # wrongly (or not at all) shows in the outputs.
    generator = torch.Generator().manual_seed(0)
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        for tensor in (norm.weight.data, norm.bias.data, norm.running_mean):
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
        norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=generator) + 0.5)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    folded = fold_batch_norms(model)
    assert model.training and not folded.training
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    # Each conv-BatchNorm-activation triple became one module (one call instead of three).
    assert not any(isinstance(m, ConvBNAct) for m in folded.modules())
    assert sum(isinstance(m, FoldedConvAct) for m in folded.modules()) == 24
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 24
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    images = torch.rand(3, 3, 64, 128, generator=generator)
    with torch.no_grad():
        for ours, reference in zip(folded(images), model.eval()(images), strict=True):
            torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
