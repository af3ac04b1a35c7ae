"""Non-maximum suppression, written out.

``nms`` is the algorithm as the NMS chapter builds it, a dozen lines of PyTorch, tested to
give exactly ``torchvision.ops.nms``'s answer, ties included. ``dense_batched_nms`` runs
the same greedy algorithm for a whole batch of images at once; detection uses it because
calling ``torchvision.ops.batched_nms`` once per image costs more than the model's forward
pass on a CPU. Its results are tested against ``torchvision.ops.batched_nms``.
``merging_nms`` keeps what ``batched_nms`` keeps, but moves each kept box to the
score-weighted mean of the boxes it suppressed: how the ``Detector`` merges its looks.
``fusing_nms`` also averages the scores that several looks at one image gave a box: how
the ``Detector`` combines the input sizes it reads a photo at.
"""

from __future__ import annotations

import torch

from yolo_smol.boxes import pairwise_iou

__all__ = ["nms", "batched_nms", "merging_nms", "fusing_nms", "dense_batched_nms"]


def _iou_rows(rows_xyxy: torch.Tensor, others_xyxy: torch.Tensor) -> torch.Tensor:
    """``(K, N)`` IoU of each of ``rows_xyxy (K, 4)`` with ``others_xyxy (N, 4)``, in
    torchvision's arithmetic, so that NMS here and there agree at the threshold."""
    left = torch.maximum(rows_xyxy[:, None, 0], others_xyxy[None, :, 0])
    top = torch.maximum(rows_xyxy[:, None, 1], others_xyxy[None, :, 1])
    right = torch.minimum(rows_xyxy[:, None, 2], others_xyxy[None, :, 2])
    bottom = torch.minimum(rows_xyxy[:, None, 3], others_xyxy[None, :, 3])
    inter = (right - left).clamp(min=0) * (bottom - top).clamp(min=0)
    area = (rows_xyxy[:, 2] - rows_xyxy[:, 0]) * (rows_xyxy[:, 3] - rows_xyxy[:, 1])
    others_area = (others_xyxy[:, 2] - others_xyxy[:, 0]) * (others_xyxy[:, 3] - others_xyxy[:, 1])
    return inter / (area[:, None] + others_area[None, :] - inter)


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
        order = rest[_iou_rows(boxes_xyxy[best][None], boxes_xyxy[rest])[0] <= iou_threshold]
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


def merging_nms(boxes_xyxy: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor,
                iou_threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-aware NMS whose kept boxes take in the boxes they suppress ("merge NMS").

    Plain NMS throws a suppressed box away. When the boxes come from several looks at one
    photo, each is a separate estimate of where the same digit is, and their average is a
    better one than any of them (the reasoning of weighted box fusion, Solovyev et al.
    2019, and of YOLOv5's ``merge`` option). So the boxes kept are exactly
    :func:`batched_nms`'s, with their own scores, and each moves to the score-weighted mean
    of itself and the boxes that greedy NMS removed because of it.

    Args:
        boxes_xyxy: ``(N, 4)`` xyxy; scores: ``(N,)``; groups: ``(N,)`` (the class).

    Returns:
        ``kept (K,)`` the indices :func:`batched_nms` keeps (best first), and ``merged
        (K, 4)`` their boxes, xyxy in the unit of ``boxes_xyxy``.
    """
    kept, weights = _clusters(boxes_xyxy, scores, groups, iou_threshold)
    return kept, _weighted_boxes(weights, boxes_xyxy, kept)


def fusing_nms(boxes_xyxy: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor,
               sources: torch.Tensor, num_sources: int, iou_threshold: float,
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`merging_nms` for boxes from ``num_sources`` looks at the same image that vote
    (the image at several input sizes): each kept box's score becomes the mean over the
    sources of the best score each gave it (0 from a source that did not find it).

    A digit that one look of three found at 0.9 scores 0.3; one that all three found
    at 0.9 keeps 0.9. Averaging the predictions of the augmented copies is how test-time
    augmentation is usually combined; a digit only one copy saw is more often a mistake.

    Args:
        boxes_xyxy: ``(N, 4)`` xyxy; scores: ``(N,)``; groups: ``(N,)`` (the class);
        sources: ``(N,)`` long in ``[0, num_sources)``, the look each box came from.

    Returns:
        ``kept (K,)`` the indices :func:`batched_nms` keeps, ``merged (K, 4)`` their boxes
        as :func:`merging_nms` merges them, and ``fused (K,)`` their mean scores; rows in
        the order of ``kept`` (by their own score, not the fused one).
    """
    kept, weights = _clusters(boxes_xyxy, scores, groups, iou_threshold)
    merged = _weighted_boxes(weights, boxes_xyxy, kept)
    best = weights.new_zeros(len(kept), num_sources)  # (K, S): each source's best score
    best.scatter_reduce_(1, sources[None, :].expand_as(weights), weights, reduce="amax")
    return kept, merged, best.sum(dim=1) / num_sources


def _clusters(boxes_xyxy: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor,
              iou_threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``kept (K,)`` as :func:`batched_nms` keeps them, and ``weights (K, N)``: box j's
    score in the row of the kept box that removes it (or is it), 0 elsewhere."""
    kept = batched_nms(boxes_xyxy, scores, groups, iou_threshold)
    weights = torch.zeros(len(kept), len(scores), dtype=boxes_xyxy.dtype)  # (K, N)
    if kept.numel() == 0:
        return kept, weights
    rank = torch.empty_like(groups)
    rank[torch.sort(scores, stable=True, descending=True).indices] = torch.arange(
        len(scores))  # the order greedy NMS visits the boxes in
    # (K, N): kept box k would remove box j. Greedy NMS removes j at the first kept box of
    # its group, in rank order, that overlaps it by more than the threshold (the same IoU
    # arithmetic as nms, so that the two agree at the threshold).
    removes = ((groups[kept, None] == groups[None, :]) & (rank[kept, None] < rank[None, :])
               & (_iou_rows(boxes_xyxy[kept], boxes_xyxy) > iou_threshold))
    owner = removes.float().argmax(dim=0)  # (N,) the first such kept box (rows best first)
    owner[kept] = torch.arange(len(kept))
    owned = removes.any(dim=0)
    owned[kept] = True
    weights[owner[owned], owned.nonzero().flatten()] = scores[owned].to(boxes_xyxy.dtype)
    return kept, weights


def _weighted_boxes(weights: torch.Tensor, boxes_xyxy: torch.Tensor,
                    kept: torch.Tensor) -> torch.Tensor:
    """``(K, 4)`` each row's score-weighted mean box (its own box where every score is 0)."""
    if kept.numel() == 0:
        return boxes_xyxy.new_zeros(0, 4)
    total = weights.sum(dim=1, keepdim=True)  # (K, 1)
    return torch.where(total > 0, (weights @ boxes_xyxy) / total.clamp(min=1e-12),
                       boxes_xyxy[kept])


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
