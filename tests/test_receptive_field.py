import pytest
import torch
from torch import nn

from tests.sample_configs import CONFIGS
from yolo_smol import YoloSmol, load_config
from yolo_smol.model.receptive_field import (
    head_receptive_fields,
    measure_receptive_field,
    stage_receptive_fields,
)


def _recurrence(layers: list[tuple[int, int]]) -> int:
    """The textbook recurrence over (kernel, stride) pairs: r += (k - 1) * jump."""
    field, jump = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * jump
        jump *= stride
    return field


def test_measurement_matches_the_recurrence_on_a_plain_conv_stack():
    layers = [(3, 2), (3, 1), (1, 1), (3, 2), (5, 1)]
    convs = nn.Sequential(*(nn.Conv2d(3, 3, k, s, padding=k // 2) for k, s in layers))
    with torch.no_grad():
        for conv in convs:
            conv.weight.fill_(0.1)
    assert measure_receptive_field(convs, 128) == _recurrence(layers) == 27


def test_smol_backbone_stages_match_the_recurrence():
    model = YoloSmol(load_config("smol"))
    # Downsample (3, 2); each residual unit is a 1x1 then a 3x3, both stride 1.
    unit = [(1, 1), (3, 1)]
    stage1 = [(3, 2)] + unit * 2
    stage2 = stage1 + [(3, 2)] + unit * 4
    stage3 = stage2 + [(3, 2)]
    expected = [_recurrence(stage1), _recurrence(stage2), _recurrence(stage3)]
    assert stage_receptive_fields(model) == expected == [11, 47, 55]


def test_head_fields_grow_with_depth_and_exceed_the_image():
    model = YoloSmol(load_config(CONFIGS["three_heads"]))
    fields = head_receptive_fields(model, input_size=768)
    assert len(fields) == 3
    assert all(field > model.config.image_size for field in fields)


def test_field_reaching_the_border_is_an_error():
    model = YoloSmol(load_config("smol"))
    with pytest.raises(ValueError, match="larger input_size"):
        head_receptive_fields(model, input_size=32)
