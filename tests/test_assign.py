import pytest
import torch

from yolo_smol.data.prepare import prepare
from yolo_smol.data.synthetic import make_synthetic
from yolo_smol.detection.assign import assign_targets, assign_targets_reference

ANCHORS = torch.tensor([[[0.15, 0.73]], [[0.1, 0.46]]])  # (L=2, A=1, 2), smol.json
GRIDS = [(4, 4), (8, 8)]


def test_one_box_goes_to_the_best_shape_and_the_cell_of_its_centre():
    targets = torch.tensor([[0, 3, 0.3, 0.6, 0.15, 0.7]])
    assignment = assign_targets(targets, ANCHORS, GRIDS)
    assert (assignment.head.item(), assignment.anchor.item()) == (0, 0)
    assert (assignment.row.item(), assignment.col.item()) == (2, 1)
    torch.testing.assert_close(assignment.offsets, torch.tensor([[0.2, 0.4]]))
    torch.testing.assert_close(assignment.log_scales,
                               torch.log(torch.tensor([[1.0, 0.7 / 0.73]])))
    assert assignment.labels.tolist() == [3] and assignment.num_collisions == 0
    small = assign_targets(torch.tensor([[0, 1, 0.3, 0.6, 0.08, 0.4]]), ANCHORS, GRIDS)
    assert (small.head.item(), small.row.item(), small.col.item()) == (1, 4, 2)


def test_collisions_keep_the_best_fitting_box_then_the_first():
    targets = torch.tensor([[0, 1, 0.30, 0.6, 0.15, 0.70],    # fits anchor 0 best
                            [0, 2, 0.32, 0.62, 0.12, 0.60],   # same cell, worse fit: loses
                            [1, 4, 0.30, 0.6, 0.15, 0.70],    # another image: no collision
                            [1, 5, 0.31, 0.61, 0.15, 0.70]])  # same shape as row 2: first wins
    assignment = assign_targets(targets, ANCHORS, GRIDS)
    assert assignment.target_index.tolist() == [0, 2]
    assert assignment.labels.tolist() == [1, 4] and assignment.num_collisions == 2


def test_empty_targets():
    assignment = assign_targets(torch.zeros(0, 6), ANCHORS, GRIDS)
    assert len(assignment) == 0 and assignment.num_collisions == 0


def test_a_box_that_fits_other_anchors_well_is_assigned_to_them_too():
    # Shape IoU of this box with anchor 0 (0.15 x 0.73) is 0.66, with anchor 1 (0.1 x 0.46)
    # 0.64: YOLOv3 takes only anchor 0; a threshold below 0.64 adds anchor 1 on head 1.
    targets = torch.tensor([[0, 7, 0.3, 0.6, 0.12, 0.6], [0, 2, 0.7, 0.5, 0.14, 0.75]])
    only_best = assign_targets(targets, ANCHORS, GRIDS)
    assert only_best.head.tolist() == [0, 0] and only_best.target_index.tolist() == [0, 1]
    both = assign_targets(targets, ANCHORS, GRIDS, anchor_iou_threshold=0.5)
    assert both.target_index.tolist() == [0, 0, 1]  # the second fits anchor 1 by 0.43
    assert both.head.tolist() == [0, 1, 0] and both.labels.tolist() == [7, 7, 2]
    assert (both.row[1].item(), both.col[1].item()) == (4, 2)  # its centre's cell on 8 x 8
    torch.testing.assert_close(both.log_scales[1], torch.log(torch.tensor([1.2, 0.6 / 0.46])))
    everywhere = assign_targets(targets, ANCHORS, GRIDS, anchor_iou_threshold=0.0)
    assert everywhere.target_index.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("anchor_iou_threshold", [1.0, 0.213, 0.0])
def test_vectorised_equals_the_loop_reference(seed, anchor_iou_threshold):
    data = prepare(make_synthetic(96, seed=seed), image_size=32)
    _, targets = data.batch(torch.arange(96))
    three_heads = torch.tensor([[[0.3, 0.9], [0.2, 0.7]], [[0.15, 0.6], [0.12, 0.5]],
                                [[0.08, 0.35], [0.05, 0.2]]])
    for anchors, grids in ((ANCHORS, GRIDS), (three_heads, [(2, 2), (4, 4), (8, 8)])):
        fast = assign_targets(targets, anchors, grids, anchor_iou_threshold)
        slow = assign_targets_reference(targets, anchors, grids, anchor_iou_threshold)
        for field in ("head", "image", "anchor", "row", "col", "labels", "target_index"):
            assert torch.equal(getattr(fast, field), getattr(slow, field)), field
        torch.testing.assert_close(fast.offsets, slow.offsets)
        torch.testing.assert_close(fast.log_scales, slow.log_scales)
        torch.testing.assert_close(fast.boxes_cxcywh, slow.boxes_cxcywh)
        assert fast.num_collisions == slow.num_collisions


def test_float64_targets_assign_as_float32_ones_do():
    # Targets built in double precision (numpy's default) once failed inside the collision
    # step: its running best fit was float32 whatever the targets were.
    data = prepare(make_synthetic(32, seed=0), image_size=32)
    _, targets = data.batch(torch.arange(32))
    single = assign_targets(targets, ANCHORS, GRIDS)
    double = assign_targets(targets.double(), ANCHORS.double(), GRIDS)
    for field in ("head", "image", "anchor", "row", "col", "labels", "target_index"):
        assert torch.equal(getattr(single, field), getattr(double, field)), field
    assert double.offsets.dtype == torch.float64
