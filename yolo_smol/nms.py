"""Non-maximum suppression, written out.

``nms`` is the algorithm as the NMS chapter builds it, a dozen lines of PyTorch, tested to
give exactly ``torchvision.ops.nms``'s answer, ties included. ``dense_batched_nms`` runs
the same greedy algorithm for a whole batch of images at once; detection uses it because
calling ``torchvision.ops.batched_nms`` once per image costs more than the model's forward
pass on a CPU. Its results are tested against ``torchvision.ops.batched_nms``.
"""

from __future__ import annotations

import torch

from yolo_smol.boxes import pairwise_iou

__all__ = ["nms", "batched_nms", "dense_batched_nms"]


def _iou_with(box_xyxy: torch.Tensor, others_xyxy: torch.Tensor) -> torch.Tensor:
    """IoU of one box ``(4,)`` with ``others_xyxy (K, 4)``, in torchvision's arithmetic."""
    left = torch.maximum(box_xyxy[0], others_xyxy[:, 0])
    top = torch.maximum(box_xyxy[1], others_xyxy[:, 1])
    right = torch.minimum(box_xyxy[2], others_xyxy[:, 2])
    bottom = torch.minimum(box_xyxy[3], others_xyxy[:, 3])
    inter = (right - left).clamp(min=0) * (bottom - top).clamp(min=0)
    area = (box_xyxy[2] - box_xyxy[0]) * (box_xyxy[3] - box_xyxy[1])
    others_area = (others_xyxy[:, 2] - others_xyxy[:, 0]) * (others_xyxy[:, 3] - others_xyxy[:, 1])
    return inter / (area + others_area - inter)


def nms(boxes_xyxy: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept, highest score first.

    1) Order the boxes by score, highest first (a stable sort: equal scores keep their
       input order). 2) Keep the best remaining box. 3) Drop every remaining box whose IoU
       with it is above ``iou_threshold``. 4) Repeat until no box remains.

    Args:
        boxes_xyxy: ``(N, 4)`` xyxy, any one unit.
        scores: ``(N,)``.
    """
    order = torch.sort(scores, stable=True, descending=True).indices
    kept = []
    while order.numel() > 0:
        best, rest = order[0], order[1:]
        kept.append(best)
        order = rest[_iou_with(boxes_xyxy[best], boxes_xyxy[rest]) <= iou_threshold]
    return torch.stack(kept) if kept else torch.zeros(0, dtype=torch.long)


def batched_nms(boxes_xyxy: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor,
                iou_threshold: float) -> torch.Tensor:
    """NMS within each group (class, or image and class) separately: ``(N,)`` -> kept indices.

    Boxes of different groups never suppress each other. The result is ordered by score
    (equal scores in index order).
    """
    kept = []
    for group in groups.unique():
        members = (groups == group).nonzero().flatten()
        kept.append(members[nms(boxes_xyxy[members], scores[members], iou_threshold)])
    if not kept:
        return torch.zeros(0, dtype=torch.long)
    merged = torch.cat(kept)
    return merged[torch.sort(scores[merged], stable=True, descending=True).indices]


def dense_batched_nms(boxes_xyxy: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                      valid: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Class-aware NMS for a whole batch at once, each image on its own.

    The greedy algorithm above, run for every image in parallel: the images' boxes, sorted
    by score, are visited rank by rank, and each kept box removes the lower-scoring boxes
    of its class that overlap it by more than ``iou_threshold``. A box is kept exactly when
    ``torchvision.ops.batched_nms`` on that image would keep it (tested), but the batch
    costs a few tensor operations per rank instead of a call per image and class.

    Args:
        boxes_xyxy: ``(B, K, 4)``; scores: ``(B, K)``; labels: ``(B, K)`` long;
        valid: ``(B, K)`` bool, the candidates (padding is False).

    Returns:
        ``(B, K)`` bool, True for the boxes kept.
    """
    batch, count, _ = boxes_xyxy.shape
    ranked = torch.where(valid, scores, torch.full_like(scores, -float("inf")))
    order = torch.sort(ranked, dim=1, stable=True, descending=True).indices  # (B, K)
    boxes = torch.gather(boxes_xyxy, 1, order[..., None].expand(-1, -1, 4))  # (B, K, 4)
    same_class = torch.gather(labels, 1, order)[:, :, None] == torch.gather(
        labels, 1, order)[:, None, :]  # (B, K, K)
    overlap = pairwise_iou(boxes, boxes)  # (B, K, K)
    later = torch.ones(count, count, dtype=torch.bool, device=boxes.device).triu(1)
    suppresses = (overlap > iou_threshold) & same_class & later  # (B, K, K)
    alive = torch.gather(valid, 1, order)  # (B, K)
    kept_sorted = torch.zeros_like(alive)
    for rank in range(count):
        keep_now = alive[:, rank]
        kept_sorted[:, rank] = keep_now
        alive = alive & ~(keep_now[:, None] & suppresses[:, rank, :])
    kept = torch.zeros_like(kept_sorted)
    kept.scatter_(1, order, kept_sorted)
    return kept
