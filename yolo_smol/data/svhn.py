"""What real SVHN is: its splits, and the published figures of its train annotations.

One place for these numbers: the synthetic generator samples from them, ``yolo-smol data``
prints a dataset beside them, and the model cards name the split sizes. (Street View House
Numbers, Netzer et al. 2011; the ``full_numbers`` config of ``ufldl-stanford/svhn``.)
"""

from __future__ import annotations

__all__ = ["SPLIT_SIZES", "PERCENTILES", "FIGURES", "DIGIT_COUNTS", "DIGITS_PER_IMAGE",
           "OVERLAP_SHARE"]

# The sizes of the full_numbers splits, in images.
SPLIT_SIZES = {"train": 33_402, "test": 13_068, "extra": 202_353}

PERCENTILES = (5, 25, 50, 75, 95)
# From the official train annotations (33,402 images): percentiles 5 / 25 / 50 / 75 / 95.
FIGURES = {
    "image width px": (48, 72, 104, 158, 300),
    "image height px": (20, 33, 47, 71, 130),
    "image width / height": (1.82, 2.06, 2.23, 2.43, 2.93),
    "box width / image width": (0.06, 0.10, 0.13, 0.16, 0.22),
    "box height / image height": (0.33, 0.54, 0.66, 0.75, 0.86),
    "box width / height": (0.28, 0.40, 0.48, 0.58, 0.71),
    "gap / digit height": (-0.15, -0.05, 0.00, 0.05, 0.14),
}
# How often each digit 0..9 appears in the train split.
DIGIT_COUNTS = (4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659)
# Share of images holding 1, 2, 3, 4 and 5 or more digits.
DIGITS_PER_IMAGE = {1: 0.15, 2: 0.54, 3: 0.26, 4: 0.04, 5: 0.001}
OVERLAP_SHARE = 0.42  # neighbouring boxes that overlap horizontally
