"""From raw head outputs to detections: decode, score, threshold, class-aware NMS.

A YOLO model proposes a box at every cell and anchor (80 per image for smol.json), and
several neighbouring cells usually find the same digit. Non-maximum suppression keeps the
highest-scoring box of each cluster of overlapping boxes of the same class. The NMS is
``yolo_smol.detection.nms.dense_batched_nms``: torchvision's greedy algorithm, exactly (tested
against ``torchvision.ops.batched_nms``), for a whole batch at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from yolo_smol.boxes import cxcywh_to_xyxy
from yolo_smol.config import input_size
from yolo_smol.detection.decode import decode_boxes
from yolo_smol.detection.nms import dense_batched_nms
from yolo_smol.grouped import pad_by_group

__all__ = ["Detections", "flatten_predictions", "detect", "one_digit_per_place",
           "one_per_place_mask"]


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
