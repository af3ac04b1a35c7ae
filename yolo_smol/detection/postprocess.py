"""From raw head outputs to detections: decode, score, threshold, class-aware NMS.

A YOLO model proposes a box at every cell and anchor (80 per image for smol.json), and
several neighbouring cells usually find the same digit. Non-maximum suppression keeps the
highest-scoring box of each cluster of overlapping boxes of the same class. The NMS is
``yolo_smol.detection.nms.dense_batched_nms``: torchvision's greedy algorithm, exactly (tested
against ``torchvision.ops.batched_nms``), for a whole batch at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from yolo_smol.boxes import cxcywh_to_xyxy
from yolo_smol.config import input_size
from yolo_smol.detection.decode import decode_boxes
from yolo_smol.detection.nms import dense_batched_nms
from yolo_smol.grouped import pad_by_group

__all__ = ["Detections", "flatten_predictions", "detect_flat", "detect", "one_digit_per_place",
           "one_per_place_mask"]


@dataclass(frozen=True)
class Detections:
    """The detections of one image, highest score first.

    Attributes:
        boxes_xyxy: ``(N, 4)`` xyxy in pixels of the model input (S x S), or of the original
            image when its size was given to :func:`detect`.
        scores: ``(N,)`` objectness x class probability.
        labels: ``(N,)`` long, the digit.
    """

    boxes_xyxy: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.scores.shape[0]


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
    boxes, scores, labels = [], [], []
    for head, raw in enumerate(outputs):
        boxes.append(decode_boxes(raw, anchors[head]).flatten(1, 3))  # (B, A*S*S, 4)
        # The sigmoid is increasing, so the best class is the one with the largest logit:
        # one sigmoid per prediction instead of C.
        best_logit, best_class = raw[..., 5:].flatten(1, 3).max(dim=-1)  # (B, A*S*S)
        scores.append(torch.sigmoid(raw[..., 4]).flatten(1, 3) * torch.sigmoid(best_logit))
        labels.append(best_class)
    return torch.cat(boxes, 1), torch.cat(scores, 1), torch.cat(labels, 1)


def detect_flat(outputs: list[torch.Tensor], anchors: torch.Tensor,
                image_size: int | tuple[int, int],
                confidence_threshold: float = 0.25, iou_threshold: float = 0.45,
                max_detections: int = 100,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The detections of a whole batch as flat rows, one class-aware NMS for the batch.

    The arguments are those of :func:`detect` (without ``original_sizes``). Evaluation uses
    this form: thousands of images' detections are scored together, and building one small
    tensor per image only to stack them again would cost more than the NMS itself.

    Returns:
        ``image (D,)`` long, the image of each row (rows grouped by image, best score first
        within an image), ``boxes_xyxy (D, 4)`` input pixels, ``scores (D,)``,
        ``labels (D,)`` long.
    """
    with torch.no_grad():
        boxes, scores, labels = flatten_predictions(outputs, anchors)  # (B, N, ...)
        to_pixels = boxes.new_tensor(input_size(image_size)).repeat(2)  # (4,) W, H, W, H
        # 1) Candidates above the threshold, moved to the front of each row, best first,
        #    so that NMS only looks at as many columns as the busiest image needs.
        candidate = scores >= confidence_threshold
        ranked = torch.where(candidate, scores, torch.full_like(scores, -1.0))
        order = torch.sort(ranked, dim=1, stable=True, descending=True).indices
        width = max(int(candidate.sum(dim=1).max()) if candidate.numel() else 0, 1)
        order = order[:, :width]  # (B, K)
        boxes_xyxy = cxcywh_to_xyxy(torch.gather(boxes, 1, order[..., None].expand(-1, -1, 4))
                                    ) * to_pixels  # (B, K, 4) input pixels
        scores, labels = torch.gather(scores, 1, order), torch.gather(labels, 1, order)
        valid = torch.gather(candidate, 1, order)
        # 2) Greedy class-aware NMS, every image of the batch at once. (Grouping the rows
        #    by (image, class) instead makes the table larger, not smaller: the rows are
        #    padded to the busiest group, and one class often holds most of an image's
        #    candidates.)
        kept = dense_batched_nms(boxes_xyxy, scores, labels, valid, iou_threshold)
        # 3) At most max_detections per image; rows are already best first, and boolean
        #    indexing reads row by row, so the result is grouped by image.
        kept &= torch.cumsum(kept, dim=1) <= max_detections
        image = torch.arange(kept.shape[0], device=kept.device)[:, None].expand_as(kept)
        return image[kept], boxes_xyxy[kept], scores[kept], labels[kept]


