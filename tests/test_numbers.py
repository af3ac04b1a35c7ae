"""A drawn house number: its digits, and the labels SVHN's annotators would give them."""

import numpy as np

from yolo_smol.data import numbers
from yolo_smol.data.glyphs import tight_box
from yolo_smol.data.numbers import enlarge_box, label_box


def test_enlarged_box_covers_the_drawn_box():
    assert enlarge_box([3, 2, 5, 7], 0.5) == [6, 4, 10, 14]
    assert enlarge_box([3, 2, 5, 7], 0.3) == [10, 6, 17, 24]  # floor start, ceil end


def test_label_is_the_tight_box_with_svhns_margin():
    # 1.2 times the box about its centre (15, 30), rounded outwards.
    assert label_box([10, 20, 10, 20], (100, 100), margin=1.2) == [9, 18, 12, 24]
    # centre (15.5, 30.5), half sizes 6.6 and 12.6: 8.9 to 22.1 and 17.9 to 43.1, outwards
    assert label_box([10, 20, 11, 21], (100, 100), margin=1.2) == [8, 17, 15, 27]
    # Kept inside the image: a digit at the border loses the margin beyond it.
    assert label_box([0, 0, 10, 10], (10, 10), margin=1.2) == [0, 0, 10, 10]
    assert label_box([5, 5, 10, 10], (100, 100), margin=1.0) == [5, 5, 10, 10]


def test_a_bare_one_keeps_the_label_of_a_footed_one(monkeypatch):
    # Every "1" drawn bare: its ink loses the foot, its box still spans it.
    monkeypatch.setattr(numbers, "FOOTLESS_ONE_SHARE", 1.0)
    rng = np.random.default_rng(0)
    wider = ones = 0
    for _ in range(200):
        number = numbers.draw_number(rng, 48, 1.0)
        for label, mask, box in zip(number.labels, number.masks, number.boxes_in_mask,
                                    strict=True):
            if label != 1:
                assert box == tight_box(mask)  # other digits: the ink's own box
                continue
            ink_box = tight_box(mask)
            ones += 1
            # The box holds the bare ink, and reaches past it where the foot was.
            assert box[0] <= ink_box[0] and box[2] >= ink_box[2]
            wider += (box[2] - box[0]) > (ink_box[2] - ink_box[0])
    assert ones > 30 and wider > 0.5 * ones
