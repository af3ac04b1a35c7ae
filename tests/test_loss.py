import math

import pytest
import torch

from yolo_smol import YoloSmol, load_config
from yolo_smol.data.prepare import prepare
from yolo_smol.data.synthetic import make_synthetic
from yolo_smol.detection.loss import LossConfig, yolo_loss

ANCHORS = torch.tensor([[[0.15, 0.73]], [[0.1, 0.46]]])


def _zero_outputs(batch=1):
    return [torch.zeros(batch, 1, 4, 4, 15, requires_grad=True),
            torch.zeros(batch, 1, 8, 8, 15, requires_grad=True)]


def test_one_box_worked_out_by_hand():
    # All logits 0: sigmoid 0.5 everywhere, every BCE term is log 2.
    targets = torch.tensor([[0, 3, 0.3, 0.6, 0.15, 0.7]])
    loss = yolo_loss(_zero_outputs(), targets, ANCHORS, LossConfig(ignore_threshold=1.0))
    # Box: head 0, cell (col 1, row 2); targets (0.2, 0.4, log 1, log(0.7 / 0.73)).
    squared = (0.5 - 0.2) ** 2 + (0.5 - 0.4) ** 2 + 0.0 + math.log(0.7 / 0.73) ** 2
    assert loss["box"].item() == pytest.approx(squared * (2 - 0.15 * 0.7), rel=1e-5)
    assert loss["objectness"].item() == pytest.approx((16 + 64) * math.log(2), rel=1e-5)
    assert loss["class"].item() == pytest.approx(10 * math.log(2), rel=1e-5)
    assert loss["total"].item() == pytest.approx(
        loss["box"].item() + loss["objectness"].item() + loss["class"].item(), rel=1e-6)
    assert (loss["assigned"].item(), loss["ignored"].item(), loss["collisions"].item()) == (
        1, 0, 0)


def test_weights_and_the_size_scale():
    targets = torch.tensor([[0, 3, 0.3, 0.6, 0.15, 0.7]])
    plain = yolo_loss(_zero_outputs(), targets, ANCHORS, LossConfig(scale_by_size=False))
    scaled = yolo_loss(_zero_outputs(), targets, ANCHORS)
    assert scaled["box"].item() == pytest.approx(plain["box"].item() * (2 - 0.105), rel=1e-5)
    weighted = yolo_loss(_zero_outputs(), targets, ANCHORS,
                         LossConfig(box_weight=5.0, objectness_weight=0.5, class_weight=2.0))
    assert weighted["total"].item() == pytest.approx(
        5 * scaled["box"].item() + 0.5 * scaled["objectness"].item()
        + 2 * scaled["class"].item(), rel=1e-5)


def _logit(p):
    return math.log(p / (1 - p))


def test_ignore_rule_spares_an_unassigned_prediction_that_overlaps_a_digit():
    targets = torch.tensor([[0, 3, 0.3, 0.6, 0.15, 0.7]])  # assigned to head 0
    outputs = [o.detach().clone() for o in _zero_outputs()]
    # Make the head-1 prediction at (row 4, col 2) decode exactly onto the true box.
    raw = outputs[1][0, 0, 4, 2]
    raw[0], raw[1] = _logit(0.3 * 8 - 2), _logit(0.6 * 8 - 4)
    raw[2], raw[3] = math.log(0.15 / 0.1), math.log(0.7 / 0.46)
    raw[4] = 3.0  # confident: without the rule, this is punished as a false positive
    for output in outputs:
        output.requires_grad_(True)
    loss = yolo_loss(outputs, targets, ANCHORS)
    assert loss["ignored"].item() == 1
    loss["objectness"].backward()
    assert outputs[1].grad[0, 0, 4, 2, 4].item() == 0.0
    assert outputs[1].grad[0, 0, 4, 3, 4].item() > 0  # a neighbour still learns "no object"
    strict = yolo_loss([o.detach().requires_grad_(True) for o in outputs], targets, ANCHORS,
                       LossConfig(ignore_threshold=1.0))
    assert strict["ignored"].item() == 0
    assert strict["objectness"].item() > loss["objectness"].item() + 3.0 - 1e-4


