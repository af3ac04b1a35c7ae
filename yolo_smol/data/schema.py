"""The schema of SVHN ``full_numbers`` on the Hugging Face hub, shared by every data source.

``bbox`` is ``[left, top, width, height]`` in pixels (xywh, truncated to int) and ``label``
is the digit itself, 0 to 9. Read back from a Dataset, a row's ``digits`` is a dict of
lists: ``{"bbox": [[x, y, w, h], ...], "label": [d, ...]}``.
"""

from __future__ import annotations

import io

import datasets
from PIL import Image

__all__ = ["SVHN_FEATURES", "DIGIT_NAMES", "read_image_size"]

DIGIT_NAMES = [str(digit) for digit in range(10)]

SVHN_FEATURES = datasets.Features({
    "image": datasets.Image(),
    "digits": datasets.Sequence({
        "bbox": datasets.Sequence(datasets.Value("int32"), length=4),
        "label": datasets.ClassLabel(names=DIGIT_NAMES),
    }),
})


def read_image_size(image: dict) -> tuple[int, int]:
    """``(width, height)`` of an undecoded ``image`` entry (``{"bytes", "path"}``).

    Only the file's header is read, so this is cheap even for a whole split.
    """
    source = io.BytesIO(image["bytes"]) if image.get("bytes") is not None else image["path"]
    with Image.open(source) as opened:
        return opened.size
