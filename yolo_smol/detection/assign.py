"""Which prediction is responsible for which digit: YOLOv3's target assignment (section 2.1).

Each ground-truth box is assigned to exactly one anchor over all heads, the one whose
*shape* overlaps it most (IoU of shapes on a common centre), and within that anchor's head
to the grid cell that holds the box's centre. That prediction learns the box, objectness
1 and the class; every other prediction learns objectness 0, except those the ignore rule
spares (see :mod:`yolo_smol.detection.loss`).

YOLOv4's variant (``anchor_iou_threshold`` below 1) also assigns a box to every other
anchor whose shape overlaps it by more than the threshold, each at its own head's cell.

Two boxes can land on the same cell and anchor (a *collision*). The rule: the box whose
shape fits the anchor best keeps it, ties going to the box listed first; the other box is
not learned in that step, and the collision is counted.

Kept apart from the loss (as DETR keeps its matcher apart) so that it can be drawn,
tested and replaced on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from yolo_smol.boxes import shape_iou
from yolo_smol.detection.decode import encode_boxes

__all__ = ["Assignment", "assign_targets", "assign_targets_reference"]


@dataclass(frozen=True)
class Assignment:
    """The positives of a batch, one row per assigned box and anchor (P rows), in target
    order (a box given several anchors has a row for each, in anchor order).

    Attributes:
        head, image, anchor, row, col: ``(P,)`` long; where the positive sits:
            ``raw[head][image, anchor, row, col]``.
        offsets: ``(P, 2)`` target ``sigmoid(t_x), sigmoid(t_y)``: the centre inside its cell.
        log_scales: ``(P, 2)`` target ``t_w, t_h`` = ``log(w / p_w), log(h / p_h)``.
        labels: ``(P,)`` long digit of each positive.
        boxes_cxcywh: ``(P, 4)`` the ground-truth box, cxcywh fractions of the image.
        target_index: ``(P,)`` row of each positive in the ``(T, 6)`` target table.
        num_collisions: boxes that lost a cell and anchor to a better-fitting box (counted
            once for each anchor lost).
    """

    head: torch.Tensor
    image: torch.Tensor
    anchor: torch.Tensor
    row: torch.Tensor
    col: torch.Tensor
    offsets: torch.Tensor
    log_scales: torch.Tensor
    labels: torch.Tensor
    boxes_cxcywh: torch.Tensor
    target_index: torch.Tensor
    num_collisions: int

    def __len__(self) -> int:
        return self.head.shape[0]


def assign_targets(targets: torch.Tensor, anchors: torch.Tensor,
                   grid_sizes: list[tuple[int, int]],
                   anchor_iou_threshold: float = 1.0) -> Assignment:
    """Assign every target box to its head, anchor and cell, for a whole batch at once.

    Args:
        targets: ``(T, 6)`` rows ``[image_index, label, cx, cy, w, h]``, box cxcywh fractions.
        anchors: ``(L, A, 2)`` anchor ``(w, h)`` fractions, head 0 the coarsest.
        grid_sizes: ``(S_h, S_w)`` of each head, in the same order.
        anchor_iou_threshold: also assign a box to every other anchor whose shape overlaps
            it by more than this (YOLOv4); 1.0, the default, keeps YOLOv3's one anchor.

    Returns:
        The :class:`Assignment`, collisions resolved (best shape IoU wins, then lower index).
    """
    num_heads, num_anchors, _ = anchors.shape
    # 1) The best anchor over all heads, by IoU of shapes, and any other that fits well.
    source, flat, fit = _anchor_choices(targets, anchors, anchor_iou_threshold)
    candidates = targets[source]  # (P0, 6)
    boxes = candidates[:, 2:6]  # (P0, 4)
    head, anchor = flat // num_anchors, flat % num_anchors
    # 2) Encode each box on its head's grid (a loop over the few heads, not over boxes).
    cells = torch.zeros(len(candidates), 2, dtype=torch.long, device=targets.device)
    offsets = torch.zeros(len(candidates), 2, dtype=boxes.dtype, device=targets.device)
    log_scales = torch.zeros_like(offsets)
    for index, (height, width) in enumerate(grid_sizes):
        in_head = head == index
        cells[in_head], offsets[in_head], log_scales[in_head] = encode_boxes(
            boxes[in_head], anchors[index][anchor[in_head]], height, width)
    # 3) Collisions: one winner per (image, head, anchor, row, col).
    image = candidates[:, 0].long()
    largest = max(max(size) for size in grid_sizes)
    slot = (((image * num_heads + head) * num_anchors + anchor) * largest
            + cells[:, 1]) * largest + cells[:, 0]  # (P0,)
    keep = _winners(slot, fit)
    return Assignment(
        head=head[keep], image=image[keep], anchor=anchor[keep], row=cells[keep, 1],
        col=cells[keep, 0], offsets=offsets[keep], log_scales=log_scales[keep],
        labels=candidates[keep, 1].long(), boxes_cxcywh=boxes[keep],
        target_index=source[keep], num_collisions=int((~keep).sum()))


def _anchor_choices(targets: torch.Tensor, anchors: torch.Tensor, anchor_iou_threshold: float,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each box's best anchor over all heads, and every other whose shape IoU with it
    exceeds ``anchor_iou_threshold``: ``(P0,)`` target row, ``(P0,)`` flat anchor index
    ``head * A + anchor`` and ``(P0,)`` shape IoU, in target order, then anchor order."""
    shape_fit = shape_iou(targets[:, 4:6], anchors.reshape(-1, 2))  # (T, L * A)
    chosen = shape_fit > anchor_iou_threshold
    chosen[torch.arange(len(targets), device=targets.device), shape_fit.argmax(dim=1)] = True
    source, flat = chosen.nonzero(as_tuple=True)
    return source, flat, shape_fit[source, flat]


