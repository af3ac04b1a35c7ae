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

    The greedy algorithm above keeps a box exactly when no *kept* box of its class ranked
    above it overlaps it by more than ``iou_threshold``. That rule is a fixed point:
    ``kept = candidate & ~(some kept box suppresses it)``. Starting from "every candidate
    kept" and applying the rule again and again, the box of rank r is settled after at most
    r + 1 rounds (it depends only on the boxes above it), and in practice the whole table
    settles in 2 to 4 rounds, each one batched matrix product over every image (the
    "Cluster-NMS" iteration of Zheng et al., 2020). The result is exactly
    ``torchvision.ops.batched_nms``'s on each image (tested, ties included).

    Args:
        boxes_xyxy: ``(B, K, 4)``; scores: ``(B, K)``; labels: ``(B, K)`` long;
        valid: ``(B, K)`` bool, the candidates (padding is False).

    Returns:
        ``(B, K)`` bool, True for the boxes kept.
    """
    ranked = torch.where(valid, scores, torch.full_like(scores, -float("inf")))
    order = torch.sort(ranked, dim=1, stable=True, descending=True).indices  # (B, K)
    boxes = torch.gather(boxes_xyxy, 1, order[..., None].expand(-1, -1, 4))  # (B, K, 4)
    suppresses = _suppression_table(boxes, torch.gather(labels, 1, order), iou_threshold)
    candidate = torch.gather(valid, 1, order)  # (B, K)
    kept_sorted = candidate
    for _ in range(boxes.shape[1] + 1):  # the bound of the argument above; a few in practice
        removed = torch.bmm(kept_sorted[:, None, :].to(boxes.dtype), suppresses)[:, 0] > 0
        settled = candidate & ~removed
        if torch.equal(settled, kept_sorted):
            break
        kept_sorted = settled
    kept = torch.zeros_like(kept_sorted)
    kept.scatter_(1, order, kept_sorted)
    return kept


def _suppression_table(boxes_xyxy: torch.Tensor, labels: torch.Tensor,
                       iou_threshold: float) -> torch.Tensor:
    """``(B, K, K)`` float: 1 where box i, ranked above box j (rows best first), would
    remove j if i is kept: same class and IoU above the threshold."""
    count = boxes_xyxy.shape[1]
    same_class = labels[:, :, None] == labels[:, None, :]  # (B, K, K)
    overlap = pairwise_iou(boxes_xyxy, boxes_xyxy)  # (B, K, K)
    earlier = torch.ones(count, count, dtype=torch.bool, device=boxes_xyxy.device).triu(1)
    return ((overlap > iou_threshold) & same_class & earlier).to(boxes_xyxy.dtype)
