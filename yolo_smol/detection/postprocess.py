"""From raw head outputs to detections: decode, score, threshold, class-aware NMS.

A YOLO model proposes a box at every cell and anchor (80 per image for smol.json), and
several neighbouring cells usually find the same digit. Non-maximum suppression keeps the
highest-scoring box of each cluster of overlapping boxes of the same class. The NMS is
``yolo_smol.detection.nms.dense_batched_nms``: torchvision's greedy algorithm, exactly (tested
against ``torchvision.ops.batched_nms``), for a whole batch at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import torch

from yolo_smol.boxes import cxcywh_to_xyxy, pairwise_iou
from yolo_smol.config import input_size
from yolo_smol.detection.decode import decode_boxes
from yolo_smol.detection.nms import dense_batched_nms, fusing_nms, merging_nms
from yolo_smol.grouped import order_within_groups, pad_by_group

__all__ = ["Detections", "flatten_predictions", "detect", "one_digit_per_place",
           "one_per_place_mask", "on_one_line", "on_the_line", "left_to_right",
           "demote_other_classes", "merge_looks", "fuse_sizes"]


@dataclass(frozen=True)
class Detections:
    """The detections of a batch of images, one row each: the one container for detections.

    Rows are grouped by image, best score first within an image. A batch behaves as a
    sequence of images: ``len(detections)`` is the number of images, and
    ``detections[i]`` (or iterating) gives the per-image view, itself a :class:`Detections`
    of one image, whose columns are that image's rows only.

    Attributes:
        image: ``(D,)`` long, the image of each row, in ``[0, num_images)``.
        boxes_xyxy: ``(D, 4)`` xyxy in pixels of the model input, or of the original
            image when its size was given to :func:`detect`.
        scores: ``(D,)`` objectness x class probability.
        labels: ``(D,)`` long, the digit.
        num_images: images in the batch, those without any detection included.
    """

    image: torch.Tensor
    boxes_xyxy: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    num_images: int

    @classmethod
    def of_image(cls, boxes_xyxy: torch.Tensor, scores: torch.Tensor,
                 labels: torch.Tensor) -> Detections:
        """The detections of one image: ``boxes_xyxy (N, 4)``, ``scores (N,)``,
        ``labels (N,)``, best score first."""
        image = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
        return cls(image, boxes_xyxy.reshape(-1, 4), scores, labels, 1)

    @classmethod
    def cat(cls, batches: Sequence[Detections]) -> Detections:
        """One batch of the images of ``batches``, in order."""
        if not batches:
            return cls(torch.zeros(0, dtype=torch.long), torch.zeros(0, 4), torch.zeros(0),
                       torch.zeros(0, dtype=torch.long), 0)
        offsets = torch.cumsum(torch.tensor([0] + [part.num_images for part in batches]), 0)
        return cls(torch.cat([part.image.cpu() + offset
                              for part, offset in zip(batches, offsets.tolist(), strict=False)]),
                   torch.cat([part.boxes_xyxy.reshape(-1, 4) for part in batches]),
                   torch.cat([part.scores for part in batches]),
                   torch.cat([part.labels for part in batches]), int(offsets[-1]))

    @property
    def num_detections(self) -> int:
        """``D``, the rows of all images together."""
        return self.scores.shape[0]

    @property
    def counts(self) -> torch.Tensor:
        """``(num_images,)`` long, the detections of each image."""
        return torch.bincount(self.image.cpu(), minlength=self.num_images)

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> Detections:
        if not -self.num_images <= index < self.num_images:
            raise IndexError(f"image {index} of a batch of {self.num_images}")
        index %= self.num_images
        # Rows are grouped by image, so an image's rows are one slice.
        image = self.image.cpu()
        start = int(torch.searchsorted(image, index))
        end = int(torch.searchsorted(image, index, right=True))
        return Detections.of_image(self.boxes_xyxy[start:end], self.scores[start:end],
                                   self.labels[start:end])

    def __iter__(self) -> Iterator[Detections]:
        counts = self.counts.tolist()
        for parts in zip(self.boxes_xyxy.split(counts), self.scores.split(counts),
                         self.labels.split(counts), strict=True):
            yield Detections.of_image(*parts)

    def select(self, keep: torch.Tensor) -> Detections:
        """The rows ``keep`` picks, the same images: a ``(D,)`` bool mask, or row indices
        in the order wanted (the caller keeps the rows grouped by image)."""
        return Detections(self.image[keep], self.boxes_xyxy[keep], self.scores[keep],
                          self.labels[keep], self.num_images)

    def cpu(self) -> Detections:
        return Detections(self.image.cpu(), self.boxes_xyxy.cpu(), self.scores.cpu(),
                          self.labels.cpu(), self.num_images)


def flatten_predictions(outputs: list[torch.Tensor], anchors: torch.Tensor,
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every prediction of every head, scored.

    Args:
        outputs: per head ``(B, A, S, S, 5 + C)`` raw maps, coarsest first.
        anchors: ``(L, A, 2)`` anchors as fractions of the image.

    Returns:
        ``boxes (B, N, 4)`` cxcywh fractions, ``scores (B, N)`` and ``labels (B, N)``: the
        best class of each prediction and objectness x that class's probability (classes
        are independent sigmoids, as in the loss).
    """
    boxes = torch.cat([decode_boxes(raw, anchors[head]).flatten(1, 3)  # (B, A*S*S, 4)
                       for head, raw in enumerate(outputs)], 1)
    raw = torch.cat([head.flatten(1, 3) for head in outputs], 1)  # (B, N, 5 + C)
    # The sigmoid is increasing, so the best class is the one with the largest logit: one
    # sigmoid per prediction instead of C. (Every head at once: for a single photo, the
    # number of small operations, not their size, is what costs.)
    best_logit, labels = raw[..., 5:].max(dim=-1)  # (B, N)
    return boxes, torch.sigmoid(raw[..., 4]) * torch.sigmoid(best_logit), labels