def _winners(slot: torch.Tensor, fit: torch.Tensor) -> torch.Tensor:
    """``(T,)`` bool: the best-fitting box of each slot, the first one on ties."""
    if slot.numel() == 0:
        return torch.zeros(0, dtype=torch.bool, device=slot.device)
    unique, group = torch.unique(slot, return_inverse=True)  # group: (T,)
    lowest = torch.full((len(unique),), -1.0, dtype=fit.dtype, device=fit.device)
    best_fit = lowest.scatter_reduce(0, group, fit, reduce="amax")
    index = torch.arange(len(slot), device=slot.device)
    contenders = torch.where(fit == best_fit[group], index, len(slot))
    first = torch.full((len(unique),), len(slot), device=slot.device).scatter_reduce(
        0, group, contenders, reduce="amin")
    return index == first[group]


def assign_targets_reference(targets: torch.Tensor, anchors: torch.Tensor,
                             grid_sizes: list[tuple[int, int]],
                             anchor_iou_threshold: float = 1.0) -> Assignment:
    """The same assignment written the way the seed's ``build_targets`` was: one box at a
    time, filling dense per-head target grids.

    Slow and easy to follow: the tests, the benchmark and the loss chapter check
    :func:`assign_targets` against it.
    """
    owner, wanted = _owner_grids(targets, anchors, grid_sizes, anchor_iou_threshold)
    # Read the grids back as a list of positives, in target order (then head, anchor).
    rows = []
    for head, (grid_h, grid_w) in enumerate(grid_sizes):
        for image, anchor, row, col in (owner[head] >= 0).nonzero().tolist():
            index = int(owner[head][image, anchor, row, col])
            box = targets[index, 2:6]
            rows.append((index, head, image, anchor, row, col,
                         [float(box[0] * grid_w - col), float(box[1] * grid_h - row)],
                         torch.log(box[2:].clamp(min=1e-9) / anchors[head, anchor]).tolist(),
                         int(targets[index, 1]), box.tolist()))
    rows.sort(key=lambda entry: (entry[0], entry[1], entry[3]))
    columns = list(zip(*rows, strict=True)) or [()] * 10
    long = {"dtype": torch.long}
    return Assignment(
        head=torch.tensor(columns[1], **long), image=torch.tensor(columns[2], **long),
        anchor=torch.tensor(columns[3], **long), row=torch.tensor(columns[4], **long),
        col=torch.tensor(columns[5], **long),
        offsets=torch.tensor(columns[6], dtype=targets.dtype).view(-1, 2),
        log_scales=torch.tensor(columns[7], dtype=targets.dtype).view(-1, 2),
        labels=torch.tensor(columns[8], **long),
        boxes_cxcywh=torch.tensor(columns[9], dtype=targets.dtype).view(-1, 4),
        target_index=torch.tensor(columns[0], **long),
        num_collisions=wanted - len(rows))


def _owner_grids(targets: torch.Tensor, anchors: torch.Tensor,
                 grid_sizes: list[tuple[int, int]], anchor_iou_threshold: float,
                 ) -> tuple[list[torch.Tensor], int]:
    """Per head, ``(B, A, S_h, S_w)`` long: the target that owns each slot, -1 if none; and
    how many slots the boxes asked for.

    One box at a time: each goes to its best-fitting anchor (over all heads), and to any
    other that fits it by more than ``anchor_iou_threshold``, at the cell holding its
    centre; a slot already taken keeps the better-fitting box (the earlier one on a tie).
    """
    num_anchors = anchors.shape[1]
    batch = int(targets[:, 0].max()) + 1 if len(targets) else 0
    owner = [torch.full((batch, num_anchors, h, w), -1, dtype=torch.long) for h, w in grid_sizes]
    owner_fit = [torch.full((batch, num_anchors, h, w), -1.0) for h, w in grid_sizes]
    wanted = 0
    for index in range(len(targets)):
        image, _, centre_x, centre_y, _, _ = targets[index]
        fits = shape_iou(targets[index, None, 4:6], anchors.reshape(-1, 2))[0]  # (L * A,)
        best = int(fits.argmax())
        for flat in range(len(fits)):
            if flat != best and not fits[flat] > anchor_iou_threshold:
                continue
            wanted += 1
            head, anchor = divmod(flat, num_anchors)
            grid_h, grid_w = grid_sizes[head]
            col = min(max(int(torch.floor(centre_x * grid_w)), 0), grid_w - 1)
            row = min(max(int(torch.floor(centre_y * grid_h)), 0), grid_h - 1)
            slot = (int(image), anchor, row, col)
            if fits[flat] > owner_fit[head][slot]:  # a tie keeps the earlier box
                owner[head][slot] = index
                owner_fit[head][slot] = fits[flat]
    return owner, wanted
