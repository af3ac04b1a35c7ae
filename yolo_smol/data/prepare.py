"""From a Dataset in the SVHN schema to batches of tensors, resizing every image only once.

Decoding and resizing an image costs far more than a training step of this small model,
so :func:`prepare` does it once, up front, in a batched ``Dataset.map`` over several
processes, and keeps the result as one uint8 tensor. Epochs then only index into it.

Boxes on the way in are SVHN's ``[left, top, width, height]`` in pixels (xywh); on the way
out they are ``cxcywh`` as fractions of the image, which survives the resize unchanged.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from yolo_smol.config import input_size
from yolo_smol.errors import YoloSmolError
from yolo_smol.grouped import rank_in_group

if TYPE_CHECKING:  # datasets is imported where it is used: reading a photo never needs it
    import datasets

__all__ = ["DataError", "PreparedData", "prepare", "squash", "collate", "iterate_batches",
           "boxes_to_fractions", "boxes_note", "require_boxes"]

logger = logging.getLogger("yolo_smol")
MIN_BOX_PX = 1.0  # boxes narrower or shorter than this after resizing are dropped


class DataError(YoloSmolError):
    """A row of a dataset that cannot be used; the message names the row and the problem."""


@dataclass(frozen=True)
class PreparedData(torch.utils.data.Dataset):
    """Resized images and their boxes, ready to batch.

    Attributes:
        images: ``(N, 3, H, W)`` uint8, squashed to the model input (``H = W = S`` for a
            square one).
        boxes_cxcywh: ``(T, 4)`` float32, cxcywh as fractions of the image, all images'
            boxes one after another.
        labels: ``(T,)`` int64 digits.
        offsets: ``(N + 1,)`` int64; image ``i``'s boxes are rows ``offsets[i]:offsets[i+1]``.
        num_clipped: boxes that reached outside their image and were clipped to it (and
            kept).
        num_dropped: boxes smaller than one pixel after resizing (or empty, or wholly
            outside their image), dropped.
    """

    images: torch.Tensor
    boxes_cxcywh: torch.Tensor
    labels: torch.Tensor
    offsets: torch.Tensor
    num_clipped: int = 0
    num_dropped: int = 0

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(image (3, S, S) uint8, boxes (M, 4) cxcywh fractions, labels (M,))``."""
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.images[index], self.boxes_cxcywh[start:end], self.labels[start:end]

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same as ``collate([self[i] for i in indices])``, without a Python loop.

        Returns:
            ``images (B, 3, S, S)`` uint8 and ``targets (T, 6)`` float32 rows of
            ``[image_index, label, cx, cy, w, h]`` (image_index within the batch).
        """
        starts, ends = self.offsets[indices], self.offsets[indices + 1]
        batch_index = torch.repeat_interleave(torch.arange(len(indices)), ends - starts)  # (T,)
        # Row of each target box: its image's start plus its position within the image.
        rows = starts[batch_index] + rank_in_group(batch_index)
        targets = torch.cat([batch_index[:, None].float(), self.labels[rows, None].float(),
                             self.boxes_cxcywh[rows]], dim=1)  # (T, 6)
        return self.images[indices], targets


def collate(samples: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """``[(image, boxes, labels), ...]`` -> ``images (B, 3, S, S)``, ``targets (T, 6)``.

    Each target row is ``[image_index, label, cx, cy, w, h]``, box in cxcywh fractions.
    """
    images = torch.stack([image for image, _, _ in samples])
    targets = [torch.cat([torch.full((len(labels), 1), float(index)),
                          labels[:, None].float(), boxes], dim=1)
               for index, (_, boxes, labels) in enumerate(samples)]
    return images, torch.cat(targets) if targets else torch.zeros(0, 6)


def iterate_batches(data: PreparedData, batch_size: int, shuffle: bool = True,
                    generator: torch.Generator | None = None, drop_last: bool = False,
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images (B, 3, S, S) uint8, targets (T, 6))`` batches over ``data``."""
    order = torch.randperm(len(data), generator=generator) if shuffle else torch.arange(
        len(data))
    stop = len(data) - batch_size + 1 if drop_last else len(data)
    for start in range(0, max(stop, 0), batch_size):
        yield data.batch(order[start:start + batch_size])


