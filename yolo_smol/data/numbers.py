"""A house number drawn as SVHN's look: which digits, in which face, how tall, how far
apart, and the labels its digits get.

The sampling tables come from SVHN's published figures (:mod:`yolo_smol.data.svhn`): digits
per image, digit frequencies, box heights and gaps. A digit's label is drawn as SVHN's
annotators drew theirs, with a margin around the ink: its tight box enlarged
:data:`LABEL_MARGIN` times about its centre (:func:`label_box`), as ``[left, top, width,
height]`` in whole pixels inside the image.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from yolo_smol.data import svhn
from yolo_smol.data.glyphs import (
    FONT_FILES,
    GLYPH_STYLES,
    footless_ones,
    glyph_bank,
    paste_glyph,
    render_glyph,
    tight_box,
)

__all__ = ["svhn_quantiles", "sample_quantile", "DIGIT_HEIGHT_FRACTION", "LABEL_MARGIN",
           "GAP_PER_HEIGHT", "TARGET_BOX_ASPECT", "DIGIT_FREQUENCY", "STYLE_WEIGHTS",
           "MIN_STYLED_HEIGHT", "FOOTLESS_ONE_SHARE", "DrawnNumber", "draw_number", "lay_out",
           "place_digits", "enlarge_box", "label_box", "svhn_labels"]


def svhn_quantiles(figure: str, low: float, high: float, shift: float = 0.0,
                   ) -> tuple[tuple[float, float], ...]:
    """A quantile table (probability, value): SVHN's published 5, 25, 50, 75 and 95 % points
    of ``figure`` (moved by ``shift``), with end points ``low`` and ``high`` bounding the
    tails."""
    points = [(p / 100, round(value + shift, 6)) for p, value in zip(svhn.PERCENTILES,
                                                             svhn.FIGURES[figure], strict=True)]
    return ((0.0, low), *points, (1.0, high))


def sample_quantile(rng: np.random.Generator, table: tuple[tuple[float, float], ...]) -> float:
    """One value drawn from a quantile ``table`` of :func:`svhn_quantiles`, linear between
    its points."""
    probabilities, values = zip(*table, strict=True)
    return float(np.interp(rng.random(), probabilities, values))


DIGIT_HEIGHT_FRACTION = svhn_quantiles("box height / image height", 0.22, 0.95)
# SVHN's annotators drew each digit's box with a margin around the ink. A detector trained on
# tight boxes finds real SVHN digits with boxes about 0.82 as tall and as wide as SVHN's own
# (median over 720 digits of the real development photos, alike in both directions), which
# puts about 3 in 10 of its matches below IoU 0.5. So a label is the tight box enlarged this
# many times about its centre, and the glyph is drawn that much smaller, so that the labels
# keep SVHN's figures (box sizes, shapes and gaps are SVHN's label figures).
LABEL_MARGIN = 1.2
# Gaps are laid out between the labels 0.05 wider than SVHN's, because the measured gap
# (between boxes rounded outwards to whole pixels twice: the tight box, then the margin)
# comes out that much smaller.
GAP_PER_HEIGHT = svhn_quantiles("gap / digit height", -0.28, 0.32, shift=0.05)
# SVHN's median box is 0.48 as wide as tall; shear and rotation widen the tight box of
# the glyph drawn, and rounding widens small labels, so the squeeze aims lower for the
# labels to land there.
TARGET_BOX_ASPECT = 0.43
# 1, 2, 3 or 4 digits (5 or more: under 0.1 %, left out).
DIGITS_PER_IMAGE = np.array([svhn.DIGITS_PER_IMAGE[count] for count in (1, 2, 3, 4)])
DIGIT_COUNTS = np.array(svhn.DIGIT_COUNTS)
DIGIT_FREQUENCY = DIGIT_COUNTS / DIGIT_COUNTS.sum()
_CUMULATIVE_COUNT = np.cumsum(DIGITS_PER_IMAGE) / DIGITS_PER_IMAGE.sum()
_CUMULATIVE_DIGIT = np.cumsum(DIGIT_FREQUENCY)
# How often each of GLYPH_STYLES is drawn.
STYLE_WEIGHTS = np.array([0.45, 0.2, 0.15, 0.06, 0.14])  # hollow digits are rare on houses
_CUMULATIVE_STYLE = np.cumsum(STYLE_WEIGHTS) / STYLE_WEIGHTS.sum()
# Below this digit height (drawing px) only the regular stroke style is used.
MIN_STYLED_HEIGHT = 12
# Every typeface draws its "1" with a foot (a serif at the base), but house numbers are
# often a bare stem with a flag, and a detector that never saw one misses it or boxes only the
# stem. This share of "1"s is drawn without its foot (glyphs.remove_foot).
FOOTLESS_ONE_SHARE = 0.5


@dataclass(frozen=True)
class DrawnNumber:
    """The digits of one image before they are placed: masks and their tight boxes."""

    labels: list[int]
    font: tuple[Image.Image, ...]
    digit_height: float
    squeeze: float
    shear: float
    angle: float
    masks: list[np.ndarray]  # each digit's (h, w) ink coverage
    boxes_in_mask: list[tuple[int, int, int, int]]  # its tight box in the mask, xyxy px


@functools.lru_cache(maxsize=1)
def _squeeze_median() -> float:
    """The horizontal squeeze that brings the median glyph to SVHN's median box aspect."""
    aspects = [(glyph.width / glyph.height, DIGIT_FREQUENCY[digit])
               for font in glyph_bank() for digit, glyph in enumerate(font)]
    values, weights = np.array(aspects).T
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    return TARGET_BOX_ASPECT / float(values[order][np.searchsorted(cumulative, 0.5)])


