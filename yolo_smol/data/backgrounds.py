"""What a generated number is painted on, and what is around it: a facade or a painted wall
with a plate, colours that contrast with the digits, clutter, and now and then a cut-off
neighbouring digit or a letter.

The facades, plaques and clutter themselves are drawn by :mod:`yolo_smol.data.scenery`;
this module chooses among them for one image and adds the painted wall
(:func:`draw_background`) and the digits' colour. Canvases are ``(H, W, 3)`` float32 in
[0, 1], in drawing pixels.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from yolo_smol.data.glyphs import letter_bank, paste_glyph, render_glyph
from yolo_smol.data.numbers import DrawnNumber
from yolo_smol.data.scenery import add_distractors, facade, plaque

__all__ = ["FACADE_SHARE", "PLAQUE_SHARE", "LETTER_SHARE", "texture_bank", "draw_background",
           "draw_scene"]

# How often the background is a facade (else a painted wall with a plate), how often such a
# number sits on a plaque, and how often a letter follows it.
FACADE_SHARE = 0.7
PLAQUE_SHARE = 0.6
LETTER_SHARE = 0.1


def _contrasting_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A plate colour and a digit colour that differ in brightness by at least 0.3."""
    plate_level, digit_level = rng.random(2)
    while abs(plate_level - digit_level) < 0.3:
        digit_level = rng.random()
    tint = rng.normal(0, 0.12, size=(2, 3))  # coloured plates and digits, mostly muted
    plate = np.clip(plate_level + tint[0], 0, 1)
    digit = np.clip(digit_level + tint[1], 0, 1)
    return plate.astype(np.float32), digit.astype(np.float32)


def _contrasting_with(rng: np.random.Generator, canvas: np.ndarray,
                      number_box: tuple[float, ...]) -> np.ndarray:
    """A digit colour whose brightness differs by at least 0.4 from the wall behind it."""
    height, width = canvas.shape[:2]
    left, top, right, bottom = (int(np.clip(value, 0, limit)) for value, limit in
                                zip(number_box, (width, height, width, height), strict=True))
    region = canvas[top:max(bottom, top + 1), left:max(right, left + 1)]
    wall = float(region.mean()) if region.size else float(canvas.mean())
    level = rng.uniform(0, max(0.0, wall - 0.4)) if (wall > 0.5) else rng.uniform(
        min(1.0, wall + 0.4), 1.0)
    return np.clip(level + rng.normal(0, 0.1, size=3), 0, 1).astype(np.float32)


@functools.lru_cache(maxsize=1)
def texture_bank() -> np.ndarray:
    """``(16, 64, 384, 3)`` smooth colour noise in [-0.5, 0.5], crops of which texture walls
    (at most 64 px tall, since drawing is; 384 px covers the widest crop drawn).

    Made once from a fixed seed: cropping a shared bank is far cheaper than making a fresh
    texture per image, and with random offsets the crops rarely repeat.
    """
    rng = np.random.default_rng(20180408)  # fixed: the bank is part of the generator
    height, width = 64, 384
    textures = np.zeros((16, height, width, 3), dtype=np.float32)
    for texture in textures:
        for cells, weight in ((6, 0.6), (24, 0.3), (96, 0.1)):  # coarse blotches to grain
            coarse = (rng.random((cells * height // width + 2, cells + 2, 3)) * 255
                      ).astype(np.uint8)
            smooth = Image.fromarray(coarse, "RGB").resize((width + 64, height + 16),
                                                           Image.BICUBIC)
            texture += weight * (np.asarray(smooth, dtype=np.float32)[8:8 + height,
                                                                      32:32 + width] / 255
                                 - 0.5)
    return textures


def draw_background(rng: np.random.Generator, height: int, width: int,
                    plate: np.ndarray) -> np.ndarray:
    """Wall texture, a plate behind the number, straight edges: ``(H, W, 3)`` in [0, 1]."""
    # 1) Wall: a muted colour (a grey level with a tint) and a crop of smooth noise.
    bank = texture_bank()
    top = int(rng.integers(0, bank.shape[1] - height + 1))
    left = int(rng.integers(0, bank.shape[2] - width + 1))
    texture = bank[int(rng.integers(len(bank))), top:top + height, left:left + width]
    wall = np.clip(rng.uniform(0.1, 0.9) + rng.normal(0, 0.1, size=3), 0, 1).astype(np.float32)
    canvas = wall + texture * rng.uniform(0.1, 0.6)
    # 2) The plate: a rectangle behind the digits, often larger than the crop.
    if rng.random() < 0.7:
        top, bottom = sorted(rng.integers(-height // 2, height + height // 2, size=2))
        left, right = sorted(rng.integers(-width // 3, width + width // 3, size=2))
        top, bottom = max(0, min(top, height // 4)), min(height, max(bottom, 3 * height // 4))
        left, right = max(0, min(left, width // 6)), min(width, max(right, 5 * width // 6))
        canvas[top:bottom, left:right] = plate + texture[top:bottom, left:right] * 0.15
    else:
        canvas += plate - wall
    # 3) Edges: door frames, plate borders, bricks.
    for _ in range(int(rng.integers(0, 4))):
        thickness = int(rng.integers(1, max(2, height // 12)))
        shade = rng.random(3).astype(np.float32)
        if rng.random() < 0.5:
            row = int(rng.integers(0, height))
            canvas[row:row + thickness] = shade
        else:
            col = int(rng.integers(0, width))
            canvas[:, col:col + thickness] = shade
    return canvas


def draw_scene(rng: np.random.Generator, height: int, width: int, number: DrawnNumber,
               number_box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The canvas ``(H, W, 3)`` behind and around the number, and the digits' colour ``(3,)``.

    A facade (brick, siding, wood, stone, glass, plaster) or a painted wall, a plaque behind
    the number, clutter around it, and now and then a neighbouring digit cut by the border
    or a letter beside the number (neither is labelled). ``number_box`` is ``(left, top,
    right, bottom)`` of the digits in drawing px.
    """
    left, _, right, _ = number_box
    centre_y = (number_box[1] + number_box[3]) / 2
    digit_height = number.digit_height
    plate, ink = _contrasting_colours(rng)
    if rng.random() < FACADE_SHARE:
        canvas = facade(rng, height, width, digit_height)
        if rng.random() < PLAQUE_SHARE:
            plaque(rng, canvas, number_box, plate)
        else:  # digits painted on the wall itself: they must contrast with it
            ink = _contrasting_with(rng, canvas, number_box)
    else:
        canvas = draw_background(rng, height, width, plate)
    add_distractors(rng, canvas, number_box, digit_height)
    if rng.random() < 0.35:
        other = render_glyph(rng, number.font[int(rng.integers(10))], digit_height,
                             number.squeeze, number.shear, number.angle)
        inside = int(other.shape[1] * rng.uniform(0.2, 0.6))
        other_left = -other.shape[1] + inside if rng.random() < 0.5 else width - inside
        paste_glyph(canvas, other, ink, other_left, round(centre_y - other.shape[0] / 2))
    if rng.random() < LETTER_SHARE:
        letters = letter_bank()
        letter = render_glyph(rng, letters[int(rng.integers(len(letters)))],
                              digit_height * rng.uniform(0.5, 1.0), number.squeeze,
                              number.shear, number.angle)
        paste_glyph(canvas, letter, ink, round(right + digit_height * rng.uniform(0.1, 0.4)),
                    round(centre_y - letter.shape[0] / 2))
    return canvas, ink