def detect(outputs: list[torch.Tensor], anchors: torch.Tensor,
           image_size: int | tuple[int, int],
           confidence_threshold: float = 0.25, iou_threshold: float = 0.45,
           max_detections: int = 100,
           original_sizes: list[tuple[int, int]] | None = None) -> Detections:
    """The detections of a whole batch, with one class-aware NMS for the whole batch.

    Args:
        outputs: per head ``(B, A, S_h, S_w, 5 + C)`` raw maps.
        anchors: ``(L, A, 2)`` anchors, fractions of the image.
        image_size: S, the side of the model input in pixels, or its ``(width, height)``.
        confidence_threshold: keep predictions scoring at least this.
        iou_threshold: NMS suppresses a box overlapping a better one of its class by more.
        max_detections: keep at most this many per image, best first.
        original_sizes: ``(width, height)`` of each original image; boxes are then given
            in its pixels (the input was squashed to its size, so x and y scale
            differently).

    Returns:
        B images' detections in one :class:`Detections`; ``[i]`` is image i's.
    """
    with torch.no_grad():
        boxes, scores, labels = flatten_predictions(outputs, anchors)  # (B, N, ...)
        boxes_xyxy, scores, labels, valid = _candidates(boxes, scores, labels, image_size,
                                                        confidence_threshold)
        # Greedy class-aware NMS, every image of the batch at once. (Grouping the rows by
        # (image, class) instead makes the table larger, not smaller: the rows are padded
        # to the busiest group, and one class often holds most of an image's candidates.)
        kept = dense_batched_nms(boxes_xyxy, scores, labels, valid, iou_threshold)
        # At most max_detections per image; rows are already best first, and boolean
        # indexing reads row by row, so the result is grouped by image.
        kept &= torch.cumsum(kept, dim=1) <= max_detections
        image = torch.arange(kept.shape[0], device=kept.device)[:, None].expand_as(kept)
        image, boxes_xyxy = image[kept], boxes_xyxy[kept]
    if original_sizes is not None:
        boxes_xyxy = _to_original_pixels(boxes_xyxy, image, image_size, original_sizes)
    return Detections(image, boxes_xyxy, scores[kept], labels[kept], outputs[0].shape[0])


