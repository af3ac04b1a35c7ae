"""From raw head outputs to detections: decode, score, threshold, class-aware NMS.

A YOLO model proposes a box at every cell and anchor (80 per image for smol.json), and
several neighbouring cells usually find the same digit. Non-maximum suppression keeps the
highest-scoring box of each cluster of overlapping boxes of the same class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import batched_nms

from yolo_smol.boxes import cxcywh_to_xyxy
from yolo_smol.decode import decode_boxes

__all__ = ["Detections", "flatten_predictions", "detect"]


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
        class_probability = torch.sigmoid(raw[..., 5:]).flatten(1, 3)  # (B, A*S*S, C)
        best_probability, best_class = class_probability.max(dim=-1)
        scores.append(torch.sigmoid(raw[..., 4]).flatten(1, 3) * best_probability)
        labels.append(best_class)
    return torch.cat(boxes, 1), torch.cat(scores, 1), torch.cat(labels, 1)


def detect(outputs: list[torch.Tensor], anchors: torch.Tensor, image_size: int,
           confidence_threshold: float = 0.25, iou_threshold: float = 0.45,
           max_detections: int = 100,
           original_sizes: list[tuple[int, int]] | None = None) -> list[Detections]:
    """Detections for every image of a batch, in one NMS call for the whole batch.

    Args:
        outputs: per head ``(B, A, S, S, 5 + C)`` raw maps.
        anchors: ``(L, A, 2)`` anchors, fractions of the image.
        image_size: S, the side of the model input in pixels.
        confidence_threshold: keep predictions scoring at least this.
        iou_threshold: NMS suppresses a box overlapping a better one of its class by more.
        max_detections: keep at most this many per image, best first.
        original_sizes: ``(width, height)`` of each original image; boxes are then given
            in its pixels (the input was squashed to S x S, so x and y scale differently).
    """
    with torch.no_grad():
        boxes, scores, labels = flatten_predictions(outputs, anchors)
        batch, _, _ = boxes.shape
        keep = scores >= confidence_threshold  # (B, N)
        image_index = torch.arange(batch, device=boxes.device)[:, None].expand_as(scores)[keep]
        candidate_boxes = cxcywh_to_xyxy(boxes[keep]) * image_size  # (K, 4) input pixels
        candidate_scores, candidate_labels = scores[keep], labels[keep]
        # One NMS over the batch: boxes of different images or classes never suppress
        # each other, because batched_nms separates the groups given by this index.
        group = image_index * outputs[0].shape[-1] + candidate_labels
        kept = batched_nms(candidate_boxes, candidate_scores, group, iou_threshold)  # by score
        results = []
        for index in range(batch):
            mine = kept[image_index[kept] == index][:max_detections]
            image_boxes = candidate_boxes[mine]
            if original_sizes is not None:
                width, height = original_sizes[index]
                image_boxes = image_boxes * image_boxes.new_tensor(
                    [width, height, width, height]) / image_size
            results.append(Detections(image_boxes, candidate_scores[mine],
                                      candidate_labels[mine]))
        return results
