import pytest
import torch
import torchvision

from yolo_smol.boxes import cxcywh_to_xyxy
from yolo_smol.detection.postprocess import detect, flatten_predictions

ANCHORS = torch.tensor([[[0.15, 0.73]], [[0.1, 0.46]]])


def _outputs(seed, batch=6):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 1, 4, 4, 15, generator=generator) * 2,
            torch.randn(batch, 1, 8, 8, 15, generator=generator) * 2]


def test_detect_equals_torchvision_batched_nms_image_by_image():
    for seed in range(20):
        outputs = _outputs(seed)
        found = detect(outputs, ANCHORS, 32, confidence_threshold=0.05, iou_threshold=0.45)
        boxes, scores, labels = flatten_predictions(outputs, ANCHORS)
        for index, mine in enumerate(found):
            keep = scores[index] >= 0.05
            candidate_boxes = cxcywh_to_xyxy(boxes[index][keep]) * 32
            kept = torchvision.ops.batched_nms(candidate_boxes, scores[index][keep],
                                               labels[index][keep], 0.45)
            assert torch.equal(mine.scores, scores[index][keep][kept])
            assert torch.equal(mine.labels, labels[index][keep][kept])
            torch.testing.assert_close(mine.boxes_xyxy, candidate_boxes[kept])


def test_scores_are_objectness_times_the_best_class():
    outputs = [torch.zeros(1, 1, 4, 4, 15), torch.full((1, 1, 8, 8, 15), -20.0)]
    outputs[0][0, 0, 1, 2, 4] = 2.0  # objectness logit
    outputs[0][0, 0, 1, 2, 5 + 7] = 3.0  # class 7
    found = detect(outputs, ANCHORS, 32, confidence_threshold=0.6)[0]
    assert found.labels.tolist() == [7]
    expected = torch.sigmoid(torch.tensor(2.0)) * torch.sigmoid(torch.tensor(3.0))
    torch.testing.assert_close(found.scores, expected[None])
    # The anchor at the centre of cell (row 1, col 2) of the 8-px grid, in input pixels.
    torch.testing.assert_close(found.boxes_xyxy, torch.tensor(
        [[20 - 0.15 * 16, 12 - 0.73 * 16, 20 + 0.15 * 16, 12 + 0.73 * 16]]))


def test_original_sizes_and_limits():
    outputs = _outputs(3, batch=2)
    squashed = detect(outputs, ANCHORS, 32, confidence_threshold=0.01)
    original = detect(outputs, ANCHORS, 32, confidence_threshold=0.01,
                      original_sizes=[(100, 40), (64, 32)])
    scale = torch.tensor([100 / 32, 40 / 32, 100 / 32, 40 / 32])
    torch.testing.assert_close(original[0].boxes_xyxy, squashed[0].boxes_xyxy * scale)
    limited = detect(outputs, ANCHORS, 32, confidence_threshold=0.0, max_detections=3)
    assert len(limited) == 2 and all(found.num_detections == 3 for found in limited)
    assert all((found.scores[:-1] >= found.scores[1:]).all() for found in limited)


def test_nothing_above_the_threshold():
    outputs = [torch.full((2, 1, 4, 4, 15), -30.0), torch.full((2, 1, 8, 8, 15), -30.0)]
    found = detect(outputs, ANCHORS, 32, confidence_threshold=0.5)
    assert len(found) == 2 and found.counts.tolist() == [0, 0]
    assert found[0].boxes_xyxy.shape == (0, 4) and found[1].num_detections == 0


def test_one_digit_per_place_drops_a_second_class_on_the_same_digit():
    from yolo_smol.detection.metrics import GroundTruth, whole_number_accuracy
    from yolo_smol.detection.postprocess import Detections, one_digit_per_place

    boxes = torch.tensor([[2.0, 0, 10, 30], [2.5, 0, 10.5, 30],  # one digit, read as 1 and 7
                          [9.0, 0, 17, 30],                      # its neighbour, overlapping
                          [20.0, 0, 28, 30]])                    # below the threshold
    found = Detections.of_image(boxes, torch.tensor([0.9, 0.6, 0.8, 0.1]),
                                torch.tensor([1, 7, 2, 5]))
    kept = one_digit_per_place(found, confidence_threshold=0.25, overlap_threshold=0.3)[0]
    assert kept.labels.tolist() == [1, 2] and kept.scores.tolist() == pytest.approx([0.9, 0.8])
    truth = GroundTruth(boxes[[0, 2]], torch.tensor([1, 2]))
    assert whole_number_accuracy(found, [truth]) == 1.0
    assert whole_number_accuracy(found, [truth], overlap_threshold=None) == 0.0  # "172"
    assert len(one_digit_per_place(Detections.cat([]))) == 0