def _to_original_pixels(boxes_xyxy: torch.Tensor, image: torch.Tensor,
                        image_size: int | tuple[int, int],
                        original_sizes: list[tuple[int, int]]) -> torch.Tensor:
    """``(D, 4)`` boxes from input pixels to the pixels of each row's original image: x by
    original width / input width, y by original height / input height (the photo was
    squashed to the input, not letterboxed)."""
    input_width, input_height = input_size(image_size)
    scale = torch.tensor([[width / input_width, height / input_height] * 2
                          for width, height in original_sizes],
                         dtype=boxes_xyxy.dtype, device=boxes_xyxy.device)  # (B, 4)
    return boxes_xyxy * scale[image]


def _candidates(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                image_size: int | tuple[int, int], confidence_threshold: float,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The predictions above the threshold, moved to the front of each row, best first,
    so that NMS only looks at as many columns as the busiest image needs.

    Args:
        boxes: ``(B, N, 4)`` cxcywh fractions; scores, labels: ``(B, N)``.

    Returns:
        ``boxes_xyxy (B, K, 4)`` input pixels, ``scores (B, K)``, ``labels (B, K)`` and
        ``valid (B, K)`` bool (False for the padding of images with fewer candidates).
    """
    to_pixels = boxes.new_tensor(input_size(image_size)).repeat(2)  # (4,) W, H, W, H
    candidate = scores >= confidence_threshold
    ranked = torch.where(candidate, scores, torch.full_like(scores, -1.0))
    order = torch.sort(ranked, dim=1, stable=True, descending=True).indices
    width = max(int(candidate.sum(dim=1).max()) if candidate.numel() else 0, 1)
    order = order[:, :width]  # (B, K)
    boxes_xyxy = cxcywh_to_xyxy(torch.gather(boxes, 1, order[..., None].expand(-1, -1, 4))
                                ) * to_pixels
    return (boxes_xyxy, torch.gather(scores, 1, order), torch.gather(labels, 1, order),
            torch.gather(candidate, 1, order))


def one_digit_per_place(detections: Detections, confidence_threshold: float = 0.25,
                        overlap_threshold: float = 0.3) -> Detections:
    """The detections a house number is read from: above the threshold, one per place.

    Class-aware NMS keeps a "1" and a "7" found on the same digit, since they are different
    classes. A house number has one digit in each place, so for reading, overlapping
    detections of any classes are duplicates and only the most confident is kept. Digits
    of a number overlap each other only a little (SVHN's neighbours overlap by a few per
    cent of their height), far below ``overlap_threshold``.
    """
    confident = detections.select(detections.scores >= confidence_threshold)
    return confident.select(one_per_place_mask(confident.image, confident.boxes_xyxy,
                                               confident.scores, confident.num_images,
                                               overlap_threshold))


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
    the more confident (:func:`one_digit_per_place`). Scoring every detection for mAP, the
    less confident one is usually the wrong class: at its full score it ranks among the sure
    detections of its class and lowers that class's precision early in the ranking. Removing
    it would lose the digit whenever the more confident class is the wrong one; lowering
    its score keeps it, further down its class's ranking. This is Soft-NMS's idea (Bodla et
    al. 2017: decay a suppressed box's score rather than drop it), applied across classes.
    Which detection covers which is decided on the scores as given, in one pass.

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


def one_per_place_mask(image: torch.Tensor, boxes_xyxy: torch.Tensor, scores: torch.Tensor,
                       num_images: int, overlap_threshold: float) -> torch.Tensor:
    """The core of :func:`one_digit_per_place` on stacked detections.

    Args:
        image: ``(K,)`` long, the image of each detection; rows grouped by image.
        boxes_xyxy: ``(K, 4)``; scores: ``(K,)``.

    Returns:
        ``(K,)`` bool, True for the detections kept.
    """
    rows = torch.cat([boxes_xyxy.float(), scores.float()[:, None]], dim=1)  # (K, 5)
    padded, valid, rank = pad_by_group(rows, image, num_images)  # (B, K_max, 5), one pass
    padded_boxes, padded_scores = padded[..., :4], padded[..., 4]
    every_class = torch.zeros(valid.shape, dtype=torch.long)  # class-agnostic
    kept = dense_batched_nms(padded_boxes, padded_scores, every_class, valid,
                             overlap_threshold)
    return kept[image, rank]
