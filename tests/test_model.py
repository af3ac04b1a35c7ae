import pytest
import torch

from tests.sample_configs import CONFIGS
from yolo_smol import YoloSmol, load_config


def _model(name: str, seed: int = 0) -> YoloSmol:
    torch.manual_seed(seed)
    return YoloSmol(load_config(CONFIGS[name]))


@pytest.mark.parametrize("name, expected", [
    ("smol", [(2, 1, 4, 4, 15), (2, 1, 8, 8, 15)]),
    ("three_heads", [(2, 2, 4, 4, 15), (2, 2, 8, 8, 15), (2, 2, 16, 16, 15)]),
    ("wide", [(2, 3, 6, 6, 8)]),
])
def test_output_shapes(name, expected):
    model = _model(name)
    size = model.config.image_size
    outputs = model(torch.randn(2, 3, size, size))
    assert [tuple(output.shape) for output in outputs] == expected


@pytest.mark.parametrize("name, strides", [("smol", (8, 4)), ("three_heads", (16, 8, 4)),
                                           ("wide", (8,))])
def test_strides_match_the_grids(name, strides):
    model = _model(name)
    size = model.config.image_size
    assert model.strides == strides
    outputs = model(torch.zeros(1, 3, size, size))
    assert [size // output.shape[2] for output in outputs] == list(strides)


def test_anchors_are_split_over_heads_largest_first():
    model = _model("three_heads")
    assert model.anchors.shape == (3, 2, 2)  # (L, A, 2)
    torch.testing.assert_close(model.anchors[0], torch.tensor([[0.3, 0.9], [0.2, 0.7]]))
    areas = model.anchors.prod(dim=-1).flatten()
    assert torch.all(areas[:-1] >= areas[1:])


def test_other_input_sizes_work_for_a_fully_convolutional_model():
    model = _model("smol").eval()
    outputs = model(torch.randn(1, 3, 64, 128))
    assert [tuple(output.shape[2:4]) for output in outputs] == [(8, 16), (16, 32)]


def test_forward_has_no_side_effects():
    model = _model("smol").eval()
    images = torch.randn(4, 3, 32, 32)
    original = images.clone()
    state = {key: value.clone() for key, value in model.state_dict().items()}
    first = model(images)
    second = model(images)
    assert torch.equal(images, original)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_batch_items_are_independent_in_eval_mode():
    model = _model("smol").eval()
    images = torch.randn(3, 3, 32, 32)
    batched = model(images)
    for index in range(3):
        single = model(images[index:index + 1])
        for head_batched, head_single in zip(batched, single, strict=True):
            torch.testing.assert_close(head_batched[index:index + 1], head_single)


def test_prediction_bias_starts_at_the_priors():
    model = _model("smol").eval()
    outputs = model(torch.zeros(1, 3, 32, 32))
    final_bias = model.heads[0].predict[-1].bias.view(1, 15)
    assert torch.sigmoid(final_bias[0, 4]).item() == pytest.approx(0.01)
    assert torch.sigmoid(final_bias[0, 5:]).tolist() == pytest.approx([0.1] * 10)
    assert all(torch.isfinite(output).all() for output in outputs)


def test_gradients_reach_every_parameter():
    model = _model("three_heads")
    outputs = model(torch.randn(2, 3, 64, 64))
    sum(output.square().mean() for output in outputs).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("shape, message", [
    ((2, 1, 32, 32), r"images must be \(B, 3, H, W\)"),
    ((3, 32, 32), r"images must be \(B, 3, H, W\)"),
    ((1, 3, 30, 32), "multiples of 8"),
])
def test_bad_input_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        _model("smol")(torch.zeros(shape))


def test_model_accepts_a_name_or_dict():
    assert YoloSmol("smol").config == YoloSmol(CONFIGS["smol"]).config


def test_a_wide_input_gives_wide_grids():
    config = load_config(CONFIGS["smol"]).replace(image_size=[64, 32])
    assert config.input_size == (64, 32) and config.grid_shapes == ((4, 8), (8, 16))
    outputs = YoloSmol(config)(torch.zeros(2, 3, 32, 64))
    assert [tuple(output.shape) for output in outputs] == [(2, 1, 4, 8, 15), (2, 1, 8, 16, 15)]