def test_detect_with_tied_scores_keeps_torchvision_sets_in_a_stable_order():
    for seed in range(20):
        # Logits on a coarse grid: many predictions share a score exactly.
        outputs = [(output * 2).round() / 2 for output in _outputs(seed, batch=4)]
        found = detect(outputs, ANCHORS, 32, confidence_threshold=0.05, iou_threshold=0.45)
        boxes, scores, labels = flatten_predictions(outputs, ANCHORS)
        for index, mine in enumerate(found):
            keep = (scores[index] >= 0.05).nonzero().flatten()
            kept = torchvision.ops.batched_nms(cxcywh_to_xyxy(boxes[index][keep]) * 32,
                                               scores[index][keep], labels[index][keep], 0.45)
            expected = keep[kept].tolist()
            # Best first, equal scores in prediction order.
            expected.sort(key=lambda column: (-float(scores[index, column]), column))
            assert torch.equal(mine.scores, scores[index][expected]), seed
            assert torch.equal(mine.labels, labels[index][expected]), seed


def test_predict_dataset_stacks_what_detect_finds_image_by_image():
    from yolo_smol import YoloSmol, load_config
    from yolo_smol.data.prepare import iterate_batches, prepare
    from yolo_smol.data.synthetic import make_synthetic
    from yolo_smol.training.evaluate import predict_dataset

    torch.manual_seed(0)
    model = YoloSmol(load_config("smol")).eval()
    data = prepare(make_synthetic(10, seed=0), image_size=32)
    stacked, seconds = predict_dataset(model, data, batch_size=4, confidence_threshold=0.0005)
    assert set(seconds) == {"forward", "postprocess"} and len(stacked) == 10
    parts = []
    with torch.no_grad():
        for images, _ in iterate_batches(data, 4, shuffle=False):
            parts.append(detect(model(images.float() / 255), model.anchors, 32, 0.0005))
    expected = [found for part in parts for found in part]  # image by image
    assert sum(found.num_detections for found in expected) > 0
    for mine, reference in zip(stacked, expected, strict=True):
        torch.testing.assert_close(mine.boxes_xyxy, reference.boxes_xyxy)
        torch.testing.assert_close(mine.scores, reference.scores)
        assert torch.equal(mine.labels, reference.labels)


def test_a_wide_input_scales_x_by_its_width_and_y_by_its_height():
    # A 64 x 32 input (width, height): grids of 8 x 4 and 16 x 8 cells (S_w x S_h).
    outputs = [torch.full((1, 1, 4, 8, 15), -20.0), torch.full((1, 1, 8, 16, 15), -20.0)]
    outputs[0][0, 0, 1, 6, :4] = 0.0  # centred in its cell, the anchor's own size
    outputs[0][0, 0, 1, 6, 4] = outputs[0][0, 0, 1, 6, 5 + 3] = 5.0  # row 1, col 6
    found = detect(outputs, ANCHORS, (64, 32), confidence_threshold=0.5)[0]
    # Centre (col 6.5 of 8, row 1.5 of 4) of a 64 x 32 input; the anchor as fractions.
    centre_x, centre_y = 6.5 / 8 * 64, 1.5 / 4 * 32
    half_w, half_h = 0.15 * 64 / 2, 0.73 * 32 / 2
    torch.testing.assert_close(found.boxes_xyxy, torch.tensor(
        [[centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h]]))
    # The square case is the same function with equal sides.
    square = detect(_outputs(3, batch=2), ANCHORS, 32, confidence_threshold=0.1)
    same = detect(_outputs(3, batch=2), ANCHORS, (32, 32), confidence_threshold=0.1)
    for a, b in zip(square, same, strict=True):
        assert torch.equal(a.boxes_xyxy, b.boxes_xyxy)


def test_a_batch_of_detections_and_its_per_image_views_agree():
    from yolo_smol.detection.postprocess import Detections

    found = detect(_outputs(5, batch=5), ANCHORS, 32, confidence_threshold=0.05)
    views = list(found)
    assert len(views) == len(found) == 5
    assert [view.num_detections for view in views] == found.counts.tolist()
    for index, view in enumerate(views):
        assert len(view) == 1 and torch.equal(found[index].scores, view.scores)
        rows = found.image == index
        assert torch.equal(view.boxes_xyxy, found.boxes_xyxy[rows])
        assert torch.equal(view.labels, found.labels[rows])
    assert torch.equal(found[-1].scores, views[-1].scores)
    with pytest.raises(IndexError):
        found[5]
    again = Detections.cat(views)
    assert again.num_images == 5 and torch.equal(again.image, found.image)
    assert torch.equal(again.boxes_xyxy, found.boxes_xyxy)
    keep = found.scores > 0.3
    assert found.select(keep).num_images == 5
    assert found.select(keep).num_detections == int(keep.sum())
