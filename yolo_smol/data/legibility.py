"""Whether a reader could make out a drawn number: each digit tall enough, and standing out
from the ground around it once light, noise, blur and low resolution have done their work.

SVHN's annotators boxed only the numbers they could read, and a label on a number that
cannot be read teaches a detector to find digits in texture; so the generator draws such a
number again (:func:`yolo_smol.data.synthetic.render_image`).
"""

from __future__ import annotations

import numpy as np

from yolo_smol.data.glyphs import paste_glyph, tight_box
from yolo_smol.data.numbers import DrawnNumber

__all__ = ["MIN_LEGIBLE_INK_PX", "MIN_LEGIBLE_CONTRAST", "ink_contrast", "legible"]

# A number is drawn again when one of its digits ends up shorter than MIN_LEGIBLE_INK_PX or
# fainter against the ground around it than MIN_LEGIBLE_CONTRAST RGB levels. The contrast
# was set by eye on generated test photos: below 10 almost none can be read, between 20 and
# 30 about half; about one photo in ten is drawn again.
MIN_LEGIBLE_INK_PX = 6
MIN_LEGIBLE_CONTRAST = 20.0


def ink_contrast(pixels: np.ndarray, coverage: np.ndarray, ink: np.ndarray) -> float | None:
    """How far one digit stands out from the ground around it in a finished picture.

    Args:
        pixels: ``(H, W, 3)`` the picture, 0-255, after light, noise, blur and low resolution.
        coverage: ``(H, W)`` the digit's own ink coverage in [0, 1].
        ink: ``(H, W)`` every digit's ink coverage, so that a neighbour is not ground.

    Returns:
        The distance in RGB levels between the digit's mean colour (weighted by its
        coverage) and the mean colour of the inkless pixels within a quarter of its height
        of its tight box; ``None`` when none of its ink lies inside the picture.
    """
    box = tight_box(coverage)
    if box is None:
        return None
    left, top, right, bottom = box
    pad = max(1, int(0.25 * (bottom - top)))
    window = (slice(max(0, top - pad), bottom + pad), slice(max(0, left - pad), right + pad))
    ground = ink[window] < 0.02
    if ground.sum() < 2:
        return None
    weights = coverage[window]
    colour = (weights[..., None] * pixels[window]).sum(axis=(0, 1)) / weights.sum()
    return float(np.linalg.norm(colour - pixels[window][ground].mean(axis=0)))


def legible(pixels: np.ndarray, number: DrawnNumber, boxes: list[list[int]]) -> bool:
    """Whether a reader could make out every digit of a drawn number.

    Args:
        pixels: ``(H, W, 3)`` the finished picture in drawing px, 0-255.
        number: the drawn number; its masks were pasted so that their tight boxes
            ``boxes_in_mask`` landed on ``boxes``.
        boxes: each digit's tight box, ``[left, top, width, height]`` in drawing px.

    Every digit inside the picture must be at least :data:`MIN_LEGIBLE_INK_PX` tall and
    differ from the ground around it by :data:`MIN_LEGIBLE_CONTRAST` levels
    (:func:`ink_contrast`): the light, noise, blur and low resolution that came after the
    digits were drawn can leave a number no one could read.
    """
    height, width = pixels.shape[:2]
    coverages = []
    for mask, (box_left, box_top, _, _), box in zip(number.masks, number.boxes_in_mask, boxes,
                                                     strict=True):
        coverage = np.zeros((height, width), np.float32)
        paste_glyph(coverage[..., None], mask, np.ones(1, np.float32), box[0] - box_left,
                    box[1] - box_top)
        coverages.append(coverage)
    ink = np.maximum.reduce(coverages)
    pixels = pixels.astype(np.float32)
    for coverage, box in zip(coverages, boxes, strict=True):
        contrast = ink_contrast(pixels, coverage, ink)
        if contrast is not None and (box[3] < MIN_LEGIBLE_INK_PX
                                     or contrast < MIN_LEGIBLE_CONTRAST):
            return False
    return True
