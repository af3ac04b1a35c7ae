import contextlib
import io

import numpy as np
import pytest
import torch
import torchvision
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from yolo_smol.detection.metrics import (
    GroundTruth,
    confusion_matrix,
    mean_average_precision,
    read_number,
    stack_truths,
    whole_number_accuracy,
)
from yolo_smol.detection.postprocess import Detections

NUM_CLASSES = 10
DUMMY_CLASS = 10  # pycocotools cannot load an empty result list: see _coco


def _xywh(boxes):
    boxes = boxes.double()
    return torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1).tolist()


def _coco(detections, truths):
    """pycocotools' COCOeval on the same data: precision (T, R, K) at area 'all', 100 dets."""
    images = [{"id": index + 1, "width": 64, "height": 64} for index in range(len(truths))]
    annotations = []
    for index, truth in enumerate(truths):
        for box, label in zip(_xywh(truth.boxes_xyxy), truth.labels.tolist(), strict=True):
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1,
                                "category_id": int(label), "bbox": box, "iscrowd": 0,
                                "area": box[2] * box[3]})
    categories = [{"id": label} for label in range(NUM_CLASSES + 1)]
    results = []
    for index, found in enumerate(detections):
        for box, score, label in zip(_xywh(found.boxes_xyxy), found.scores.tolist(),
                                     found.labels.tolist(), strict=True):
            results.append({"image_id": index + 1, "category_id": int(label), "bbox": box,
                            "score": score})
    # An empty result list cannot be loaded; a detection of a class with no true box
    # anywhere changes nothing (that class is left out of the mean).
    results.append({"image_id": 1, "category_id": DUMMY_CLASS, "bbox": [1.0, 1.0, 2.0, 2.0],
                    "score": 0.5})
    with contextlib.redirect_stdout(io.StringIO()):
        truth_api = COCO()
        truth_api.dataset = {"images": images, "annotations": annotations,
                             "categories": categories}
        truth_api.createIndex()
        evaluation = COCOeval(truth_api, truth_api.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.eval["precision"][:, :, :NUM_CLASSES, 0, 2], evaluation.stats


def _random_case(seed):
    generator = torch.Generator().manual_seed(seed)
    num_images = int(torch.randint(1, 7, (1,), generator=generator))
    detections, truths = [], []
    for _ in range(num_images):
        count = int(torch.randint(0, 5, (1,), generator=generator))  # 0: no true box
        corner = torch.rand(count, 2, generator=generator) * 48
        size = torch.rand(count, 2, generator=generator) * 16 + 1
        boxes = torch.cat([corner, corner + size], dim=1)
        if count and seed % 5 == 0:
            boxes[0, :2] = 0.0  # touching the border
        labels = torch.randint(0, 4, (count,), generator=generator)  # classes 4..9 never
        truths.append(GroundTruth(boxes, labels))
        found = []
        for box, label in zip(boxes, labels, strict=True):  # near-misses and hits
            for _ in range(int(torch.randint(0, 3, (1,), generator=generator))):
                jitter = (torch.rand(4, generator=generator) - 0.5) * (6 if seed % 2 else 1.5)
                wrong = torch.rand((), generator=generator) < 0.15
                found.append((box + jitter, (label + 1) % 4 if wrong else label))
        for _ in range(int(torch.randint(0, 4, (1,), generator=generator))):  # false alarms
            corner = torch.rand(2, generator=generator) * 48
            found.append((torch.cat([corner, corner + torch.rand(2, generator=generator) * 16 + 1]),
                          torch.randint(0, 5, (), generator=generator)))
        if found and seed % 4 == 0:
            found.append(found[0])  # an exact duplicate
        if seed % 7 == 0:
            found = []  # an image without predictions
        boxes_found = torch.stack([box for box, _ in found]) if found else torch.zeros(0, 4)
        boxes_found[:, 2:] = torch.maximum(boxes_found[:, 2:], boxes_found[:, :2] + 0.5)
        # Scores on a coarse grid: ties are common.
        scores = torch.randint(1, 6, (len(found),), generator=generator).double() / 5
        detections.append(Detections.of_image(
            boxes_found, scores, torch.tensor([int(label) for _, label in found],
                                              dtype=torch.long)))
    return Detections.cat(detections), truths


@pytest.mark.parametrize("start", range(0, 240, 40))
def test_map_agrees_with_cocoeval(start):
    for seed in range(start, start + 40):
        detections, truths = _random_case(seed)
        ours = mean_average_precision(detections, truths, NUM_CLASSES)
        precision, stats = _coco(detections, truths)
        np.testing.assert_allclose(ours.precision, precision, atol=1e-6, err_msg=str(seed))
        for value, reference in ((ours.map, stats[0]), (ours.ap50, stats[1]),
                                 (ours.ap75, stats[2])):
            if reference == -1:  # no true box at all
                assert np.isnan(value), seed
            else:
                assert value == pytest.approx(reference, abs=1e-6), seed


def test_no_predictions_at_all_and_classes_without_truth():
    truths = [GroundTruth(torch.tensor([[1.0, 1.0, 9.0, 20.0]]), torch.tensor([2]))]
    empty = Detections.of_image(torch.zeros(0, 4), torch.zeros(0),
                                torch.zeros(0, dtype=torch.long))
    ours = mean_average_precision(empty, truths)
    precision, stats = _coco(empty, truths)
    assert ours.map == stats[0] == 0.0
    np.testing.assert_allclose(ours.precision, precision)
    assert np.isnan(ours.per_class_ap[5]) and ours.per_class_ap[2] == 0.0


def test_more_than_max_detections_per_image_and_class():
    truth = GroundTruth(torch.tensor([[10.0, 10.0, 20.0, 30.0]]), torch.tensor([1]))
    boxes = torch.tensor([[0.0, 0.0, 5.0, 5.0]]).repeat(150, 1)
    scores = torch.linspace(0.9, 0.1, 150)
    boxes[120] = truth.boxes_xyxy[0]  # the hit ranks 121st: beyond the 100 kept
    detections = Detections.of_image(boxes, scores, torch.ones(150, dtype=torch.long))
    ours = mean_average_precision(detections, [truth])
    precision, stats = _coco(detections, [truth])
    assert ours.map == pytest.approx(stats[0], abs=1e-9) and ours.map == 0.0


def test_a_perfect_detector_scores_one():
    truths = [GroundTruth(torch.tensor([[1.0, 2.0, 9.0, 20.0], [10.0, 2.0, 18.0, 21.0]]),
                          torch.tensor([3, 7]))]
    detections = Detections.of_image(truths[0].boxes_xyxy, torch.tensor([0.9, 0.8]),
                                     truths[0].labels)
    metrics = mean_average_precision(detections, truths)
    # tp / (tp + fp + eps), as COCOeval: one up to a rounding error.
    assert metrics.map == pytest.approx(1.0) and metrics.ap50 == pytest.approx(1.0)
    assert metrics.to_dict()["AP per class"][3] == 1.0


def test_whole_number_reads_left_to_right():
    truth = GroundTruth(torch.tensor([[20.0, 0, 28, 30], [2.0, 0, 10, 30], [11.0, 0, 19, 30]]),
                        torch.tensor([7, 1, 2]))
    assert read_number(truth.boxes_xyxy, truth.labels) == "127"
    right = Detections.of_image(truth.boxes_xyxy[[1, 2, 0]], torch.tensor([0.9, 0.8, 0.7]),
                                torch.tensor([1, 2, 7]))
    extra = Detections.of_image(torch.cat([right.boxes_xyxy, torch.tensor([[30.0, 0, 38, 30]])]),
                                torch.tensor([0.9, 0.8, 0.7, 0.3]), torch.tensor([1, 2, 7, 4]))
    both = Detections.cat([right, extra])
    assert whole_number_accuracy(both, [truth, truth], 0.5) == 1.0
    assert whole_number_accuracy(both, [truth, truth], 0.2) == 0.5
    empty_truth = GroundTruth(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    nothing = Detections.of_image(torch.zeros(0, 4), torch.zeros(0),
                                  torch.zeros(0, dtype=torch.long))
    assert whole_number_accuracy(nothing, [empty_truth]) == 1.0


def test_confusion_matrix_counts_hits_swaps_misses_and_false_alarms():
    truth = GroundTruth(torch.tensor([[0.0, 0, 10, 30], [12.0, 0, 22, 30], [24.0, 0, 34, 30]]),
                        torch.tensor([1, 2, 3]))
    found = Detections.of_image(
        torch.tensor([[0.0, 0, 10, 30], [12.0, 1, 22, 30], [40.0, 0, 50, 30]]),
        torch.tensor([0.9, 0.8, 0.7]), torch.tensor([1, 5, 4]))
    matrix = confusion_matrix(found, [truth], num_classes=10)
    assert matrix[1, 1] == 1  # right
    assert matrix[5, 2] == 1  # a 2 read as 5
    assert matrix[10, 3] == 1  # the 3 missed
    assert matrix[4, 10] == 1  # a false alarm
    assert matrix.sum() == 4


def _confusion_pair_by_pair(detections, truths, num_classes, threshold, iou_threshold=0.5):
    """The confusion matrix as its docstring says, one image and one pair at a time."""
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    for found, truth in zip(detections, truths, strict=True):
        keep = found.scores >= threshold
        boxes, labels = found.boxes_xyxy[keep].double(), found.labels[keep]
        overlap = torchvision.ops.box_iou(truth.boxes_xyxy.double(), boxes)  # (M, K)
        pairs = [(float(overlap[i, j]), i, j) for i in range(overlap.shape[0])
                 for j in range(overlap.shape[1]) if overlap[i, j] > iou_threshold]
        pairs.sort(key=lambda pair: -pair[0])  # stable: equal IoUs in (true, found) order
        used_true, used_found = set(), set()
        for _, i, j in pairs:
            if i not in used_true and j not in used_found:
                used_true.add(i)
                used_found.add(j)
                matrix[labels[j], truth.labels[i]] += 1
        for i in set(range(len(truth.labels))) - used_true:
            matrix[num_classes, truth.labels[i]] += 1
        for j in set(range(len(labels))) - used_found:
            matrix[labels[j], num_classes] += 1
    return matrix


def test_confusion_matrix_equals_the_pair_by_pair_greedy_walk():
    for seed in range(200):
        detections, truths = _random_case(seed)
        for threshold in (0.2, 0.5):
            assert np.array_equal(confusion_matrix(detections, truths, NUM_CLASSES, threshold),
                                  _confusion_pair_by_pair(detections, truths, NUM_CLASSES,
                                                          threshold)), (seed, threshold)


def test_stacked_truths_give_the_same_scores():
    for seed in range(0, 60, 3):
        detections, truths = _random_case(seed)
        stacked_truths = stack_truths(truths)
        # The batch rebuilt from its per-image views is the same batch.
        again = Detections.cat(list(detections))
        assert torch.equal(again.image, detections.image)
        assert torch.equal(again.boxes_xyxy, detections.boxes_xyxy)
        plain = mean_average_precision(detections, truths, NUM_CLASSES)
        fast = mean_average_precision(again, stacked_truths, NUM_CLASSES)
        np.testing.assert_array_equal(plain.precision, fast.precision)
        assert whole_number_accuracy(again, stacked_truths, 0.4) == whole_number_accuracy(
            detections, truths, 0.4)
        assert np.array_equal(confusion_matrix(again, stacked_truths, NUM_CLASSES),
                              confusion_matrix(detections, truths, NUM_CLASSES))
