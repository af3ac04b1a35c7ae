"""Anchor boxes: k-means over box shapes with the distance ``1 - IoU`` (YOLOv2 section 2).

Anchors are shapes only, ``(w, h)`` as fractions of the image. Two shapes are compared
as if they shared a centre, so their IoU measures how well one box shape could stand in
for the other, whatever the size: Euclidean distance on ``(w, h)`` would let large boxes
dominate the clusters, which is the point the chapter measures.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch

from yolo_smol.boxes import shape_iou
from yolo_smol.config import ModelConfig
from yolo_smol.data.prepare import boxes_to_fractions
from yolo_smol.data.schema import read_image_size
from yolo_smol.errors import YoloSmolError

# shape_iou lives with the other box functions; it is named here too, where the chapter
# introduces it.
__all__ = ["AnchorError", "AnchorResult", "shape_iou", "anchor_fitness", "kmeans_plus_plus",
           "anchor_candidates", "best_anchor", "kmeans_step", "kmeans_anchors",
           "split_anchors", "refit_config", "box_shapes", "read_box_csv"]


class AnchorError(YoloSmolError):
    """Box shapes or settings from which no anchors can be found; says what to change."""


@dataclass(frozen=True)
class AnchorResult:
    """The outcome of :func:`kmeans_anchors`.

    Attributes:
        anchors: ``(K, 2)`` shapes ``(w, h)`` as fractions of the image, largest area first.
        mean_iou: mean over boxes of the IoU with their best anchor.
        recall: share of boxes whose best anchor has IoU above ``recall_threshold``
            (the *best possible recall*: no box below it can be assigned well).
        history: mean IoU after each iteration of the winning restart (never decreasing).
        assignment: ``(N,)`` index of each box's best anchor (in ``anchors`` order).
    """

    anchors: torch.Tensor
    mean_iou: float
    recall: float
    history: tuple[float, ...]
    assignment: torch.Tensor
    recall_threshold: float = 0.5


def anchor_fitness(boxes_wh: torch.Tensor, anchors_wh: torch.Tensor,
                   recall_threshold: float = 0.5) -> tuple[float, float]:
    """``(mean best IoU, best possible recall)`` of ``anchors_wh (K, 2)`` on ``boxes_wh (N, 2)``."""
    best = shape_iou(boxes_wh, anchors_wh).max(dim=1).values  # (N,)
    return float(best.mean()), float((best > recall_threshold).float().mean())


def kmeans_plus_plus(boxes_wh: torch.Tensor, k: int, generator: torch.Generator,
                     ) -> torch.Tensor:
    """k-means++ seeding under ``1 - IoU``: each next centre is drawn with probability
    proportional to its squared distance from the centres chosen so far. ``(K, 2)``."""
    count = boxes_wh.shape[0]
    first = int(torch.randint(count, (1,), generator=generator))
    centres = [boxes_wh[first]]
    for _ in range(1, k):
        distance = 1 - shape_iou(boxes_wh, torch.stack(centres)).max(dim=1).values  # (N,)
        weights = distance.square()
        if weights.sum() <= 0:  # every box already coincides with a centre
            weights = torch.ones(count)
        centres.append(boxes_wh[int(torch.multinomial(weights, 1, generator=generator))])
    return torch.stack(centres)


def anchor_candidates(members_wh: torch.Tensor) -> torch.Tensor:
    """Shapes worth trying as the anchor of a cluster ``members_wh (n, 2)``: ``(83, 2)``.

    The mean, the median, and every pairing of nine quantiles of the widths with nine of
    the heights, each quantile an actual member's value (so a cluster of up to nine boxes
    tries every pairing of its own widths and heights). Under IoU the best anchor tends to
    sit at members' widths and heights rather than at their mean.
    """
    levels = torch.linspace(0, 1, 9)
    widths = torch.quantile(members_wh[:, 0], levels, interpolation="nearest")  # (9,)
    heights = torch.quantile(members_wh[:, 1], levels, interpolation="nearest")  # (9,)
    grid = torch.cartesian_prod(widths, heights)  # (81, 2)
    return torch.cat([members_wh.mean(0, keepdim=True),
                      members_wh.median(0).values[None], grid])


def best_anchor(members_wh: torch.Tensor, current: torch.Tensor | None = None,
                ) -> torch.Tensor:
    """The candidate (and ``current``, if given) with the highest total IoU with ``members_wh``."""
    candidates = anchor_candidates(members_wh)
    if current is not None:
        candidates = torch.cat([current[None], candidates])
    return candidates[shape_iou(members_wh, candidates).sum(0).argmax()]


def kmeans_step(boxes_wh: torch.Tensor, centres: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One assignment and one update; returns ``(centres (K, 2), assignment (N,), mean IoU)``.

    The update moves each centre to the :func:`best_anchor` of its members, keeping the
    current centre when nothing beats it. Plain means (YOLOv2's choice) can *lower* the
    mean IoU, since a mean minimises squared Euclidean distance, not ``1 - IoU``; an update
    that never picks a worse centre cannot, so the loop cannot oscillate. An empty cluster
    moves to the box that fits its anchor worst.
    """
    iou = shape_iou(boxes_wh, centres)  # (N, K)
    best_iou, assignment = iou.max(dim=1)
    updated = centres.clone()
    for cluster in range(centres.shape[0]):
        members = boxes_wh[assignment == cluster]  # (n, 2)
        if members.shape[0] == 0:
            updated[cluster] = boxes_wh[best_iou.argmin()]
        else:
            updated[cluster] = best_anchor(members, centres[cluster])
    new_iou = shape_iou(boxes_wh, updated).max(dim=1).values.mean()
    return updated, assignment, float(new_iou)


