"""Whether a reader could make out a drawn number: ink contrast and height."""

import numpy as np
import pytest

from yolo_smol.data.glyphs import tight_box
from yolo_smol.data.legibility import MIN_LEGIBLE_INK_PX, ink_contrast, legible
from yolo_smol.data.numbers import DrawnNumber


def _number_of(masks: list[np.ndarray]) -> DrawnNumber:
    """A drawn number of the given glyph masks, each tight box read from its mask."""
    boxes_in_mask = [tight_box(mask) for mask in masks]
    return DrawnNumber([1] * len(masks), (), 10.0, 1.0, 0.0, 0.0, masks, boxes_in_mask)


def test_ink_contrast_is_the_distance_between_ink_and_ground_colours():
    pixels = np.full((20, 30, 3), 100.0, np.float32)
    coverage = np.zeros((20, 30), np.float32)
    coverage[5:15, 10:14] = 1.0
    pixels[coverage > 0] = (200.0, 100.0, 100.0)
    assert ink_contrast(pixels, coverage, coverage) == pytest.approx(100.0)
    # Half coverage counts half: the stroke's mean colour is pulled towards the ground.
    coverage[5:15, 10:14] = 0.5
    assert ink_contrast(pixels, coverage, coverage) == pytest.approx(100.0)
    pixels[coverage > 0] = 150.0
    assert ink_contrast(pixels, coverage, coverage) == pytest.approx(50 * np.sqrt(3))
    # Ink wholly outside the picture has no contrast to measure.
    assert ink_contrast(pixels, np.zeros_like(coverage), coverage) is None


def test_a_number_is_legible_when_every_digit_is_tall_and_stands_out():
    mask = np.zeros((12, 8), np.float32)
    mask[1:11, 2:6] = 1.0
    number = _number_of([mask, mask])
    boxes = [[10, 4, 4, 10], [18, 4, 4, 10]]  # both tight boxes, xywh on a 40 x 20 picture
    ground = np.full((20, 40, 3), 90.0, np.float32)
    clear = ground.copy()
    clear[4:14, 10:14] = clear[4:14, 18:22] = 160.0
    assert legible(clear, number, boxes)
    # The second digit washed out to 8 levels from its ground: the number cannot be read.
    faint = clear.copy()
    faint[4:14, 18:22] = 98.0
    assert not legible(faint, number, boxes)
    # A digit shorter than MIN_LEGIBLE_INK_PX cannot be read however dark it is.
    small = np.zeros((6, 8), np.float32)
    small[1:5, 2:6] = 1.0
    tiny = ground.copy()
    tiny[4:8, 10:14] = tiny[4:14, 18:22] = 160.0
    assert not legible(tiny, _number_of([small, mask]),
                       [[10, 4, 4, MIN_LEGIBLE_INK_PX - 2], boxes[1]])
    # A digit laid out wholly past the border is not judged (it gets no label).
    assert legible(clear, _number_of([mask, mask, mask]), [*boxes, [60, 4, 4, 10]])
