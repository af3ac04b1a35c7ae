"""The reading's rules: from the digits the looks found to the number in a photo.

What detection leaves is a set of scored digits per look. A house number is more than that:
one digit in each place, on one line and of one size, read left to right, printed alike (so
about as sure as each other) and set close together. Each rule below says one of these;
the looks at a photo are merged and its sizes fused first. The rules act on the reading
only: the digits scored for mAP are every look's, merged, with one softening
(:func:`demote_other_classes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from yolo_smol.boxes import pairwise_iou
from yolo_smol.detection.nms import fusing_nms, merging_nms
from yolo_smol.detection.postprocess import Detections
from yolo_smol.grouped import order_within_groups, pad_by_group
from yolo_smol.reading.options import ReadingError, check_threshold

__all__ = ["Reading", "on_one_line", "on_the_line", "left_to_right", "merge_looks",
           "fuse_sizes", "demote_other_classes", "only_sure_digits", "without_stray_ends"]


@dataclass(frozen=True)
class Reading:
    """What the detector read in one photo.

    Attributes:
        number: the digits left to right ("" when none was found).
        detections: one digit per place, left to right; ``boxes_xyxy (D, 4)`` in the
            photo's pixels, ``scores (D,)``, ``labels (D,)``.
        size: the photo's ``(width, height)`` in pixels.
    """

    number: str
    detections: Detections
    size: tuple[int, int]


def on_one_line(boxes_xyxy: torch.Tensor, height_range: tuple[float, float] = (2 / 3, 3 / 2),
                centre_offset: float = 0.5) -> torch.Tensor:
    """``(D,)`` bool: the digits of one image that sit on its number's line.

    The digits of a house number are written in one row and one size. A detection much
    taller or shorter than the median digit, or off the row (its centre further than
    ``centre_offset`` median heights from the median centre), is a brick joint, a window
    bar or a digit of some other sign, and is left out of the reading. With fewer than
    three digits the median is one of them, so the rule only drops clear outliers.

    Args:
        boxes_xyxy: ``(D, 4)`` the image's digits (one per place).
        height_range: the kept heights, as multiples of the median height.
    """
    if boxes_xyxy.shape[0] < 2:
        return torch.ones(boxes_xyxy.shape[0], dtype=torch.bool)
    heights = boxes_xyxy[:, 3] - boxes_xyxy[:, 1]
    centres = (boxes_xyxy[:, 1] + boxes_xyxy[:, 3]) / 2
    height, centre = heights.median(), centres.median()
    return ((heights >= height_range[0] * height) & (heights <= height_range[1] * height)
            & ((centres - centre).abs() <= centre_offset * height))


def on_the_line(detections: Detections, height_range: tuple[float, float] = (2 / 3, 3 / 2),
                centre_offset: float = 0.5) -> torch.Tensor:
    """:func:`on_one_line` for every image of a batch at once: ``(D,)`` bool, True for the
    rows on their image's line.

    The same rule, the same arithmetic: each image's median height and centre (the lower
    of the two middle values for an even count, as ``torch.median`` takes it), and every
    row of an image with fewer than two kept. One pass over a table of the batch instead
    of a few small operations per image, which cost more than the rule itself when a batch
    of photos is read.
    """
    boxes = detections.boxes_xyxy
    heights = boxes[:, 3] - boxes[:, 1]  # (D,)
    centres = (boxes[:, 1] + boxes[:, 3]) / 2  # (D,)
    table, _, _ = pad_by_group(torch.stack([heights, centres], dim=1), detections.image,
                               detections.num_images, fill=float("nan"))  # (B, K_max, 2)
    medians = table.nanmedian(dim=1).values[detections.image]  # (D, 2): each row's image's
    height, centre = medians[:, 0], medians[:, 1]
    on_line = ((heights >= height_range[0] * height) & (heights <= height_range[1] * height)
               & ((centres - centre).abs() <= centre_offset * height))
    few = detections.counts < 2  # (B,)
    return on_line | few.to(on_line.device)[detections.image]


def left_to_right(detections: Detections) -> Detections:
    """The rows of each image in reading order, left to right by box centre (ties in the
    order they came), the images as they were. The one exception to "best score first":
    what a reading holds."""
    boxes = detections.boxes_xyxy
    return detections.select(order_within_groups((boxes[:, 0] + boxes[:, 2]) / 2,
                                                 detections.image))


def merge_looks(looks: Sequence[Detections], iou_threshold: float = 0.45,
                max_detections: int = 100) -> Detections:
    """The detections of several looks at one photo as one set.

    One class-aware NMS over all of them: a digit two looks found is kept once, with the
    better score, and its box is the score-weighted mean of the looks' boxes
    (:func:`~yolo_smol.detection.nms.merging_nms`).

    Args:
        looks: each the :class:`Detections` of one image, boxes in the same pixels.

    Returns:
        The :class:`Detections` of that image, best first, at most ``max_detections``.
    """
    boxes = torch.cat([look.boxes_xyxy for look in looks])
    scores = torch.cat([look.scores for look in looks])
    labels = torch.cat([look.labels for look in looks])
    kept, merged = merging_nms(boxes, scores, labels, iou_threshold)
    return Detections.of_image(merged[:max_detections], scores[kept][:max_detections],
                               labels[kept][:max_detections])


def fuse_sizes(per_size: Sequence[Detections], iou_threshold: float = 0.45,
               max_detections: int = 100) -> Detections:
    """The detections of one photo read at several input sizes, fused.

    As :func:`merge_looks`, a digit several sizes found is kept once, its box the
    score-weighted mean of theirs; its score is the mean over the sizes of the score each
    gave it, 0 where a size did not find it (:func:`~yolo_smol.detection.nms.fusing_nms`).

    Args:
        per_size: the :class:`Detections` of the one photo at each size, boxes in its pixels.

    Returns:
        The :class:`Detections` of that photo, best fused score first, at most
        ``max_detections``.
    """
    boxes = torch.cat([found.boxes_xyxy for found in per_size])
    scores = torch.cat([found.scores for found in per_size])
    labels = torch.cat([found.labels for found in per_size])
    sizes = torch.cat([torch.full_like(found.labels, index)
                       for index, found in enumerate(per_size)])
    kept, merged, fused = fusing_nms(boxes, scores, labels, sizes, len(per_size), iou_threshold)
    order = torch.sort(fused, stable=True, descending=True).indices[:max_detections]
    return Detections.of_image(merged[order], fused[order].to(scores.dtype),
                               labels[kept][order])


def demote_other_classes(detections: Detections, overlap_threshold: float = 0.3,
                         factor: float = 0.5) -> Detections:
    """One digit per place, softened for ranking: each detection that a more confident
    detection of another class overlaps by more than ``overlap_threshold`` (IoU) keeps
    ``factor`` of its score.

    Class-aware NMS keeps a "1" and a "7" found on the same digit, and a reading keeps only
    the more confident (:func:`~yolo_smol.detection.postprocess.one_digit_per_place`).
    Scoring every detection for mAP, the less confident one is usually the wrong class: at
    its full score it ranks among the sure detections of its class and lowers that class's
    precision early in the ranking. Removing it would lose the digit whenever the more
    confident class is the wrong one; lowering its score keeps it, further down its class's
    ranking. This is Soft-NMS's idea (Bodla et al. 2017: decay a suppressed box's score
    rather than drop it), applied across classes. Which detection covers which is decided
    on the scores as given, in one pass.

    Args:
        detections: a batch, rows best first within each image.
        overlap_threshold: the IoU above which two detections are one place (the reading's).
        factor: what a covered detection keeps of its score (1 changes nothing).

    Returns:
        The same rows with their new scores, best first again within each image.
    """
    rows = torch.cat([detections.boxes_xyxy.float(), detections.scores.float()[:, None],
                      detections.labels.float()[:, None]], dim=1)  # (D, 6)
    table, valid, rank = pad_by_group(rows, detections.image, detections.num_images)
    boxes, scores, labels = table[..., :4], table[..., 4], table[..., 5]  # (B, K, ...)
    # covers[b, i, j]: detection j of image b covers detection i.
    covers = ((pairwise_iou(boxes, boxes) > overlap_threshold)
              & (scores[:, None, :] > scores[:, :, None])
              & (labels[:, None, :] != labels[:, :, None]) & valid[:, None, :])
    covered = covers.any(dim=2)[detections.image, rank]  # (D,)
    demoted = torch.where(covered, detections.scores * factor, detections.scores)
    order = order_within_groups(demoted, detections.image, descending=True)
    return replace(detections, scores=demoted).select(order)


def only_sure_digits(reading: Reading, fraction: float) -> Reading:
    """``reading`` without the digits that score less than ``fraction`` of its best one.

    The digits of one house number are printed alike, so a detector that reads one of them
    surely reads the others almost as surely; a digit far less sure than the best of its
    reading is more often clutter beside the number (a door handle, the end of a mail slot,
    an "I" of a street name) than a digit of it. Applied to the final reading only: the
    looks, and so what the second look frames and the digits scored for mAP, are as before.

    Raises:
        ReadingError: ``fraction`` is not a number from 0 to 1.
    """
    check_threshold(fraction, "sure_fraction")
    digits = reading.detections
    if len(digits.scores) == 0:
        return reading
    return _keeping(reading, digits.select(digits.scores >= fraction * digits.scores.max()))


def without_stray_ends(reading: Reading, max_gap: float) -> Reading:
    """``reading`` without the digits at its ends that stand apart from the rest.

    The digits of a house number are set close together (SVHN's gaps between neighbours
    are within 0.15 digit heights nine times in ten), so a digit at either end more than
    ``max_gap`` digit heights (the reading's median box height) from its neighbour is more
    often a thing beside the number than a digit of it. Such end digits are dropped one at
    a time, the less sure first when both ends are apart, until both ends sit close.

    Raises:
        ReadingError: ``max_gap`` is not a number >= 0.
    """
    if isinstance(max_gap, bool) or not isinstance(max_gap, (int, float)) or not max_gap >= 0:
        raise ReadingError(f"max_end_gap: {max_gap!r} must be a number >= 0 (digit heights)")
    digits = reading.detections
    while len(digits.labels) >= 2:
        boxes = digits.boxes_xyxy  # (D, 4), left to right
        height = (boxes[:, 3] - boxes[:, 1]).median()
        apart = [(digits.scores[end].item(), end) for end, gap in
                 ((0, boxes[1, 0] - boxes[0, 2]), (len(boxes) - 1, boxes[-1, 0] - boxes[-2, 2]))
                 if gap > max_gap * height]
        if not apart:
            break
        digits = digits.select(torch.arange(len(boxes)) != min(apart)[1])
    return _keeping(reading, digits)


def _keeping(reading: Reading, digits: Detections) -> Reading:
    """``reading`` with only ``digits`` (some of its own, left to right): its number is
    theirs."""
    return Reading("".join(map(str, digits.labels.tolist())), digits, reading.size)
