"""Detection metrics: COCO-style mAP, whole-number accuracy and a confusion matrix.

The mAP follows COCOeval (``pycocotools``) exactly, pitfalls included, and the tests hold
it to COCOeval within 1e-6: IoU thresholds 0.50:0.05:0.95; per image and class at most
``max_detections`` detections, best score first with a stable order; greedy matching in
score order, each detection taking the unmatched true box of highest IoU (the later box on
ties); precision made monotone from the right; precision read at 101 recall points; classes
without any true box left out of the mean. Only the bookkeeping is vectorised: the greedy
matching runs for all (image, class) groups at once, one detection rank at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from yolo_smol.detection.postprocess import Detections, one_digit_per_place
from yolo_smol.grouped import rank_in_group

__all__ = ["IOU_THRESHOLDS", "RECALL_THRESHOLDS", "GroundTruth", "DetectionMetrics",
           "StackedTruths", "stack_truths",
           "mean_average_precision", "read_number", "whole_number_accuracy",
           "confusion_matrix"]

# Exactly COCOeval's grids (np.linspace with the same arguments gives the same floats).
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1)


@dataclass(frozen=True)
class GroundTruth:
    """The true boxes of one image: ``boxes_xyxy (M, 4)`` (pixels) and ``labels (M,)``."""

    boxes_xyxy: torch.Tensor
    labels: torch.Tensor


@dataclass(frozen=True)
class DetectionMetrics:
    """COCO-style results.

    Attributes:
        map: mAP@0.5:0.95 over the classes that have true boxes (nan if none has).
        ap50, ap75: mAP at IoU 0.5 and 0.75.
        per_class_ap, per_class_ap50: ``(C,)`` AP of each class (nan without true boxes).
        precision: ``(I, R, C)`` interpolated precision at each IoU threshold and recall
            point, -1 for classes without true boxes (COCOeval's ``precision[..., 0, 2]``).
    """

    map: float
    ap50: float
    ap75: float
    per_class_ap: tuple[float, ...]
    per_class_ap50: tuple[float, ...]
    precision: np.ndarray

    def to_dict(self) -> dict:
        def clean(value: float) -> float | None:
            return None if np.isnan(value) else round(float(value), 6)

        return {"mAP@0.5:0.95": clean(self.map), "mAP@0.5": clean(self.ap50),
                "mAP@0.75": clean(self.ap75),
                "AP per class": [clean(v) for v in self.per_class_ap],
                "AP@0.5 per class": [clean(v) for v in self.per_class_ap50]}


def _xywh(boxes_xyxy: torch.Tensor) -> np.ndarray:
    boxes = boxes_xyxy.detach().cpu().double().numpy().reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def _coco_iou(found_xywh: np.ndarray, true_xywh: np.ndarray) -> np.ndarray:
    """``(..., D, 4)`` x ``(..., G, 4)`` -> ``(..., D, G)``, in COCO's own arithmetic."""
    found, truth = found_xywh[..., :, None, :], true_xywh[..., None, :, :]
    width = np.minimum(found[..., 0] + found[..., 2], truth[..., 0] + truth[..., 2]) - np.maximum(
        found[..., 0], truth[..., 0])
    height = np.minimum(found[..., 1] + found[..., 3], truth[..., 1] + truth[..., 3]) - np.maximum(
        found[..., 1], truth[..., 1])
    inter = np.where((width > 0) & (height > 0), width * height, 0.0)
    union = found[..., 2] * found[..., 3] + truth[..., 2] * truth[..., 3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0, inter / union, 0.0)


@dataclass
class _Flat:
    """All detections and true boxes, one row each, grouped by (image, class)."""

    found_group: np.ndarray  # (D,) group of each detection
    found_rank: np.ndarray  # (D,) rank by score within its group
    found_score: np.ndarray
    found_class: np.ndarray
    found_box: np.ndarray  # (D, 4) xywh
    true_group: np.ndarray
    true_rank: np.ndarray
    true_class: np.ndarray
    true_box: np.ndarray


@dataclass(frozen=True)
class StackedTruths:
    """The true boxes of a list of images, one row each, rows grouped by image.

    Attributes: ``image (M,)`` int64, ``boxes (M, 4)`` xywh float64 (pixels),
    ``labels (M,)`` int64, ``num_images``.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    num_images: int

    def __len__(self) -> int:
        return self.num_images

    @classmethod
    def from_rows(cls, image: torch.Tensor, boxes_xyxy: torch.Tensor, labels: torch.Tensor,
                  num_images: int) -> StackedTruths:
        """From flat rows grouped by image: ``image (M,)``, ``boxes_xyxy (M, 4)`` pixels,
        ``labels (M,)``."""
        return cls(image.cpu().numpy().astype(np.int64), _xywh(boxes_xyxy),
                   labels.cpu().numpy().astype(np.int64), num_images)


def stack_truths(truths: list[GroundTruth] | StackedTruths) -> StackedTruths:
    """Stack a list of per-image true boxes once (a :class:`StackedTruths` is returned as is)."""
    if isinstance(truths, StackedTruths):
        return truths
    counts = [len(truth.labels) for truth in truths]
    if not sum(counts):
        return StackedTruths(np.zeros(0, dtype=np.int64), np.zeros((0, 4)),
                             np.zeros(0, dtype=np.int64), len(truths))
    return StackedTruths.from_rows(
        torch.repeat_interleave(torch.arange(len(truths)), torch.tensor(counts)),
        torch.cat([truth.boxes_xyxy.reshape(-1, 4) for truth in truths]),
        torch.cat([truth.labels for truth in truths]), len(truths))


def _columns(detections: Detections) -> tuple[np.ndarray, ...]:
    """``image (D,)`` int64, ``boxes (D, 4)`` xywh float64, ``scores (D,)`` float64 and
    ``labels (D,)`` int64: the detections as the COCO bookkeeping below reads them."""
    return (detections.image.cpu().numpy().astype(np.int64),
            _xywh(detections.boxes_xyxy.detach().cpu().reshape(-1, 4)),
            detections.scores.detach().cpu().double().numpy(),
            detections.labels.cpu().numpy().astype(np.int64))


def _stack_truths(truths: list[GroundTruth] | StackedTruths) -> tuple[np.ndarray, ...]:
    stacked = stack_truths(truths)
    return stacked.image, stacked.boxes, stacked.labels


def _flatten(detections: Detections,
             truths: list[GroundTruth] | StackedTruths, num_classes: int,
             max_detections: int) -> _Flat:
    image, boxes, scores, labels = _columns(detections)
    group = image * num_classes + labels
    # Best score first within each (image, class), equal scores in input order.
    order = np.lexsort((np.arange(len(group)), -scores, group))
    rank = rank_in_group(group[order])
    order, rank = order[rank < max_detections], rank[rank < max_detections]
    true_image, true_boxes, true_labels = _stack_truths(truths)
    true_group = true_image * num_classes + true_labels
    true_order = np.lexsort((np.arange(len(true_group)), true_group))
    return _Flat(group[order], rank, scores[order], labels[order], boxes[order],
                 true_group[true_order], rank_in_group(true_group[true_order]),
                 true_labels[true_order], true_boxes[true_order])


def _match(flat: _Flat, chunk: int = 4096) -> np.ndarray:
    """``(I, D)`` bool: whether each detection matches a true box at each IoU threshold.

    The (image, class) groups that hold both detections and true boxes are matched
    ``chunk`` groups at a time: 1) pad each group's boxes into a table, 2) run the greedy
    matching on the tables, 3) read each detection's result back from its group and rank.
    """
    matched = np.zeros((len(IOU_THRESHOLDS), len(flat.found_group)), dtype=bool)
    groups = np.intersect1d(np.unique(flat.found_group), np.unique(flat.true_group))
    for start in range(0, len(groups), chunk):
        part = groups[start:start + chunk]
        found_index = np.flatnonzero(np.isin(flat.found_group, part))
        true_index = np.flatnonzero(np.isin(flat.true_group, part))
        found_slot = np.searchsorted(part, flat.found_group[found_index])
        found_box = _pad(found_slot, flat.found_rank[found_index], flat.found_box[found_index],
                         len(part))  # (g, D_max, 4)
        true_slot = np.searchsorted(part, flat.true_group[true_index])
        true_box = _pad(true_slot, flat.true_rank[true_index], flat.true_box[true_index],
                        len(part))  # (g, G_max, 4)
        true_valid = _pad(true_slot, flat.true_rank[true_index],
                          np.ones(len(true_index), dtype=bool), len(part))  # (g, G_max)
        found_count = np.bincount(found_slot, minlength=len(part))
        result = _greedy_match(_coco_iou(found_box, true_box), true_valid, found_count)
        matched[:, found_index] = result[found_slot, :, flat.found_rank[found_index]].T
    return matched


def _pad(slot: np.ndarray, rank: np.ndarray, values: np.ndarray, num_groups: int,
         ) -> np.ndarray:
    """``(num_groups, max rank + 1, ...)``: each row's ``values`` at (its group's slot, its
    rank in the group), zeros (False) elsewhere."""
    table = np.zeros((num_groups, int(rank.max(initial=-1)) + 1, *values.shape[1:]),
                     dtype=values.dtype)
    table[slot, rank] = values
    return table


def _greedy_match(iou: np.ndarray, true_valid: np.ndarray, found_count: np.ndarray,
                  ) -> np.ndarray:
    """COCOeval's greedy matching for many groups at once, one detection rank at a time.

    Args:
        iou: ``(g, D, G)`` IoU of each group's detections (best first) with its true boxes.
        true_valid: ``(g, G)`` bool, the true boxes that exist (the rest is padding).
        found_count: ``(g,)`` detections in each group.

    Returns:
        ``(g, I, D)`` bool, whether detection d of each group matches at each threshold.
    """
    num_groups, most_found, most_true = iou.shape
    thresholds = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[None, :, None]  # (1, I, 1)
    # Groups with the most detections first: rank r only needs the groups that have more
    # than r detections, a prefix of this order.
    busiest = np.argsort(-found_count, kind="stable")
    iou, true_valid, found_count = iou[busiest], true_valid[busiest], found_count[busiest]
    taken = np.zeros((num_groups, len(IOU_THRESHOLDS), most_true), dtype=bool)
    result = np.zeros((num_groups, len(IOU_THRESHOLDS), most_found), dtype=bool)
    order = np.arange(1, most_true + 1)
    for rank in range(most_found):  # greedy, in score order, for every group at once
        active = int(np.searchsorted(-found_count, -rank, side="left"))  # count > rank
        overlap = iou[:active, rank, None, :]  # (a, 1, G)
        candidate = (~taken[:active] & true_valid[:active, None, :]
                     & (overlap >= thresholds))  # (a, I, G)
        best = np.where(candidate, overlap, -1.0).max(axis=2, keepdims=True)
        # The last of the best on ties, as COCOeval's loop keeps it.
        choice = np.argmax(np.where(candidate & (overlap == best), order, 0), axis=2)
        hit = candidate.any(axis=2)  # (a, I)
        groups_hit, thresholds_hit = np.nonzero(hit)
        taken[groups_hit, thresholds_hit, choice[groups_hit, thresholds_hit]] = True
        result[:active, :, rank] = hit
    unsorted = np.empty_like(result)
    unsorted[busiest] = result
    return unsorted


def _precision(flat: _Flat, matched: np.ndarray, num_classes: int) -> np.ndarray:
    """``(I, R, C)`` interpolated precision, -1 for classes without true boxes."""
    precision = -np.ones((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), num_classes))
    for label in range(num_classes):
        num_true = int((flat.true_class == label).sum())
        if num_true == 0:
            continue
        of_class = np.flatnonzero(flat.found_class == label)  # already in image, then rank order
        of_class = of_class[np.argsort(-flat.found_score[of_class], kind="mergesort")]
        true_positive = np.cumsum(matched[:, of_class], axis=1, dtype=float)  # (I, n)
        false_positive = np.cumsum(~matched[:, of_class], axis=1, dtype=float)
        recall = true_positive / num_true
        ratio = true_positive / (true_positive + false_positive + np.spacing(1))
        envelope = np.flip(np.maximum.accumulate(np.flip(ratio, axis=1), axis=1), axis=1)
        table = np.zeros((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)))
        for threshold in range(len(IOU_THRESHOLDS)):
            points = np.searchsorted(recall[threshold], RECALL_THRESHOLDS, side="left")
            reached = points < len(of_class)
            table[threshold, reached] = envelope[threshold, points[reached]]
        precision[:, :, label] = table
    return precision


def _mean(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else float("nan")


def mean_average_precision(detections: Detections,
                           truths: list[GroundTruth] | StackedTruths,
                           num_classes: int = 10, max_detections: int = 100,
                           ) -> DetectionMetrics:
    """COCO-style mAP of ``detections`` against ``truths`` (one entry per image, same order).

    Boxes of both are xyxy in the same pixel space. Use a low confidence threshold (0.001)
    when detecting for mAP: low-scoring detections only add to the tail of the curve.
    """
    flat = _flatten(detections, truths, num_classes, max_detections)
    order = np.lexsort((flat.found_rank, flat.found_group // num_classes))  # image, then rank
    flat.found_group, flat.found_rank, flat.found_score, flat.found_class, flat.found_box = (
        flat.found_group[order], flat.found_rank[order], flat.found_score[order],
        flat.found_class[order], flat.found_box[order])
    precision = _precision(flat, _match(flat), num_classes)
    per_class = tuple(_mean(precision[:, :, label]) for label in range(num_classes))
    per_class50 = tuple(_mean(precision[0, :, label]) for label in range(num_classes))
    return DetectionMetrics(map=_mean(precision), ap50=_mean(precision[0]),
                            ap75=_mean(precision[5]), per_class_ap=per_class,
                            per_class_ap50=per_class50, precision=precision)


def read_number(boxes_xyxy: torch.Tensor, labels: torch.Tensor) -> str:
    """The house number: the digits read left to right by box centre."""
    centres = (boxes_xyxy[:, 0] + boxes_xyxy[:, 2]) / 2
    return "".join(str(int(labels[i])) for i in torch.argsort(centres, stable=True))


def _read_all(image: np.ndarray, centre_x: np.ndarray, labels: np.ndarray, num_images: int,
              length: int) -> np.ndarray:
    """``(num_images, length)`` the digits of every image left to right, -1 padded."""
    order = np.lexsort((np.arange(len(image)), centre_x, image))
    rank = rank_in_group(image[order])
    table = np.full((num_images, max(length, 1)), -1, dtype=np.int64)
    table[image[order], rank] = labels[order]
    return table


def whole_number_accuracy(detections: Detections,
                          truths: list[GroundTruth] | StackedTruths,
                          confidence_threshold: float = 0.25,
                          overlap_threshold: float | None = 0.3) -> float:
    """Share of images whose detections read exactly the true number.

    The classic SVHN measure: one wrong, missing or extra digit makes the image wrong.
    The number is read from the detections above ``confidence_threshold``, one per place
    (:func:`yolo_smol.detection.postprocess.one_digit_per_place`, unless ``overlap_threshold`` is
    None), left to right by box centre (:func:`read_number`, for all images at once).
    """
    if not truths:
        return float("nan")
    if overlap_threshold is None:
        detections = detections.select(detections.scores >= confidence_threshold)
    else:
        detections = one_digit_per_place(detections, confidence_threshold, overlap_threshold)
    image, boxes, _, labels = _columns(detections)
    true_image, true_boxes, true_labels = _stack_truths(truths)
    longest = max(np.bincount(image, minlength=1).max(initial=0),
                  np.bincount(true_image, minlength=1).max(initial=0))
    predicted = _read_all(image, boxes[:, 0] + boxes[:, 2] / 2, labels, len(truths), longest)
    actual = _read_all(true_image, true_boxes[:, 0] + true_boxes[:, 2] / 2, true_labels,
                       len(truths), longest)
    return float((predicted == actual).all(axis=1).mean())


def _greedy_one_to_one(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching of pairs given in priority order, best first.

    Args:
        left, right: ``(P,)`` ids of the two ends of each candidate pair, sorted by priority.

    Returns:
        ``(P,)`` bool, the pairs the greedy walk down the list would accept: a pair is taken
        when neither end is already taken by an earlier pair.

    The walk is done in rounds instead of pair by pair: a pair that comes first among the
    remaining pairs of both its ends is accepted by the walk (nothing earlier can block
    it), so each round accepts all such pairs at once and drops the pairs they block. A
    few rounds suffice, as each end has only a few candidate pairs.
    """
    accepted = np.zeros(len(left), dtype=bool)
    alive = np.ones(len(left), dtype=bool)
    num_left, num_right = left.max(initial=-1) + 1, right.max(initial=-1) + 1
    while alive.any():
        index = np.flatnonzero(alive)  # positions in the list are the priorities
        first_left = np.full(num_left, len(left))
        np.minimum.at(first_left, left[index], index)
        first_right = np.full(num_right, len(left))
        np.minimum.at(first_right, right[index], index)
        winners = index[(first_left[left[index]] == index) & (first_right[right[index]] == index)]
        accepted[winners] = True
        left_taken = np.zeros(num_left, dtype=bool)
        left_taken[left[winners]] = True
        right_taken = np.zeros(num_right, dtype=bool)
        right_taken[right[winners]] = True
        alive &= ~(left_taken[left] | right_taken[right])
    return accepted


