"""The schema of SVHN ``full_numbers`` on the Hugging Face hub, shared by every data source.

``bbox`` is ``[left, top, width, height]`` in whole pixels (xywh; a JSON-lines file's
fractional pixels are rounded to the nearest, see ``sources.load_jsonl``) and ``label``
is the digit itself, 0 to 9. Read back from a Dataset, a row's ``digits`` is a dict of
lists: ``{"bbox": [[x, y, w, h], ...], "label": [d, ...]}``.
"""

from __future__ import annotations

import io
import math
from typing import Any

import datasets
from PIL import Image

from yolo_smol.errors import YoloSmolError

__all__ = ["SVHN_FEATURES", "DIGIT_NAMES", "ImageDataError", "read_image_size",
           "digits_problem"]

DIGIT_NAMES = [str(digit) for digit in range(10)]

SVHN_FEATURES = datasets.Features({
    "image": datasets.Image(),
    "digits": datasets.Sequence({
        "bbox": datasets.Sequence(datasets.Value("int32"), length=4),
        "label": datasets.ClassLabel(names=DIGIT_NAMES),
    }),
})


class ImageDataError(YoloSmolError):
    """An image entry of a dataset that is not an image."""


def read_image_size(image: dict) -> tuple[int, int]:
    """``(width, height)`` of an undecoded ``image`` entry (``{"bytes", "path"}``).

    Only the file's header is read, so this is cheap even for a whole split.

    Raises:
        ImageDataError: the entry is not in any image format Pillow knows.
    """
    source = io.BytesIO(image["bytes"]) if image.get("bytes") is not None else image["path"]
    try:
        with Image.open(source) as opened:
            return opened.size
    except (OSError, ValueError) as error:  # UnidentifiedImageError is an OSError
        name = image.get("path") or "an embedded image"
        raise ImageDataError(f"{name}: not an image Pillow can read ({type(error).__name__}); "
                             "remove its row or replace the file") from None


def digits_problem(digits: Any) -> str | None:
    """What is wrong with one row's ``digits`` (``{"bbox": [...], "label": [...]}``), or
    None when it fits the schema: as many labels as boxes, each label a digit 0 to 9, each
    box four finite numbers ``[left, top, width, height]`` with no negative size.

    Every source is held to this one check when it is loaded, so ``data``, ``train``,
    ``eval`` and ``anchors`` accept and refuse the same rows.
    """
    if not isinstance(digits, dict) or not {"bbox", "label"} <= set(digits):
        return 'needs "bbox" and "label" lists'
    boxes, labels = digits["bbox"], digits["label"]
    if not isinstance(boxes, list) or not isinstance(labels, list):
        return '"bbox" and "label" must be lists'
    if len(boxes) != len(labels):
        return f"{len(boxes)} boxes but {len(labels)} labels; give one label per box"
    for number, (box, label) in enumerate(zip(boxes, labels, strict=True)):
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
            return f"box {number}: label {label!r} is not a digit 0 to 9"
        if (not isinstance(box, (list, tuple)) or len(box) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           and math.isfinite(v) for v in box)):
            return f"box {number}: {box!r} is not four numbers [left, top, width, height]"
        if box[2] < 0 or box[3] < 0:
            return (f"box {number}: {list(box)} has a negative size; boxes are "
                    "[left, top, width, height] in pixels")
    return None