# ---------------------------------------------------------------------------------------
# Preparing: decode, check, clip, resize, once.
# ---------------------------------------------------------------------------------------

def _decode(image: dict, row: int) -> Image.Image:
    try:
        if image.get("bytes") is not None:
            decoded = Image.open(io.BytesIO(image["bytes"]))
        else:
            decoded = Image.open(image["path"])
        return decoded.convert("RGB")
    except UnidentifiedImageError:
        reason = "not in any image format Pillow knows"
    except (OSError, ValueError, TypeError) as error:
        reason = str(error)
    source = image.get("path") or "embedded bytes"
    raise DataError(f"row {row}: the image ({source}) cannot be decoded: {reason}. "
                    "Remove the row or replace the image.")


def boxes_to_fractions(bboxes: list, labels: list, row: int, width: int, height: int,
                       image_size: int | tuple[int, int],
                       ) -> tuple[list[list[float]], list[int], int, int]:
    """Check, clip and convert one row's boxes: xywh pixels -> cxcywh fractions.

    ``image_size`` is the model input's (a side, or ``(width, height)``), for the check that
    a box keeps at least a pixel. Returns the kept boxes, their labels, and how many were
    clipped and dropped.
    """
    input_width, input_height = input_size(image_size)
    if len(bboxes) != len(labels):
        raise DataError(f"row {row}: {len(bboxes)} boxes but {len(labels)} labels")
    boxes, kept_labels, clipped, dropped = [], [], 0, 0
    for number, (bbox, label) in enumerate(zip(bboxes, labels, strict=True)):
        if not 0 <= label <= 9:
            raise DataError(f"row {row}, box {number}: label {label} is outside 0 to 9")
        left, top, box_w, box_h = (float(v) for v in bbox)
        if box_w < 0 or box_h < 0:
            raise DataError(f"row {row}, box {number}: {list(bbox)} has a negative size; "
                            "boxes are [left, top, width, height] in pixels")
        x0, y0 = min(max(left, 0.0), width), min(max(top, 0.0), height)
        x1, y1 = min(max(left + box_w, 0.0), width), min(max(top + box_h, 0.0), height)
        if (x1 - x0) * input_width / width < MIN_BOX_PX or (
                y1 - y0) * input_height / height < MIN_BOX_PX:
            dropped += 1  # a box wholly outside its image is clipped to nothing: dropped
            continue
        clipped += (x0, y0, x1, y1) != (left, top, left + box_w, top + box_h)
        boxes.append([(x0 + x1) / 2 / width, (y0 + y1) / 2 / height,
                      (x1 - x0) / width, (y1 - y0) / height])
        kept_labels.append(int(label))
    return boxes, kept_labels, clipped, dropped


def squash(image: Image.Image, image_size: int | tuple[int, int]) -> Image.Image:
    """``image`` resized to the model input (``S x S``, or ``(width, height)``) with LANCZOS.

    Squashed, as the seed does: no padding to learn around, every pixel is image; the cost
    is that box shapes change with the image's aspect (see chapter 1), less so for a wide
    input. Training images and photos read by ``yolo-smol detect`` both go through this.
    """
    return image.resize(input_size(image_size), Image.LANCZOS)


def _prepare_rows(batch: dict, indices: list[int], image_size: int) -> dict:
    out: dict[str, list] = {"pixels": [], "boxes": [], "labels": [], "clipped": [],
                            "dropped": []}
    for image, digits, row in zip(batch["image"], batch["digits"], indices, strict=True):
        decoded = _decode(image, row)
        boxes, labels, clipped, dropped = boxes_to_fractions(
            digits["bbox"], digits["label"], row, decoded.width, decoded.height, image_size)
        out["pixels"].append(squash(decoded, image_size).tobytes())
        out["boxes"].append(boxes)
        out["labels"].append(labels)
        out["clipped"].append(clipped)
        out["dropped"].append(dropped)
    return out