def confusion_matrix(detections: Detections,
                     truths: list[GroundTruth] | StackedTruths,
                     num_classes: int = 10, confidence_threshold: float = 0.25,
                     iou_threshold: float = 0.5) -> np.ndarray:
    """``(C + 1, C + 1)`` counts, rows predicted class, columns true class.

    Detections above the threshold are matched to true boxes regardless of class, by IoU
    above ``iou_threshold``, highest IoU first, one to one. The last row counts true boxes
    nothing matched (missed); the last column, detections that matched nothing.
    """
    image, boxes, _, labels = _columns(
        detections.select(detections.scores >= confidence_threshold))
    true_image, true_boxes, true_labels = _stack_truths(truths)
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    # Every (true box, detection) pair of the same image, padded per image.
    found_rank = rank_in_group(image)  # rows of _stack_* are already grouped by image
    true_rank = rank_in_group(true_image)
    width_found = int(found_rank.max(initial=-1)) + 1
    width_true = int(true_rank.max(initial=-1)) + 1
    found_boxes = np.zeros((len(truths), width_found, 4))
    found_boxes[image, found_rank] = boxes
    truth_boxes = np.zeros((len(truths), width_true, 4))
    truth_boxes[true_image, true_rank] = true_boxes
    overlap = _coco_iou(truth_boxes, found_boxes)  # (images, M, K); padding overlaps nothing
    pair_image, pair_true, pair_found = np.nonzero(overlap > iou_threshold)
    strength = overlap[pair_image, pair_true, pair_found]
    order = np.lexsort((-strength, pair_image))  # per image, highest IoU first
    found_index = np.r_[0, np.cumsum(np.bincount(image, minlength=len(truths)))][:-1]
    true_index = np.r_[0, np.cumsum(np.bincount(true_image, minlength=len(truths)))][:-1]
    one_true = (true_index[pair_image] + pair_true)[order]  # (P,) rows of the true boxes
    one_found = (found_index[pair_image] + pair_found)[order]  # (P,) rows of the detections
    accepted = _greedy_one_to_one(one_true, one_found)
    one_true, one_found = one_true[accepted], one_found[accepted]
    np.add.at(matrix, (labels[one_found], true_labels[one_true]), 1)
    missed = np.setdiff1d(np.arange(len(true_labels)), one_true)
    spurious = np.setdiff1d(np.arange(len(labels)), one_found)
    np.add.at(matrix, (num_classes, true_labels[missed]), 1)
    np.add.at(matrix, (labels[spurious], num_classes), 1)
    return matrix
