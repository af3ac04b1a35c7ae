"""The YOLOv3 loss (paper, section 2): box, objectness and class terms, and their counts.

- **Box**: at each positive, the sum of squared errors between ``(sigmoid(t_x),
  sigmoid(t_y), t_w, t_h)`` and their targets, weighted by ``2 - w * h`` (w, h of the
  ground truth as fractions of the image) so that small boxes, whose errors matter more,
  weigh more. Optionally GIoU (``1 - GIoU`` of decoded and true boxes) instead.
- **Objectness**: binary cross-entropy on logits over every prediction: 1 at positives,
  0 elsewhere, and no loss at all for a prediction that is not a positive but whose decoded
  box already overlaps some ground truth by more than ``ignore_threshold`` (the paper's
  ignore rule: such a prediction is not wrong, merely not the one chosen).
- **Class**: independent logistic classifiers (binary cross-entropy per class), not a
  softmax, at positives only, as the paper argues for multilabel data.

Normalisation: every term is a sum over the batch divided by the batch size B, so it is a
per-image loss that does not change with B (as Darknet's sums do, per image). The total is
the weighted sum of the three terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import generalized_box_iou_loss

from yolo_smol.boxes import cxcywh_to_xyxy, pairwise_iou
from yolo_smol.detection.assign import Assignment, assign_targets
from yolo_smol.detection.decode import decode_at, decode_boxes
from yolo_smol.grouped import pad_by_group

__all__ = ["LossConfig", "yolo_loss", "ignore_mask"]


@dataclass(frozen=True)
class LossConfig:
    """Weights and choices of the loss.

    Attributes:
        box_weight, objectness_weight, class_weight: multiply each term in the total.
        box_loss: ``"sse"`` (the paper's) or ``"giou"``.
        scale_by_size: weight the SSE box term by ``2 - w * h``.
        ignore_threshold: IoU above which an unassigned prediction takes no objectness loss.
        anchor_iou_threshold: also assign a box to every other anchor whose shape overlaps
            it by more than this (YOLOv4); 1.0 keeps YOLOv3's one anchor per box.
    """

    box_weight: float = 1.0
    objectness_weight: float = 1.0
    class_weight: float = 1.0
    box_loss: str = "sse"
    scale_by_size: bool = True
    ignore_threshold: float = 0.5
    anchor_iou_threshold: float = 1.0

    def __post_init__(self) -> None:
        if self.box_loss not in ("sse", "giou"):
            raise ValueError(f"box_loss must be 'sse' or 'giou', got {self.box_loss!r}")


def ignore_mask(raw: torch.Tensor, anchors_wh: torch.Tensor, targets: torch.Tensor,
                threshold: float) -> torch.Tensor:
    """Predictions of one head whose decoded box overlaps a true box by IoU > ``threshold``.

    Args:
        raw: ``(B, A, S, S, 5 + C)`` raw output of the head.
        anchors_wh: ``(A, 2)`` the head's anchors, fractions of the image.
        targets: ``(T, 6)`` rows ``[image_index, label, cx, cy, w, h]``.

    Returns:
        ``(B, A, S, S)`` bool. Positives are not removed here; the loss does that.
    """
    batch = raw.shape[0]
    with torch.no_grad():
        boxes = cxcywh_to_xyxy(decode_boxes(raw, anchors_wh)).flatten(1, 3)  # (B, N, 4)
        if len(targets) == 0:
            return torch.zeros(raw.shape[:4], dtype=torch.bool, device=raw.device)
        # Pad each image's true boxes to the same count M with empty boxes (IoU 0).
        truth, _, _ = pad_by_group(cxcywh_to_xyxy(targets[:, 2:6].to(boxes.dtype)),
                                   targets[:, 0].long(), batch)  # (B, M, 4)
        best = pairwise_iou(boxes, truth).amax(dim=2)  # (B, N)
        return (best > threshold).view(raw.shape[:4])


def yolo_loss(outputs: list[torch.Tensor], targets: torch.Tensor, anchors: torch.Tensor,
              config: LossConfig | None = None,
              assignment: Assignment | None = None) -> dict[str, torch.Tensor]:
    """The loss of a batch.

    Args:
        outputs: one raw tensor per head, coarsest first, each ``(B, A, S, S, 5 + C)``.
        targets: ``(T, 6)`` rows ``[image_index, label, cx, cy, w, h]``, cxcywh fractions.
        anchors: ``(L, A, 2)`` anchors as fractions of the image (``model.anchors``).
        config: weights and options; defaults to :class:`LossConfig()`.
        assignment: precomputed :func:`assign_targets` result, if the caller has it.

    Returns:
        ``box``, ``objectness``, ``class``, ``total`` (scalars, per image), and the counts
        ``assigned``, ``ignored``, ``collisions`` (scalar tensors, for logging).
    """
    config = config or LossConfig()
    batch = outputs[0].shape[0]
    targets = targets.to(outputs[0].dtype)
    if assignment is None:
        assignment = assign_targets(targets, anchors,
                                    [tuple(output.shape[2:4]) for output in outputs],
                                    config.anchor_iou_threshold)
    box_sum = objectness_sum = class_sum = outputs[0].new_zeros(())
    ignored = 0
    for head, raw in enumerate(outputs):
        box_part, objectness_part, class_part, skipped = _head_terms(
            raw, head, assignment, anchors[head], targets, config)
        box_sum, objectness_sum = box_sum + box_part, objectness_sum + objectness_part
        class_sum, ignored = class_sum + class_part, ignored + skipped
    box, objectness, classes = box_sum / batch, objectness_sum / batch, class_sum / batch
    total = (config.box_weight * box + config.objectness_weight * objectness
             + config.class_weight * classes)
    return {"box": box, "objectness": objectness, "class": classes, "total": total,
            "assigned": torch.tensor(len(assignment)),
            "ignored": torch.tensor(ignored),
            "collisions": torch.tensor(assignment.num_collisions)}


def _head_terms(raw: torch.Tensor, head: int, assignment: Assignment,
                anchors_wh: torch.Tensor, targets: torch.Tensor, config: LossConfig,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """One head's sums of the box, objectness and class terms, and how many predictions
    the ignore rule skipped.

    Args:
        raw: ``(B, A, S_h, S_w, 5 + C)`` the head's raw output.
        anchors_wh: ``(A, 2)`` the head's anchors, fractions of the image.
    """
    in_head = assignment.head == head
    index = (assignment.image[in_head], assignment.anchor[in_head], assignment.row[in_head],
             assignment.col[in_head])
    positive_raw = raw[index]  # (P_h, 5 + C)
    # Objectness over every prediction, with the ignore rule.
    objectness_target = torch.zeros(raw.shape[:4], dtype=raw.dtype, device=raw.device)
    objectness_target[index] = 1.0
    skip = ignore_mask(raw, anchors_wh, targets, config.ignore_threshold)
    skip[index] = False
    objectness = F.binary_cross_entropy_with_logits(
        raw[..., 4], objectness_target, weight=(~skip).to(raw.dtype), reduction="sum")
    if positive_raw.shape[0] == 0:
        zero = raw.new_zeros(())
        return zero, objectness, zero, int(skip.sum())
    box = _box_term(positive_raw, assignment, in_head, anchors_wh, raw, config)
    class_target = F.one_hot(assignment.labels[in_head], raw.shape[-1] - 5).to(raw.dtype)
    classes = F.binary_cross_entropy_with_logits(positive_raw[:, 5:], class_target,
                                                 reduction="sum")
    return box, objectness, classes, int(skip.sum())


def _box_term(positive_raw: torch.Tensor, assignment: Assignment, in_head: torch.Tensor,
              anchors_wh: torch.Tensor, raw: torch.Tensor, config: LossConfig) -> torch.Tensor:
    """Sum of the box loss over one head's positives ``positive_raw (P, 5 + C)``."""
    if config.box_loss == "giou":
        _, _, height, width, _ = raw.shape
        predicted = cxcywh_to_xyxy(decode_at(
            positive_raw[:, :4], anchors_wh[assignment.anchor[in_head]],  # (P, 4), (P, 2)
            assignment.col[in_head], assignment.row[in_head], height, width))
        truth = cxcywh_to_xyxy(assignment.boxes_cxcywh[in_head])
        return generalized_box_iou_loss(predicted, truth, reduction="sum")
    predicted = torch.cat([torch.sigmoid(positive_raw[:, :2]), positive_raw[:, 2:4]], dim=1)
    target = torch.cat([assignment.offsets[in_head], assignment.log_scales[in_head]], dim=1)
    squared = (predicted - target).square().sum(dim=1)  # (P,)
    if config.scale_by_size:
        squared = squared * (2 - assignment.boxes_cxcywh[in_head, 2:].prod(dim=1))
    return squared.sum()
