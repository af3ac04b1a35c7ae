"""Rows grouped by image: each row's rank within its image, and tables padded per image.

Detections, true boxes and targets are kept as flat rows, one per box, with the image of
each row, rows of one image next to each other. Batched work (NMS for a whole batch, the
ignore rule, COCO matching) needs them as a table ``(B, K_max, ...)``, one line per image,
padded to the busiest image. These two functions are the only place that conversion is
written; they take PyTorch tensors or NumPy arrays and return the same kind.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["rank_in_group", "pad_by_group", "order_within_groups"]


def rank_in_group(group: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Position of each row within its group, for rows already grouped (equal ids adjacent).

    Args:
        group: ``(R,)`` integer group id of each row, e.g. its image.

    Returns:
        ``(R,)`` int64: 0 for the first row of a group, 1 for the next, ...
    """
    rows = torch.as_tensor(group)
    position = torch.arange(len(rows), device=rows.device)
    starts = torch.ones(len(rows), dtype=torch.bool, device=rows.device)
    starts[1:] = rows[1:] != rows[:-1]  # a new group begins where the id changes
    # The first row of each row's group: the latest start at or before it (a running max).
    first = torch.cummax(torch.where(starts, position, 0), dim=0).values if len(rows) else (
        position)
    rank = position - first
    return rank.numpy() if isinstance(group, np.ndarray) else rank


def pad_by_group(values: torch.Tensor, group: torch.Tensor, num_groups: int,
                 fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``values (R, ...)`` laid out as a table ``(num_groups, K_max, ...)``.

    Args:
        values: one row per item, rows grouped by ``group``.
        group: ``(R,)`` long, the group (image) of each row, in ``[0, num_groups)``.
        fill: the value of padding cells.

    Returns:
        ``table (num_groups, K_max, ...)``, ``valid (num_groups, K_max)`` bool (False on
        padding) and ``rank (R,)``, where row ``r`` went: ``table[group[r], rank[r]]``.
        ``K_max`` is at least 1, so that an empty table still has a column.
    """
    if num_groups == 1:
        # One group (one image, as when a single photo is read) is already a table: the
        # rows in order, no scatter. About 15 fewer small operations, each costing
        # microseconds that add up when a photo's whole reading takes a few milliseconds.
        count = values.shape[0]
        table = values[None] if count else torch.full((1, 1, *values.shape[1:]), fill,
                                                      dtype=values.dtype, device=values.device)
        return (table, torch.full((1, max(count, 1)), count > 0, device=values.device),
                torch.arange(count, device=values.device))
    rank = rank_in_group(group)
    width = max(int(rank.max()) + 1 if len(rank) else 0, 1)
    table = torch.full((num_groups, width, *values.shape[1:]), fill, dtype=values.dtype,
                       device=values.device)
    valid = torch.zeros(num_groups, width, dtype=torch.bool, device=values.device)
    table[group, rank] = values
    valid[group, rank] = True
    return table, valid, rank


def order_within_groups(key: torch.Tensor, group: torch.Tensor,
                        descending: bool = False) -> torch.Tensor:
    """``(R,)`` indices that lay rows out grouped by ``group`` (ascending), each group's
    rows by ``key`` (ties in the order the rows came): a stable sort by key, then a stable
    sort by group.

    Args:
        key: ``(R,)`` what orders the rows within a group (a box's centre, a score).
        group: ``(R,)`` integer group id of each row, e.g. its image.
    """
    order = torch.sort(key, descending=descending, stable=True).indices
    return order[torch.sort(group[order], stable=True).indices]
