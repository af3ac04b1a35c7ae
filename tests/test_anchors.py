import itertools

import pytest
import torch
from torchvision.ops import box_iou

from tests.fixtures_data import make_dataset, png_bytes
from yolo_smol.anchors.kmeans import (
    AnchorError,
    anchor_fitness,
    best_anchor,
    box_shapes,
    kmeans_anchors,
    kmeans_plus_plus,
    kmeans_step,
    read_box_csv,
    shape_iou,
    split_anchors,
)


def _centred_xyxy(wh):
    return torch.cat([-wh / 2, wh / 2], dim=1)


def test_shape_iou_equals_torchvision_on_centred_boxes():
    generator = torch.Generator().manual_seed(0)
    boxes, anchors = torch.rand(50, 2, generator=generator), torch.rand(7, 2, generator=generator)
    expected = box_iou(_centred_xyxy(boxes), _centred_xyxy(anchors))
    torch.testing.assert_close(shape_iou(boxes, anchors), expected)


def _around(shapes, per_shape=200, jitter=0.02, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.tensor(shapes).repeat_interleave(per_shape, dim=0)
    return centres * (1 + jitter * (2 * torch.rand(centres.shape, generator=generator) - 1))


def test_known_shapes_come_back():
    known = [[0.3, 0.9], [0.15, 0.6], [0.05, 0.25]]
    result = kmeans_anchors(_around(known), k=3, seed=1)
    torch.testing.assert_close(result.anchors, torch.tensor(known), atol=0.01, rtol=0)
    assert result.mean_iou > 0.95 and result.recall == 1.0


@pytest.mark.parametrize("seed", range(8))
def test_mean_iou_never_drops(seed):
    generator = torch.Generator().manual_seed(seed)
    # Skewed shapes, where plain mean updates are known to lower the IoU now and then.
    boxes = torch.rand(400, 2, generator=generator).pow(3).clamp(min=0.01)
    result = kmeans_anchors(boxes, k=5, restarts=3, seed=seed)
    steps = torch.tensor(result.history)
    assert (steps[1:] >= steps[:-1] - 1e-6).all(), result.history


def test_a_step_never_lowers_the_mean_iou():
    generator = torch.Generator().manual_seed(3)
    boxes = torch.rand(300, 2, generator=generator).clamp(min=0.02)
    centres = kmeans_plus_plus(boxes, 4, generator)
    before = anchor_fitness(boxes, centres)[0]
    for _ in range(10):
        centres, _, after = kmeans_step(boxes, centres)
        assert after >= before - 1e-6
        before = after


def _brute_force_best(boxes: torch.Tensor, k: int) -> float:
    """Best mean IoU over every way of putting the boxes into k non-empty clusters, each
    cluster's anchor chosen by the same rule as the k-means update step."""
    best = 0.0
    for labels in itertools.product(range(k), repeat=len(boxes)):
        labels = torch.tensor(labels)
        if labels.unique().numel() < k:
            continue
        anchors = torch.stack([best_anchor(boxes[labels == cluster]) for cluster in range(k)])
        best = max(best, anchor_fitness(boxes, anchors)[0])
    return best


TINY_CASES = [torch.tensor([[0.1, 0.4], [0.12, 0.45], [0.11, 0.5], [0.3, 0.8], [0.28, 0.9],
                            [0.05, 0.2]])] + [
    (torch.rand(7, 2, generator=torch.Generator().manual_seed(seed))
     * torch.tensor([0.3, 0.9])).clamp(min=0.02) for seed in range(4)]


@pytest.mark.parametrize("boxes", TINY_CASES)
def test_tiny_cases_match_brute_force_over_all_assignments(boxes):
    assert kmeans_anchors(boxes, k=2, restarts=10).mean_iou == pytest.approx(
        _brute_force_best(boxes, 2), abs=1e-6)


def test_anchors_sorted_largest_first_and_reproducible():
    boxes = _around([[0.05, 0.2], [0.3, 0.9], [0.15, 0.6]], seed=4)
    first, again = kmeans_anchors(boxes, 3, seed=7), kmeans_anchors(boxes, 3, seed=7)
    areas = first.anchors.prod(-1)
    assert (areas[:-1] > areas[1:]).all()
    assert torch.equal(first.anchors, again.anchors)
    assert first.assignment.shape == (len(boxes),)


def test_recall_counts_boxes_above_the_threshold():
    boxes = torch.tensor([[0.1, 0.5], [0.1, 0.2]])
    anchors = torch.tensor([[0.1, 0.5]])
    mean_iou, recall = anchor_fitness(boxes, anchors, recall_threshold=0.5)
    assert mean_iou == pytest.approx((1.0 + 0.4) / 2) and recall == 0.5


def test_split_gives_the_largest_anchors_to_the_coarsest_head():
    anchors = torch.tensor([[0.05, 0.2], [0.3, 0.9], [0.1, 0.4], [0.2, 0.7]])
    assert split_anchors(anchors, 2) == [[(0.3, 0.9), (0.2, 0.7)], [(0.1, 0.4), (0.05, 0.2)]]
    with pytest.raises(AnchorError, match="multiple of 3"):
        split_anchors(anchors, 3)


def test_k_larger_than_distinct_boxes():
    boxes = torch.tensor([[0.1, 0.5]] * 5 + [[0.2, 0.6]] * 5)
    with pytest.raises(AnchorError, match="k=3 anchors need at least 3 distinct box shapes"):
        kmeans_anchors(boxes, 3)


@pytest.mark.parametrize("boxes, message", [
    (torch.zeros(0, 2), "no boxes"),
    (torch.tensor([[0.1, 1.5]]), r"must be fractions of the image in \(0, 1\]"),
    (torch.tensor([[0.0, 0.5]]), r"\(0, 1\]"),
    (torch.rand(4, 3), r"must be \(N, 2\)"),
])
def test_bad_boxes(boxes, message):
    with pytest.raises(AnchorError, match=message):
        kmeans_anchors(boxes, 1)


def test_box_shapes_from_a_dataset_are_clipped_fractions():
    dataset = make_dataset([(png_bytes(100, 50), [[10, 5, 20, 40], [90, 0, 20, 50]], [1, 2])])
    torch.testing.assert_close(box_shapes(dataset), torch.tensor([[0.2, 0.8], [0.1, 1.0]]))


def test_csv(tmp_path):
    path = tmp_path / "sizes.csv"
    path.write_text("w,h\n0.1,0.5\n\n0.2,0.7\n")
    torch.testing.assert_close(read_box_csv(path), torch.tensor([[0.1, 0.5], [0.2, 0.7]]))
    path.write_text("")
    with pytest.raises(AnchorError, match="the file is empty"):
        read_box_csv(path)
    path.write_text("0.1,0.5\n0.2\n")
    with pytest.raises(AnchorError, match="line 2: expected 2 values"):
        read_box_csv(path)
    path.write_text("0.1,0.5\n0.2,abc\n")
    with pytest.raises(AnchorError, match="line 2: '0.2,abc' is not two numbers"):
        read_box_csv(path)
    path.write_text("0.1,0.5\n12,40\n")
    with pytest.raises(AnchorError, match=r"box 1 has shape \[12.0, 40.0\]"):
        read_box_csv(path)
    with pytest.raises(AnchorError, match="no such file"):
        read_box_csv(tmp_path / "absent.csv")
