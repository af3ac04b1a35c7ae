import pytest
import torch
import torchvision

from yolo_smol.detection.nms import batched_nms, dense_batched_nms, fusing_nms, merging_nms, nms


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


def test_merging_nms_moves_a_kept_box_to_the_weighted_mean_of_the_boxes_it_removed():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 20.0], [2.0, 0.0, 12.0, 20.0],  # two looks at a 3
                          [1.0, 0.0, 11.0, 20.0],  # the same place, but read as a 5
                          [30.0, 0.0, 40.0, 20.0]])  # another digit
    scores = torch.tensor([0.9, 0.3, 0.5, 0.8])
    labels = torch.tensor([3, 3, 5, 3])
    kept, merged = merging_nms(boxes, scores, labels, 0.45)
    assert kept.tolist() == [0, 3, 2]
    torch.testing.assert_close(merged, torch.tensor([[0.5, 0.0, 10.5, 20.0], boxes[3].tolist(),
                                                     boxes[2].tolist()]))
    nothing = merging_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long),
                          0.5)
    assert nothing[0].shape == (0,) and nothing[1].shape == (0, 4)


@pytest.mark.parametrize("start", range(0, 600, 200))
def test_merging_nms_keeps_what_torchvision_keeps_and_merges_what_it_removed(start):
    for seed in range(start, start + 200):
        boxes, scores, groups, threshold = _random_case(seed)
        scores = scores + 0.01  # no zero scores: a mean weighted by nothing is undefined
        kept, merged = merging_nms(boxes, scores, groups, threshold)
        expected = torchvision.ops.batched_nms(boxes, scores, groups, threshold)
        assert sorted(kept.tolist()) == sorted(expected.tolist()), seed
        assert torch.equal(scores[kept], scores[expected])
        # Greedy NMS by hand, recording which kept box removed each box.
        order = torch.sort(scores, stable=True, descending=True).indices.tolist()
        iou = torchvision.ops.box_iou(boxes, boxes)
        members, removed = {}, set()
        for index in order:
            if index in removed:
                continue
            members[index] = [other for other in order if other not in removed and other != index
                              and other not in members and groups[other] == groups[index]
                              and iou[index, other] > threshold]
            removed.update(members[index])
        for row, index in enumerate(kept.tolist()):
            group = [index, *members[index]]
            weights = scores[group][:, None]
            torch.testing.assert_close(merged[row], (weights * boxes[group]).sum(0)
                                       / weights.sum(), msg=f"seed {seed}")


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


def test_fusing_nms_scores_each_digit_by_the_mean_of_what_each_reading_gave_it():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 20.0], [2.0, 0.0, 12.0, 20.0],  # a 3, two sizes
                          [1.0, 0.0, 11.0, 20.0],  # the third size's box on it, best there
                          [0.0, 0.0, 10.0, 19.0],  # and its second, weaker box there
                          [30.0, 0.0, 40.0, 20.0]])  # a 7 one size alone found
    scores = torch.tensor([0.9, 0.6, 0.3, 0.2, 0.9])
    labels = torch.tensor([3, 3, 3, 3, 7])
    sources = torch.tensor([0, 1, 2, 2, 1])
    kept, merged, fused = fusing_nms(boxes, scores, labels, sources, 3, 0.45)
    assert kept.tolist() == [0, 4]
    # The 3: 0.9, 0.6 and the better of 0.3 and 0.2; the 7: 0.9 from one of three.
    torch.testing.assert_close(fused, torch.tensor([(0.9 + 0.6 + 0.3) / 3, 0.9 / 3]))
    torch.testing.assert_close(merged, merging_nms(boxes, scores, labels, 0.45)[1])
    nothing = fusing_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long),
                         torch.zeros(0, dtype=torch.long), 3, 0.5)
    assert [part.shape for part in nothing] == [(0,), (0, 4), (0,)]


@pytest.mark.parametrize("start", range(0, 400, 200))
def test_fusing_nms_keeps_and_merges_as_merging_nms_and_averages_each_readings_best(start):
    for seed in range(start, start + 200):
        boxes, scores, groups, threshold = _random_case(seed)
        scores = scores + 0.01
        sources = torch.randint(0, 3, (len(scores),), generator=torch.Generator().manual_seed(seed))
        kept, merged, fused = fusing_nms(boxes, scores, groups, sources, 3, threshold)
        expected_kept, expected_merged = merging_nms(boxes, scores, groups, threshold)
        assert torch.equal(kept, expected_kept) and torch.equal(merged, expected_merged), seed
        # By hand: the boxes greedy NMS removed because of each kept box, and itself.
        order = torch.sort(scores, stable=True, descending=True).indices.tolist()
        iou = torchvision.ops.box_iou(boxes, boxes)
        owner = {}
        for index in order:
            if index in owner:
                continue
            owner[index] = index
            for other in order:
                if other not in owner and groups[other] == groups[index] \
                        and iou[index, other] > threshold:
                    owner[other] = index
        for row, index in enumerate(kept.tolist()):
            best = [max([float(scores[j]) for j, k in owner.items()
                         if k == index and sources[j] == source], default=0.0)
                    for source in range(3)]
            assert float(fused[row]) == pytest.approx(sum(best) / 3), seed