def kmeans_anchors(boxes_wh: torch.Tensor, k: int, restarts: int = 10, max_iter: int = 300,
                   seed: int = 0, recall_threshold: float = 0.5) -> AnchorResult:
    """Cluster box shapes into ``k`` anchors with k-means under ``1 - IoU``.

    Args:
        boxes_wh: ``(N, 2)`` box widths and heights as fractions of the image.
        k: number of anchors.
        restarts: independent k-means++ seedings; the best mean IoU is kept.
        seed: seeds the generator, so the same call gives the same anchors.

    Raises:
        AnchorError: no boxes, or fewer distinct box shapes than ``k``.
    """
    boxes_wh = _check_boxes(boxes_wh)
    distinct = torch.unique(boxes_wh, dim=0).shape[0]
    if k < 1 or k > distinct:
        raise AnchorError(f"k={k} anchors need at least {k} distinct box shapes, and there "
                          f"are {distinct}; use a k from 1 to {distinct} or more boxes")
    generator = torch.Generator().manual_seed(seed)
    best: tuple[float, torch.Tensor, list[float]] | None = None
    for _ in range(max(1, restarts)):
        centres = kmeans_plus_plus(boxes_wh, k, generator)
        history = [anchor_fitness(boxes_wh, centres)[0]]
        for _ in range(max_iter):
            centres, _, mean_iou = kmeans_step(boxes_wh, centres)
            converged = mean_iou - history[-1] < 1e-9
            history.append(mean_iou)
            if converged:
                break
        if best is None or history[-1] > best[0]:
            best = (history[-1], centres, history)
    _, centres, history = best
    anchors = centres[centres.prod(-1).argsort(descending=True)]  # largest area first
    mean_iou, recall = anchor_fitness(boxes_wh, anchors, recall_threshold)
    assignment = shape_iou(boxes_wh, anchors).argmax(dim=1)
    return AnchorResult(anchors=anchors, mean_iou=mean_iou, recall=recall,
                        history=tuple(history), assignment=assignment,
                        recall_threshold=recall_threshold)