def prepare(dataset: datasets.Dataset, image_size: int | tuple[int, int],
            num_proc: int | None = None) -> PreparedData:
    """Decode, check and resize every image of ``dataset`` once.

    Boxes reaching outside their image are clipped to it; boxes smaller than one pixel after
    resizing are dropped; both are counted and reported once (``num_clipped``,
    ``num_dropped``). Images without digits are kept.

    Args:
        dataset: rows in the SVHN ``full_numbers`` schema.
        image_size: S, the side of the square model input in pixels, or its
            ``(width, height)`` (``ModelConfig.image_size`` either way).
        num_proc: processes for ``Dataset.map``; by default up to 4 for large sets.

    Raises:
        DataError: a corrupt image, a box of negative size or a label outside 0 to 9,
            naming the row.
    """
    if num_proc is None:
        num_proc = min(4, os.cpu_count() or 1) if len(dataset) >= 4000 else None
    # Decode ourselves, so that a corrupt image is reported with its row number.
    import datasets  # here, not at the top: reading photos needs squash, not datasets

    raw = dataset.cast_column("image", datasets.Image(decode=False))
    # A DataError raised in a worker process reaches us as itself (it pickles).
    mapped = raw.map(_prepare_rows, batched=True, batch_size=256, with_indices=True,
                     fn_kwargs={"image_size": image_size}, num_proc=num_proc,
                     remove_columns=raw.column_names, desc="resizing images once",
                     keep_in_memory=not _cache_writable(dataset))
    return _to_tensors(mapped, image_size)


def _cache_writable(dataset: datasets.Dataset) -> bool:
    """Whether ``map`` may write its cache file beside the dataset's files: not for a
    dataset read from a read-only folder (a shared or mounted cache)."""
    folders = {os.path.dirname(entry["filename"]) for entry in dataset.cache_files}
    return all(os.access(folder, os.W_OK) for folder in folders)


def _to_tensors(mapped: datasets.Dataset, image_size: int | tuple[int, int]) -> PreparedData:
    count = len(mapped)
    columns = mapped.to_dict() if count else {"pixels": [], "boxes": [], "labels": [],
                                              "clipped": [], "dropped": []}
    pixels = np.frombuffer(b"".join(columns["pixels"]), dtype=np.uint8)
    width, height = input_size(image_size)
    images = torch.from_numpy(pixels.copy()).view(count, height, width, 3)
    images = images.permute(0, 3, 1, 2).contiguous()  # (N, 3, S_h, S_w)
    per_image = [len(labels) for labels in columns["labels"]]
    offsets = torch.zeros(count + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(torch.tensor(per_image, dtype=torch.int64), 0)
    flat_boxes = [box for boxes in columns["boxes"] for box in boxes]
    flat_labels = [label for labels in columns["labels"] for label in labels]
    num_clipped, num_dropped = sum(columns["clipped"]), sum(columns["dropped"])
    if num_clipped or num_dropped:
        logger.info("prepare: %d boxes clipped to their image, %d smaller than %.0f px "
                    "dropped", num_clipped, num_dropped, MIN_BOX_PX)
    return PreparedData(
        images=images,
        boxes_cxcywh=torch.tensor(flat_boxes, dtype=torch.float32).view(-1, 4),
        labels=torch.tensor(flat_labels, dtype=torch.int64),
        offsets=offsets, num_clipped=num_clipped, num_dropped=num_dropped)


def boxes_note(data: PreparedData, name: str) -> str | None:
    """One line saying how many boxes of ``name`` (a split, for the reader) :func:`prepare`
    clipped to their image and dropped; None when it changed none."""
    if not (data.num_clipped or data.num_dropped):
        return None
    return (f"{name}: {data.num_clipped:,} boxes clipped to their image, {data.num_dropped:,} "
            f"dropped (outside their image, or under {MIN_BOX_PX:.0f} px once resized)")


def require_boxes(data: PreparedData, name: str) -> PreparedData:
    """``data``, refused when no box is left in it after :func:`prepare`: a model would
    learn nothing from it, and its mAP would be undefined.

    Raises:
        DataError: naming ``name`` and how many boxes were dropped.
    """
    if len(data.labels) == 0:
        lost = (f"all {data.num_dropped:,} of its boxes were dropped (outside their image, "
                "or under a pixel once resized)" if data.num_dropped else "it holds no boxes")
        raise DataError(f"{name}: {lost}, so there is nothing to learn or score; check that "
                        "boxes are [left, top, width, height] in pixels of their own image")
    return data
