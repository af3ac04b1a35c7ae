"""Which prediction is responsible for which digit: YOLOv3's target assignment (section 2.1).

Each ground-truth box is assigned to exactly one anchor over all heads, the one whose
*shape* overlaps it most (IoU of shapes on a common centre), and within that anchor's head
to the grid cell that holds the box's centre. That prediction learns the box, objectness
1 and the class; every other prediction learns objectness 0, except those the ignore rule
spares (see :mod:`yolo_smol.detection.loss`).

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
    """The positives of a batch, one row per assigned box (P rows), in target order.

    Attributes:
        head, image, anchor, row, col: ``(P,)`` long; where the positive sits:
            ``raw[head][image, anchor, row, col]``.
        offsets: ``(P, 2)`` target ``sigmoid(t_x), sigmoid(t_y)``: the centre inside its cell.
        log_scales: ``(P, 2)`` target ``t_w, t_h`` = ``log(w / p_w), log(h / p_h)``.
        labels: ``(P,)`` long digit of each positive.
        boxes_cxcywh: ``(P, 4)`` the ground-truth box, cxcywh fractions of the image.
        target_index: ``(P,)`` row of each positive in the ``(T, 6)`` target table.
        num_collisions: boxes that lost their cell and anchor to a better-fitting box.
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
                   grid_sizes: list[tuple[int, int]]) -> Assignment:
    """Assign every target box to one head, anchor and cell, for a whole batch at once.

    Args:
        targets: ``(T, 6)`` rows ``[image_index, label, cx, cy, w, h]``, box cxcywh fractions.
        anchors: ``(L, A, 2)`` anchor ``(w, h)`` fractions, head 0 the coarsest.
        grid_sizes: ``(S_h, S_w)`` of each head, in the same order.

    Returns:
        The :class:`Assignment`, collisions resolved (best shape IoU wins, then lower index).
    """
    num_heads, num_anchors, _ = anchors.shape
    boxes = targets[:, 2:6]  # (T, 4)
    # 1) The best anchor over all heads, by IoU of shapes.
    shape_fit = shape_iou(boxes[:, 2:], anchors.reshape(-1, 2))  # (T, L * A)
    best_fit, best = shape_fit.max(dim=1)  # (T,)
    head, anchor = best // num_anchors, best % num_anchors
    # 2) Encode each box on its head's grid (a loop over the few heads, not over boxes).
    cells = torch.zeros(len(targets), 2, dtype=torch.long, device=targets.device)
    offsets = torch.zeros(len(targets), 2, dtype=boxes.dtype, device=targets.device)
    log_scales = torch.zeros_like(offsets)
    for index, (height, width) in enumerate(grid_sizes):
        in_head = head == index
        cells[in_head], offsets[in_head], log_scales[in_head] = encode_boxes(
            boxes[in_head], anchors[index][anchor[in_head]], height, width)
    # 3) Collisions: one winner per (image, head, anchor, row, col).
    image = targets[:, 0].long()
    largest = max(max(size) for size in grid_sizes)
    slot = (((image * num_heads + head) * num_anchors + anchor) * largest
            + cells[:, 1]) * largest + cells[:, 0]  # (T,)
    keep = _winners(slot, best_fit)
    return Assignment(
        head=head[keep], image=image[keep], anchor=anchor[keep], row=cells[keep, 1],
        col=cells[keep, 0], offsets=offsets[keep], log_scales=log_scales[keep],
        labels=targets[keep, 1].long(), boxes_cxcywh=boxes[keep],
        target_index=keep.nonzero().flatten(), num_collisions=int((~keep).sum()))


def _winners(slot: torch.Tensor, fit: torch.Tensor) -> torch.Tensor:
    """``(T,)`` bool: the best-fitting box of each slot, the first one on ties."""
    if slot.numel() == 0:
        return torch.zeros(0, dtype=torch.bool, device=slot.device)
    unique, group = torch.unique(slot, return_inverse=True)  # group: (T,)
    best_fit = torch.full((len(unique),), -1.0, device=fit.device).scatter_reduce(
        0, group, fit, reduce="amax")
    index = torch.arange(len(slot), device=slot.device)
    contenders = torch.where(fit == best_fit[group], index, len(slot))
    first = torch.full((len(unique),), len(slot), device=slot.device).scatter_reduce(
        0, group, contenders, reduce="amin")
    return index == first[group]


def assign_targets_reference(targets: torch.Tensor, anchors: torch.Tensor,
                             grid_sizes: list[tuple[int, int]]) -> Assignment:
    """The same assignment written the way the seed's ``build_targets`` was: one box at a
    time, filling dense per-head target grids.

    Slow and easy to follow: the tests, the benchmark and the loss chapter check
    :func:`assign_targets` against it.
    """
    owner = _owner_grids(targets, anchors, grid_sizes)
    # Read the grids back as a list of positives, in target order.
    rows = []
    for head, (grid_h, grid_w) in enumerate(grid_sizes):
        for image, anchor, row, col in (owner[head] >= 0).nonzero().tolist():
            index = int(owner[head][image, anchor, row, col])
            box = targets[index, 2:6]
            rows.append((index, head, image, anchor, row, col,
                         [float(box[0] * grid_w - col), float(box[1] * grid_h - row)],
                         torch.log(box[2:].clamp(min=1e-9) / anchors[head, anchor]).tolist(),
                         int(targets[index, 1]), box.tolist()))
    rows.sort(key=lambda entry: entry[0])
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
        num_collisions=len(targets) - len(rows))


def _owner_grids(targets: torch.Tensor, anchors: torch.Tensor,
                 grid_sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """Per head, ``(B, A, S_h, S_w)`` long: the target that owns each slot, -1 if none.

    One box at a time: each goes to its best-fitting anchor (over all heads) at the cell
    holding its centre, and a slot already taken keeps the better-fitting box (the earlier
    one on a tie).
    """
    num_anchors = anchors.shape[1]
    batch = int(targets[:, 0].max()) + 1 if len(targets) else 0
    owner = [torch.full((batch, num_anchors, h, w), -1, dtype=torch.long) for h, w in grid_sizes]
    owner_fit = [torch.full((batch, num_anchors, h, w), -1.0) for h, w in grid_sizes]
    for index in range(len(targets)):
        image, _, centre_x, centre_y, _, _ = targets[index]
        fits = shape_iou(targets[index, None, 4:6], anchors.reshape(-1, 2))[0]  # (L * A,)
        best = int(fits.argmax())
        head, anchor = divmod(best, num_anchors)
        grid_h, grid_w = grid_sizes[head]
        col = min(max(int(torch.floor(centre_x * grid_w)), 0), grid_w - 1)
        row = min(max(int(torch.floor(centre_y * grid_h)), 0), grid_h - 1)
        slot = (int(image), anchor, row, col)
        if fits[best] > owner_fit[head][slot]:  # a tie keeps the earlier box
            owner[head][slot] = index
            owner_fit[head][slot] = fits[best]
    return owner