def detect(outputs: list[torch.Tensor], anchors: torch.Tensor,
           image_size: int | tuple[int, int],
           confidence_threshold: float = 0.25, iou_threshold: float = 0.45,
           max_detections: int = 100,
           original_sizes: list[tuple[int, int]] | None = None) -> list[Detections]:
    """Detections for every image of a batch, with one class-aware NMS for the whole batch.

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
    """
    image, boxes_xyxy, scores, labels = detect_flat(
        outputs, anchors, image_size, confidence_threshold, iou_threshold, max_detections)
    if original_sizes is not None:
        # Per row: x by original width / input width, y by original height / input height.
        input_width, input_height = input_size(image_size)
        scale = torch.tensor([[width / input_width, height / input_height] * 2
                              for width, height in original_sizes],
                             dtype=boxes_xyxy.dtype, device=boxes_xyxy.device)
        boxes_xyxy = boxes_xyxy * scale[image]
    counts = torch.bincount(image, minlength=outputs[0].shape[0]).tolist()
    return [Detections(*parts) for parts in zip(boxes_xyxy.split(counts), scores.split(counts),
                                                labels.split(counts), strict=True)]


def one_digit_per_place(detections: list[Detections], confidence_threshold: float = 0.25,
                        overlap_threshold: float = 0.3) -> list[Detections]:
    """The detections a house number is read from: above the threshold, one per place.

    Class-aware NMS keeps a "1" and a "7" found on the same digit, since they are different
    classes. A house number has one digit in each place, so for reading, overlapping
    detections of any classes are duplicates and only the most confident is kept. Digits
    of a number overlap each other only a little (SVHN's neighbours overlap by a few per
    cent of their height), far below ``overlap_threshold``.
    """
    if not detections:
        return []
    counts = torch.tensor([len(found) for found in detections])
    boxes = torch.cat([found.boxes_xyxy.reshape(-1, 4) for found in detections])
    scores = torch.cat([found.scores for found in detections])
    labels = torch.cat([found.labels for found in detections])
    image = torch.repeat_interleave(torch.arange(len(detections)), counts)  # (D,)
    candidates = (scores >= confidence_threshold).nonzero().flatten()  # (K,)
    chosen = candidates[one_per_place_mask(image[candidates], boxes[candidates],
                                           scores[candidates], len(detections),
                                           overlap_threshold)]
    sizes = torch.bincount(image[chosen], minlength=len(detections)).tolist()
    return [Detections(*parts) for parts in zip(boxes[chosen].split(sizes),
                                                scores[chosen].split(sizes),
                                                labels[chosen].split(sizes), strict=True)]


def one_per_place_mask(image: torch.Tensor, boxes_xyxy: torch.Tensor, scores: torch.Tensor,
                       num_images: int, overlap_threshold: float) -> torch.Tensor:
    """The core of :func:`one_digit_per_place` on stacked detections.

    Args:
        image: ``(K,)`` long, the image of each detection; rows grouped by image.
        boxes_xyxy: ``(K, 4)``; scores: ``(K,)``.

    Returns:
        ``(K,)`` bool, True for the detections kept.
    """
    padded_boxes, valid, rank = pad_by_group(boxes_xyxy.float(), image, num_images)  # (B, K, 4)
    padded_scores, _, _ = pad_by_group(scores.float(), image, num_images)  # (B, K)
    every_class = torch.zeros(valid.shape, dtype=torch.long)  # class-agnostic
    kept = dense_batched_nms(padded_boxes, padded_scores, every_class, valid,
                             overlap_threshold)
    return kept[image, rank]
