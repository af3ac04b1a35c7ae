"""The schema of SVHN ``full_numbers`` on the Hugging Face hub, shared by every data source.

``bbox`` is ``[left, top, width, height]`` in pixels (xywh, truncated to int) and ``label``
is the digit itself, 0 to 9. Read back from a Dataset, a row's ``digits`` is a dict of
lists: ``{"bbox": [[x, y, w, h], ...], "label": [d, ...]}``.
"""

from __future__ import annotations

import datasets

__all__ = ["SVHN_FEATURES", "DIGIT_NAMES"]

DIGIT_NAMES = [str(digit) for digit in range(10)]

SVHN_FEATURES = datasets.Features({
    "image": datasets.Image(),
    "digits": datasets.Sequence({
        "bbox": datasets.Sequence(datasets.Value("int32"), length=4),
        "label": datasets.ClassLabel(names=DIGIT_NAMES),
    }),
})