def draw_number(rng: np.random.Generator, height: int, zoom_out: float) -> DrawnNumber:
    """The digits' labels, face, size and slant, rendered, for a drawing ``height`` px tall
    that is a wider view (``zoom_out`` >= 1) of the number's crop."""
    bank = glyph_bank()
    # (searchsorted on the cumulative frequencies: rng.choice with p= is ten times slower)
    count = int(np.searchsorted(_CUMULATIVE_COUNT, rng.random(), side="right")) + 1
    labels = [min(9, int(d)) for d in np.searchsorted(_CUMULATIVE_DIGIT, rng.random(count),
                                                      side="right")]
    style = int(np.searchsorted(_CUMULATIVE_STYLE, rng.random(), side="right"))
    face = int(rng.integers(len(FONT_FILES))) * len(GLYPH_STYLES)
    # The ink's height: SVHN's box height, less the label's margin.
    digit_height = sample_quantile(rng, DIGIT_HEIGHT_FRACTION) * height / zoom_out / LABEL_MARGIN
    if digit_height >= MIN_STYLED_HEIGHT:  # thin or hollow strokes vanish at a few pixels
        face += min(style, len(GLYPH_STYLES) - 1)
    font = bank[face]
    squeeze = _squeeze_median() * float(np.exp(rng.normal(0, 0.22)))
    shear, angle = rng.normal(0, 0.08), rng.normal(0, 0.04)
    heights = digit_height * rng.uniform(0.97, 1.03, size=count)
    footless = rng.random(count) < FOOTLESS_ONE_SHARE
    masks = [render_glyph(rng, footless_ones()[face] if label == 1 and bare else font[label],
                          height, squeeze, shear, angle)
             for label, height, bare in zip(labels, heights, footless, strict=True)]
    # A "1" drawn without its foot keeps the label of the "1" with it: SVHN's annotators box
    # a bare "1" about as wide as a footed one (flag to stem and a margin), not the stem alone.
    boxes_in_mask = [tight_box(render_glyph(rng, font[1], height, squeeze, shear, angle)
                               if label == 1 and bare else mask)
                     for label, height, bare, mask in zip(labels, heights, footless, masks,
                                                          strict=True)]
    if None in boxes_in_mask:  # a glyph too faint to keep any pixel: draw it as drawn
        font = bank[face - face % len(GLYPH_STYLES)]
        digit_height, masks, boxes_in_mask = _plain_digits(rng, font, labels, digit_height,
                                                           squeeze, shear, angle)
    return DrawnNumber(labels, font, digit_height, squeeze, shear, angle, masks, boxes_in_mask)


def _plain_digits(rng: np.random.Generator, font: tuple[Image.Image, ...], labels: list[int],
                  digit_height: float, squeeze: float, shear: float, angle: float,
                  ) -> tuple[float, list[np.ndarray], list[tuple[int, int, int, int]]]:
    """The digits in a plain face, each with ink to box: the height, masks, tight boxes.

    At three or four pixels even a plain glyph can spread into no pixel above
    ``MASK_THRESHOLD`` (a "5" 3.4 px tall, squeezed, peaks at 0.29 coverage), and a digit
    without a box cannot be labelled; such a number is drawn a quarter taller, until every
    digit keeps some ink. Numbers whose plain digits show at once are drawn as before.
    """
    for _ in range(16):  # 1.25 ** 16: from 3 px to over 100, where every glyph has ink
        masks = [render_glyph(rng, font[label], digit_height, squeeze, shear, angle)
                 for label in labels]
        boxes_in_mask = [tight_box(mask) for mask in masks]
        if None not in boxes_in_mask:
            return digit_height, masks, boxes_in_mask
        digit_height *= 1.25
    raise ValueError(f"digits {labels} keep no ink at {digit_height:.0f} px: is a glyph of "
                     "the font blank?")