def test_collisions_are_counted():
    targets = torch.tensor([[0, 1, 0.30, 0.6, 0.15, 0.70], [0, 2, 0.32, 0.62, 0.12, 0.60]])
    loss = yolo_loss(_zero_outputs(), targets, ANCHORS)
    assert loss["collisions"].item() == 1 and loss["assigned"].item() == 1


@pytest.fixture(scope="module")
def batch():
    data = prepare(make_synthetic(16, seed=2), image_size=32)
    images, targets = data.batch(torch.arange(16))
    return images.float() / 255, targets


def test_batched_equals_one_image_at_a_time(batch):
    images, targets = batch
    torch.manual_seed(0)
    model = YoloSmol(load_config("smol")).eval()
    with torch.no_grad():
        outputs = model(images)
        batched = yolo_loss(outputs, targets, model.anchors)
        singles = []
        for index in range(len(images)):
            mine = targets[targets[:, 0] == index].clone()
            mine[:, 0] = 0
            singles.append(yolo_loss([output[index:index + 1] for output in outputs], mine,
                                     model.anchors))
    for name in ("box", "objectness", "class", "total"):
        assert batched[name].item() * len(images) == pytest.approx(
            sum(single[name].item() for single in singles), rel=1e-5), name
    for name in ("assigned", "ignored", "collisions"):
        assert batched[name].item() == sum(single[name].item() for single in singles), name


def test_empty_targets_give_a_finite_objectness_only_loss():
    loss = yolo_loss(_zero_outputs(batch=3), torch.zeros(0, 6), ANCHORS)
    assert loss["box"].item() == 0 and loss["class"].item() == 0
    assert math.isfinite(loss["total"].item()) and loss["objectness"].item() > 0
    assert loss["total"].item() == loss["objectness"].item()


@pytest.mark.parametrize("box_loss", ["sse", "giou"])
@pytest.mark.parametrize("fill", [1e4, -1e4, 0.0])
def test_never_nan_or_inf(box_loss, fill):
    targets = torch.tensor([[0, 1, 1.0, 1.0, 0.01, 0.02],    # centre on the far corner
                            [0, 2, 0.0, 0.5, 1.0, 1.0],      # the whole image
                            [1, 3, 0.5, 0.5, 1e-5, 1e-5]])   # a speck
    outputs = [torch.full((2, 1, 4, 4, 15), fill, requires_grad=True),
               torch.full((2, 1, 8, 8, 15), fill, requires_grad=True)]
    loss = yolo_loss(outputs, targets, ANCHORS, LossConfig(box_loss=box_loss))
    assert all(torch.isfinite(value).all() for value in loss.values())
    loss["total"].backward()
    assert all(torch.isfinite(output.grad).all() for output in outputs)


def test_giou_option_is_zero_for_a_perfect_box():
    targets = torch.tensor([[0, 3, 0.375, 0.625, 0.15, 0.73]])  # anchor 0 at a cell centre
    loss = yolo_loss(_zero_outputs(), targets, ANCHORS, LossConfig(box_loss="giou"))
    assert loss["box"].item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="box_loss must be"):
        LossConfig(box_loss="l1")


def test_gradients_reach_every_parameter(batch):
    images, targets = batch
    model = YoloSmol(load_config("smol")).train()
    yolo_loss(model(images), targets, model.anchors)["total"].backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_overfits_one_batch_of_eight_images_quickly():
    data = prepare(make_synthetic(8, seed=4), image_size=32)
    images, targets = data.batch(torch.arange(8))
    images = images.float() / 255
    torch.manual_seed(0)
    model = YoloSmol(load_config("smol")).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):  # it gets there in about 30 steps; 60 leaves a margin
        loss = yolo_loss(model(images), targets, model.anchors)["total"]
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # The stated target: below 5 % of the starting loss (speed itself is measured in
    # benchmarks/, not asserted here).
    assert loss.item() < 0.05 * first, (first, loss.item())
