import pytest
import torch
import torchvision

from yolo_smol.detection.nms import batched_nms, dense_batched_nms, nms


def _random_case(seed: int):
    generator = torch.Generator().manual_seed(seed)
    count = int(torch.randint(0, 40, (1,), generator=generator))
    corners = torch.rand(count, 2, generator=generator) * 50
    sizes = torch.rand(count, 2, generator=generator) * 20 + 0.5
    boxes = torch.cat([corners, corners + sizes], dim=1)
    if count and seed % 3 == 0:  # exact duplicates
        boxes[count // 2:] = boxes[: count - count // 2].clone()
    # Scores on a coarse grid, so that ties are common.
    scores = torch.randint(0, 8, (count,), generator=generator).float() / 8
    threshold = float(torch.rand((), generator=generator)) * 0.8 + 0.1
    groups = torch.randint(0, 4, (count,), generator=generator)
    return boxes, scores, groups, threshold


@pytest.mark.parametrize("start", range(0, 1200, 100))
def test_hand_written_nms_equals_torchvision_ties_included(start):
    for seed in range(start, start + 100):
        boxes, scores, _, threshold = _random_case(seed)
        expected = torchvision.ops.nms(boxes, scores, threshold)
        assert torch.equal(nms(boxes, scores, threshold), expected), seed


@pytest.mark.parametrize("start", range(0, 1000, 250))
def test_batched_nms_keeps_what_torchvision_keeps(start):
    for seed in range(start, start + 250):
        boxes, scores, groups, threshold = _random_case(seed)
        ours = batched_nms(boxes, scores, groups, threshold)
        theirs = torchvision.ops.batched_nms(boxes, scores, groups, threshold)
        assert sorted(ours.tolist()) == sorted(theirs.tolist()), seed
        assert torch.equal(scores[ours], scores[theirs])  # both ordered by score


def test_nothing_in_nothing_out():
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)
    assert batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long),
                       0.5).shape == (0,)


@pytest.mark.parametrize("start", range(0, 1000, 250))
def test_dense_batched_nms_keeps_what_torchvision_keeps_per_image(start):
    for seed in range(start, start + 250, 10):
        cases = [_random_case(seed + offset) for offset in range(10)]  # a batch of 10 images
        count = max(len(case[1]) for case in cases)
        boxes = torch.zeros(10, count, 4)
        scores, labels = torch.zeros(10, count), torch.zeros(10, count, dtype=torch.long)
        valid = torch.zeros(10, count, dtype=torch.bool)
        for index, (case_boxes, case_scores, case_groups, _) in enumerate(cases):
            size = len(case_scores)
            boxes[index, :size], scores[index, :size] = case_boxes, case_scores
            labels[index, :size], valid[index, :size] = case_groups, True
        threshold = cases[0][3]
        kept = dense_batched_nms(boxes, scores, labels, valid, threshold)
        for index, (case_boxes, case_scores, case_groups, _) in enumerate(cases):
            expected = torchvision.ops.batched_nms(case_boxes, case_scores, case_groups,
                                                   threshold)
            assert sorted(kept[index].nonzero().flatten().tolist()) == sorted(
                expected.tolist()), (seed, index)


def test_dense_batched_nms_settles_a_long_suppression_chain():
    # Each box overlaps the next by more than the threshold and the one after by less:
    # greedy NMS keeps every other box, and the decision for each box depends on all the
    # boxes above it (the longest chain the fixed-point rounds have to settle).
    count = 30
    left = torch.arange(count, dtype=torch.float32) * 4
    boxes = torch.stack([left, torch.zeros(count), left + 10, torch.full((count,), 10.0)], 1)
    scores = torch.linspace(1.0, 0.1, count)
    kept = dense_batched_nms(boxes[None], scores[None], torch.zeros(1, count, dtype=torch.long),
                             torch.ones(1, count, dtype=torch.bool), 0.3)
    expected = torchvision.ops.nms(boxes, scores, 0.3)
    assert kept[0].nonzero().flatten().tolist() == sorted(expected.tolist())
    assert expected.tolist() == list(range(0, count, 2))
