"""The scenery around generated house numbers: facades, plaques and clutter."""

import numpy as np
import pytest

from yolo_smol.data import scenery
from yolo_smol.data.glyphs import GLYPH_STYLES, glyph_bank, letter_bank, stroke_style


@pytest.mark.parametrize("kind", sorted(scenery.FACADES))
def test_every_facade_is_an_image_of_the_asked_size(kind):
    for seed in range(5):
        wall = scenery.FACADES[kind](np.random.default_rng(seed), 40, 97, 25.0)
        assert wall.shape == (40, 97, 3) and wall.dtype == np.float32
        assert np.isfinite(wall).all() and -0.1 <= wall.min() and wall.max() <= 1.6
        assert wall.std() > 0 or kind == "stucco"  # a pattern, not a flat colour


def test_facades_have_their_structure():
    rng = np.random.default_rng(0)
    bricks = scenery.brick(rng, 60, 120, 30.0)
    # Mortar joints run along whole rows: some rows are one colour from end to end.
    flat_rows = (bricks == bricks[:, :1]).all(axis=(1, 2)).sum()
    assert 2 <= flat_rows < 60
    boards = scenery.siding(np.random.default_rng(1), 60, 120, 30.0)
    # Siding changes down the wall and not along it.
    assert np.allclose(boards, boards[:, :1]) and boards.std(axis=0).mean() > 0.01


def test_the_plaque_lies_behind_the_number():
    canvas = np.zeros((40, 100, 3), np.float32)
    field = np.array([0.9, 0.8, 0.1], np.float32)
    for seed in range(10):
        canvas[:] = 0
        scenery.plaque(np.random.default_rng(seed), canvas, (40, 12, 60, 28), field)
        centre = canvas[20, 50]
        assert np.abs(centre - field).max() < 0.1, seed  # the plate under the digits
        assert canvas[0, 0].max() == 0 or canvas[39, 99].max() == 0  # not the whole crop


def test_clutter_goes_around_the_number_not_on_it():
    inside_change, outside_change = [], []
    keep_out = (40, 12, 60, 28)
    for seed in range(60):
        canvas = np.full((40, 100, 3), 0.5, np.float32)
        scenery.add_distractors(np.random.default_rng(seed), canvas, keep_out, 16.0,
                                mean_count=2.0)
        change = np.abs(canvas - 0.5).max(axis=2)
        inside = np.zeros(change.shape, bool)
        inside[12:28, 40:60] = True
        inside_change.append(change[inside].mean())
        outside_change.append(change[~inside].mean())
    assert np.mean(outside_change) > 0.02  # clutter was drawn
    assert np.mean(inside_change) < 0.35 * np.mean(outside_change)


def test_stroke_styles_change_the_ink_as_named():
    digit = glyph_bank()[0][8]  # regular DejaVu Sans "8"
    ink = {style: (np.asarray(stroke_style(digit, style)) > 128).sum() for style in
           GLYPH_STYLES}
    assert ink["heavy"] > ink["regular"] > ink["light"] > 0
    assert 0 < ink["outline"] < ink["heavy"]
    with pytest.raises(ValueError, match="unknown glyph style"):
        stroke_style(digit, "wobbly")


def test_the_banks_hold_every_face_and_letters():
    from yolo_smol.data.glyphs import FONT_FILES, LETTERS

    bank = glyph_bank()
    assert len(bank) == len(FONT_FILES) * len(GLYPH_STYLES)
    assert all(len(face) == 10 and all(glyph.getbbox() for glyph in face) for face in bank)
    assert len(letter_bank()) == 3 * len(LETTERS)


def _ink_widths(glyph) -> np.ndarray:
    """Per row of a mask, the span of its ink in pixels (0 for a row without ink)."""
    ink = np.asarray(glyph) >= 128
    return np.array([np.ptp(np.flatnonzero(row)) + 1 if row.any() else 0 for row in ink])


def test_remove_foot_keeps_the_stem_and_flag_and_cuts_the_foot():
    from yolo_smol.data.glyphs import remove_foot

    one = glyph_bank()[0][1]  # regular DejaVu Sans "1": flag, stem, foot
    bare = remove_foot(one)
    assert bare.size == one.size  # draws where the footed "1" draws
    before, after = _ink_widths(one), _ink_widths(bare)
    stem = np.median(before[len(before) // 3:2 * len(before) // 3])
    assert before[-1] > 2 * stem  # the foot is there to cut
    assert after[-1] <= stem + 2  # only the stem reaches the base now
    changed = np.flatnonzero((np.asarray(one) != np.asarray(bare)).any(axis=1))
    assert changed.min() > 0.7 * one.height  # the flag and the stem above the foot stay
    # A glyph without a foot comes back as it was.
    seven = glyph_bank()[0][7]
    assert np.array_equal(np.asarray(remove_foot(seven)), np.asarray(seven))


def test_footless_ones_cover_every_face():
    from yolo_smol.data.glyphs import footless_ones

    ones, bank = footless_ones(), glyph_bank()
    assert len(ones) == len(bank)
    assert all(bare.size == face[1].size for bare, face in zip(ones, bank, strict=True))
    outline = GLYPH_STYLES.index("outline")
    cut = [not np.array_equal(np.asarray(bare), np.asarray(face[1]))
           for bare, face in zip(ones, bank, strict=True)]
    assert not any(cut[outline::len(GLYPH_STYLES)])  # hollow feet are kept
    regular = cut[::len(GLYPH_STYLES)]
    assert sum(regular) >= 0.75 * len(regular)  # nearly every typeface's "1" has a foot
