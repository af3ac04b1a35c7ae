"""The digits' shapes: the tight box of a glyph's ink."""

import numpy as np

from yolo_smol.data.glyphs import tight_box


def test_tight_box_of_a_mask():
    mask = np.zeros((10, 12), np.float32)
    mask[2:7, 3:5] = 1.0
    mask[8, 11] = 0.2  # below the coverage threshold: not part of the glyph
    assert tight_box(mask) == (3, 2, 5, 7)
    assert tight_box(np.zeros((4, 4), np.float32)) is None
