"""Box formats and the conversions between them.

Formats, as everywhere in yolo-smol:
- ``xywh``: left, top, width, height (how SVHN and COCO store boxes);
- ``xyxy``: left, top, right, bottom;
- ``cxcywh``: centre x, centre y, width, height (what YOLO predicts).
Coordinates are in pixels or as fractions of the image; each function says which.
The tests check these against ``torchvision.ops.box_convert`` and ``box_iou``.
"""

from __future__ import annotations

import torch

__all__ = ["xywh_to_xyxy", "xyxy_to_xywh", "xyxy_to_cxcywh", "cxcywh_to_xyxy",
           "clip_xyxy", "pairwise_iou", "shape_iou"]


def xywh_to_xyxy(boxes_xywh: torch.Tensor) -> torch.Tensor:
    """``boxes_xywh (..., 4)`` -> ``(..., 4)`` xyxy, same units."""
    left, top, width, height = boxes_xywh.unbind(-1)
    return torch.stack([left, top, left + width, top + height], dim=-1)


def xyxy_to_xywh(boxes_xyxy: torch.Tensor) -> torch.Tensor:
    """``boxes_xyxy (..., 4)`` -> ``(..., 4)`` xywh, same units."""
    left, top, right, bottom = boxes_xyxy.unbind(-1)
    return torch.stack([left, top, right - left, bottom - top], dim=-1)


def xyxy_to_cxcywh(boxes_xyxy: torch.Tensor) -> torch.Tensor:
    """``boxes_xyxy (..., 4)`` -> ``(..., 4)`` cxcywh, same units."""
    left, top, right, bottom = boxes_xyxy.unbind(-1)
    return torch.stack([(left + right) / 2, (top + bottom) / 2, right - left, bottom - top],
                       dim=-1)


def cxcywh_to_xyxy(boxes_cxcywh: torch.Tensor) -> torch.Tensor:
    """``boxes_cxcywh (..., 4)`` -> ``(..., 4)`` xyxy, same units."""
    centre_x, centre_y, width, height = boxes_cxcywh.unbind(-1)
    return torch.stack([centre_x - width / 2, centre_y - height / 2,
                        centre_x + width / 2, centre_y + height / 2], dim=-1)


def clip_xyxy(boxes_xyxy: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Clip ``boxes_xyxy (..., 4)`` to the image ``[0, width] x [0, height]`` (same units)."""
    upper = boxes_xyxy.new_tensor([width, height, width, height])
    return torch.minimum(boxes_xyxy.clamp(min=0), upper)


def pairwise_iou(boxes1_xyxy: torch.Tensor, boxes2_xyxy: torch.Tensor) -> torch.Tensor:
    """IoU of every box in ``boxes1_xyxy (..., N, 4)`` with every box in ``(..., M, 4)``.

    The same as ``torchvision.ops.box_iou`` for 2-D inputs, but batched over leading
    dimensions, so a whole batch of images is handled in one call. Zero-area pairs give 0.

    Returns:
        ``(..., N, M)`` IoU.
    """
    # Coordinate by coordinate, on (..., N, M) planes, in place where possible: NMS calls
    # this on (B, K, K) tables, and the fewer full-size temporaries, the faster.
    # Contiguous coordinate columns: broadcasting strided views is several times slower.
    left1, top1, right1, bottom1 = (column.contiguous()[..., :, None]  # (..., N, 1)
                                    for column in boxes1_xyxy.unbind(-1))
    left2, top2, right2, bottom2 = (column.contiguous()[..., None, :]  # (..., 1, M)
                                    for column in boxes2_xyxy.unbind(-1))
    inter = torch.minimum(right1, right2).sub_(torch.maximum(left1, left2)).clamp_(min=0)
    inter.mul_(torch.minimum(bottom1, bottom2).sub_(torch.maximum(top1, top2)).clamp_(min=0))
    area1 = (right1 - left1).clamp(min=0) * (bottom1 - top1).clamp(min=0)  # (..., N, 1)
    area2 = (right2 - left2).clamp(min=0) * (bottom2 - top2).clamp(min=0)  # (..., 1, M)
    union = (area1 + area2).sub_(inter)  # (..., N, M)
    # Zero-area pairs (union 0) have inter 0 too, so they come out as 0 / 1e-12 = 0.
    return inter.div_(union.clamp_(min=1e-12))


def shape_iou(boxes_wh: torch.Tensor, anchors_wh: torch.Tensor) -> torch.Tensor:
    """IoU of box shapes aligned at a common centre.

    Args:
        boxes_wh: ``(N, 2)`` widths and heights (any one unit).
        anchors_wh: ``(K, 2)`` in the same unit.

    Returns:
        ``(N, K)`` IoU; equal to ``torchvision.ops.box_iou`` of the boxes centred at 0.
    """
    inter = torch.minimum(boxes_wh[:, None, :], anchors_wh[None, :, :]).prod(-1)  # (N, K)
    areas = boxes_wh.prod(-1)[:, None] + anchors_wh.prod(-1)[None, :]  # (N, K)
    return inter / (areas - inter)