def lay_out(rng: np.random.Generator, number: DrawnNumber, height: int, width: int,
            ) -> tuple[list[float], float, float, float]:
    """Where the digits go on a ``height`` x ``width`` drawing: on a line, with SVHN's gaps
    (negative gaps overlap) between their labels, which reach past the ink by the margin on
    either side.

    Returns:
        ``(gaps, left, centre_y, total)``: the gap after each digit but the last, the left
        of the first digit's ink, the line's centre height and the number's width, in
        drawing px.
    """
    digit_height = number.digit_height
    widths = [box[2] - box[0] for box in number.boxes_in_mask]
    gaps = [sample_quantile(rng, GAP_PER_HEIGHT) * digit_height * LABEL_MARGIN
            + (LABEL_MARGIN - 1) / 2 * (before + after)
            for before, after in itertools.pairwise(widths)]
    total = sum(widths) + sum(gaps)
    slack = width - total
    left = slack / 2 + rng.uniform(-0.8, 0.8) * max(slack, 0) / 2 + rng.normal(0, 0.02) * width
    centre_y = height / 2 + rng.uniform(-0.7, 0.7) * max(height - digit_height, 0) / 2
    return gaps, left, centre_y, total


def place_digits(rng: np.random.Generator, canvas: np.ndarray, masks: list[np.ndarray],
                 boxes_in_mask: list[tuple[int, int, int, int]], gaps: list[float],
                 left: float, centre_y: float, digit_height: float,
                 ink: np.ndarray) -> list[list[int]]:
    """Paste the glyphs left to right onto ``canvas (H, W, 3)`` in the colour ``ink (3,)``,
    now and then over a soft shadow; returns each one's tight box, xywh in canvas px."""
    boxes = []
    shadow = rng.random() < 0.2
    for mask, (box_left, box_top, box_right, box_bottom), gap in zip(
            masks, boxes_in_mask, [*gaps, 0.0], strict=True):
        paste_left = round(left) - box_left
        paste_top = round(centre_y + rng.normal(0, 0.02) * digit_height
                          - (box_top + box_bottom) / 2)
        if shadow:
            paste_glyph(canvas, mask * 0.6, canvas.mean(axis=(0, 1)) * 0.3, paste_left + 1,
                        paste_top + 1)
        paste_glyph(canvas, mask, ink, paste_left, paste_top)
        boxes.append([paste_left + box_left, paste_top + box_top, box_right - box_left,
                      box_bottom - box_top])
        left += (box_right - box_left) + gap
    return boxes


def enlarge_box(box_xywh: list[int], scale: float) -> list[int]:
    """A drawing-space box (xywh, drawing px) in the stored image's pixels, for a drawing
    ``scale`` drawing px per image px, still covering the whole glyph."""
    left, top = int(np.floor(box_xywh[0] / scale)), int(np.floor(box_xywh[1] / scale))
    right = int(np.ceil((box_xywh[0] + box_xywh[2]) / scale))
    bottom = int(np.ceil((box_xywh[1] + box_xywh[3]) / scale))
    return [left, top, right - left, bottom - top]


def label_box(box_xywh: list[int], image_size: tuple[int, int],
              margin: float = LABEL_MARGIN) -> list[int]:
    """A digit's label as SVHN's annotators drew it: its tight box ``box_xywh`` (pixels)
    enlarged ``margin`` times about its centre, rounded outwards to whole pixels and kept
    inside the image of ``image_size`` ``(width, height)``."""
    left, top, width, height = box_xywh
    centre_x, centre_y = left + width / 2, top + height / 2
    half_width, half_height = width * margin / 2, height * margin / 2
    x0 = max(0, int(np.floor(centre_x - half_width)))
    y0 = max(0, int(np.floor(centre_y - half_height)))
    x1 = min(image_size[0], int(np.ceil(centre_x + half_width)))
    y1 = min(image_size[1], int(np.ceil(centre_y + half_height)))
    return [x0, y0, x1 - x0, y1 - y0]


def svhn_labels(boxes_xywh: list[list[int]], labels: list[int], image_size: tuple[int, int],
                ) -> tuple[list[list[int]], list[int]]:
    """The labels of the digits drawn: each tight box ``(x, y, w, h)`` made an SVHN-style
    label (:func:`label_box`) inside the image of ``image_size`` ``(width, height)``.

    A long number in a narrow crop may be laid out past the image's edge: a digit with no
    pixel inside the image was not drawn, and gets no label (kept inside the image, its box
    would be empty or turned inside out).
    """
    boxes = [label_box(box, image_size) for box in boxes_xywh]
    shown = [width > 0 and height > 0 for _, _, width, height in boxes]
    return ([box for box, inside in zip(boxes, shown, strict=True) if inside],
            [label for label, inside in zip(labels, shown, strict=True) if inside])