def split_anchors(anchors_wh: torch.Tensor, num_heads: int,
                  ) -> list[list[tuple[float, float]]]:
    """Share ``anchors_wh (K, 2)`` among heads: the largest go to the coarsest grid.

    Returns ``[head][anchor] = (w, h)``, coarsest head first, as ``configs/*.json`` expects.
    """
    if anchors_wh.shape[0] % num_heads:
        raise AnchorError(f"{anchors_wh.shape[0]} anchors cannot be shared equally among "
                          f"{num_heads} heads; use a k that is a multiple of {num_heads}")
    ordered = anchors_wh[anchors_wh.prod(-1).argsort(descending=True)]
    per_head = anchors_wh.shape[0] // num_heads
    return [[(round(float(w), 4), round(float(h), 4)) for w, h in ordered[i:i + per_head]]
            for i in range(0, anchors_wh.shape[0], per_head)]


def refit_config(config: ModelConfig, anchors_wh: torch.Tensor) -> ModelConfig:
    """A copy of ``config`` with ``anchors_wh (K, 2)`` shared among its heads, largest first.

    Raises:
        AnchorError: K is not the config's number of anchors, saying which k to use.
    """
    if anchors_wh.shape[0] != len(config.anchors):
        raise AnchorError(
            f"the config has {len(config.anchors)} anchors ({config.num_anchors_per_scale} "
            f"per head x {config.num_detection_layers} heads), so use --k "
            f"{len(config.anchors)}")
    per_head = split_anchors(anchors_wh, config.num_detection_layers)
    return config.replace(anchors=[list(anchor) for head in per_head for anchor in head])


def box_shapes(dataset: datasets.Dataset) -> torch.Tensor:
    """``(N, 2)`` every box's ``(w, h)`` as fractions of its image, clipped as for training.

    Only image headers are read; boxes are clipped to their image and empty ones dropped,
    as :func:`yolo_smol.data.prepare.prepare` does.
    """
    raw = dataset.cast_column("image", datasets.Image(decode=False))
    shapes = []
    for row, (image, digits) in enumerate(zip(raw["image"], raw["digits"], strict=True)):
        width, height = read_image_size(image)
        # A large image_size keeps every box that has any area: only clipping applies here.
        boxes, _, _, _ = boxes_to_fractions(digits["bbox"], digits["label"], row, width,
                                            height, image_size=10**9)
        shapes.extend(box[2:] for box in boxes)
    return torch.tensor(shapes, dtype=torch.float32).view(-1, 2)


def read_box_csv(path: str | Path) -> torch.Tensor:
    """``(N, 2)`` box shapes from a CSV file of ``w,h`` rows (fractions of the image).

    A first row ``w,h`` (any header without numbers) is skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise AnchorError(f"{path}: no such file; give a CSV file of w,h rows")
    shapes = []
    with path.open(newline="") as file:
        for line_number, row in enumerate(csv.reader(file), start=1):
            if not row or not "".join(row).strip():
                continue
            try:
                values = [float(cell) for cell in row]
            except ValueError:
                if line_number == 1 and shapes == []:
                    continue  # a header
                raise AnchorError(f"{path}, line {line_number}: {','.join(row)!r} is not two "
                                  "numbers w,h") from None
            if len(values) != 2:
                raise AnchorError(f"{path}, line {line_number}: expected 2 values w,h, "
                                  f"found {len(values)}")
            shapes.append(values)
    if not shapes:
        raise AnchorError(f"{path}: no w,h rows; the file is empty")
    try:
        return _check_boxes(torch.tensor(shapes, dtype=torch.float32))
    except AnchorError as error:
        raise AnchorError(f"{path}: {error}") from None


def _check_boxes(boxes_wh: torch.Tensor) -> torch.Tensor:
    if boxes_wh.dim() != 2 or boxes_wh.shape[1] != 2:
        raise AnchorError(f"box shapes must be (N, 2) widths and heights, got "
                          f"{tuple(boxes_wh.shape)}")
    if boxes_wh.shape[0] == 0:
        raise AnchorError("there are no boxes to cluster")
    bad = ~((boxes_wh > 0) & (boxes_wh <= 1)).all(dim=1)
    if bad.any():
        index = int(bad.nonzero()[0])
        raise AnchorError(f"box {index} has shape {boxes_wh[index].tolist()}: widths and heights "
                          f"must be fractions of the image in (0, 1] ({int(bad.sum())} such "
                          "boxes); divide pixel sizes by the image size")
    return boxes_wh.float()
