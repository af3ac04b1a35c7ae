"""From a head's raw output to boxes: the inverse of the target encoding (paper, section 2.1).

For the cell in column ``col`` and row ``row`` of an ``S x S`` grid, and an anchor of shape
``(p_w, p_h)``:

    b_x = (sigmoid(t_x) + col) / S        b_w = p_w * exp(t_w)
    b_y = (sigmoid(t_y) + row) / S        b_h = p_h * exp(t_h)

with every quantity a fraction of the image (multiply by the image size for pixels; the
paper's ``(sigmoid(t_x) + c_x) * stride`` is the same thing in pixels).
"""

from __future__ import annotations

import torch

__all__ = ["MAX_LOG_SCALE", "cell_grid", "decode_at", "decode_boxes", "encode_boxes"]

# exp(t_w) is clamped at e^4 ~ 55 times the anchor: no box is that much larger than its
# anchor, and an untrained head's extreme logits must not overflow to inf.
MAX_LOG_SCALE = 4.0


def cell_grid(height: int, width: int, device: torch.device | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cols, rows)``, each ``(S_h, S_w)``: the column and row index of every cell."""
    rows, cols = torch.meshgrid(torch.arange(height, device=device),
                                torch.arange(width, device=device), indexing="ij")
    return cols, rows


def decode_at(raw_xywh: torch.Tensor, anchors_wh: torch.Tensor, cols: torch.Tensor,
              rows: torch.Tensor, grid_height: int, grid_width: int) -> torch.Tensor:
    """The paper's decoding for predictions at known cells (any matching shapes ``...``).

    Args:
        raw_xywh: ``(..., 4)`` raw ``t_x, t_y, t_w, t_h``.
        anchors_wh: ``(..., 2)`` each prediction's anchor, fractions of the image.
        cols, rows: ``(...)`` the cell of each prediction.

    Returns:
        ``(..., 4)`` boxes, cxcywh as fractions of the image.
    """
    centre_x = (torch.sigmoid(raw_xywh[..., 0]) + cols) / grid_width
    centre_y = (torch.sigmoid(raw_xywh[..., 1]) + rows) / grid_height
    size = torch.exp(raw_xywh[..., 2:4].clamp(max=MAX_LOG_SCALE)) * anchors_wh
    return torch.cat([centre_x[..., None], centre_y[..., None], size], dim=-1)


def decode_boxes(raw: torch.Tensor, anchors_wh: torch.Tensor) -> torch.Tensor:
    """Boxes of every prediction of one head.

    Args:
        raw: ``(B, A, S_h, S_w, 5 + C)`` raw head output (only ``[..., :4]`` is read).
        anchors_wh: ``(A, 2)`` anchor ``(w, h)`` as fractions of the image.

    Returns:
        ``(B, A, S_h, S_w, 4)`` boxes, cxcywh as fractions of the image.
    """
    _, _, height, width, _ = raw.shape
    cols, rows = cell_grid(height, width, raw.device)  # (S_h, S_w) each, broadcast over B, A
    anchors = anchors_wh.to(raw.dtype)[None, :, None, None, :]  # (1, A, 1, 1, 2)
    return decode_at(raw[..., :4], anchors, cols, rows, height, width)


def encode_boxes(boxes_cxcywh: torch.Tensor, anchors_wh: torch.Tensor, grid_height: int,
                 grid_width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The targets a head should predict for boxes, given the anchor of each box.

    Args:
        boxes_cxcywh: ``(T, 4)`` cxcywh fractions of the image.
        anchors_wh: ``(T, 2)`` the anchor each box is matched to, fractions of the image.

    Returns:
        ``cells (T, 2)`` as ``(col, row)`` of the cell holding each centre, ``offsets (T, 2)``
        the centre's position inside that cell in ``[0, 1)`` (what ``sigmoid(t_x, t_y)``
        should be), and ``log_scales (T, 2)`` = ``log(w / p_w), log(h / p_h)`` (what
        ``t_w, t_h`` should be).
    """
    grid = boxes_cxcywh.new_tensor([grid_width, grid_height])
    scaled = boxes_cxcywh[:, :2] * grid  # centres in grid cells
    # A centre on the image's far edge belongs to the last cell, not to one outside.
    cells = scaled.floor().clamp(min=0).minimum(grid - 1)
    offsets = scaled - cells
    log_scales = torch.log(boxes_cxcywh[:, 2:].clamp(min=1e-9) / anchors_wh)
    return cells.long(), offsets, log_scales
