"""The digits' shapes: typefaces, stroke styles, a "1" without its foot, letters, and drawing
a glyph onto a canvas.

A glyph is a greyscale mask (ink coverage, 0-255 in a PIL image, or 0-1 in a float array
once drawn) rendered once per typeface and stroke style from the fonts that ship with
matplotlib, so every installation has them. :func:`render_glyph` scales, squeezes, shears
and rotates a glyph for one image, :func:`paste_glyph` blends it onto a canvas in a colour,
and :func:`tight_box` finds the box of its ink, from which a digit's label is made.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = ["FONT_FILES", "GLYPH_STYLES", "LETTERS", "GLYPH_RENDER_PX", "MASK_THRESHOLD",
           "stroke_style", "glyph_bank", "remove_foot", "footless_ones", "letter_bank",
           "render_glyph", "paste_glyph", "tight_box"]

# Typefaces shipped with matplotlib (so every installation has them, Colab included): DejaVu
# (Bitstream Vera licence), STIX (SIL Open Font Licence) and Computer Modern (BaKoMa's free
# licence): sans, bold, mono, serif, slanted and TeX-like faces. Condensed faces come from
# squeezing glyphs horizontally (the per-image `squeeze`); heavier, lighter, outlined and
# rounded ones from the stroke styles below.
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf",
              "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
              "STIXGeneral.ttf", "STIXGeneralBol.ttf", "cmss10.ttf", "cmr10.ttf", "cmb10.ttf",
              "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf", "DejaVuSerif-Italic.ttf",
              "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf", "cmtt10.ttf", "cmti10.ttf")
# Stroke styles applied to every typeface's masks (at GLYPH_RENDER_PX): as drawn, heavier
# (dilated), lighter (eroded), outlined (a hollow ring) and rounded (blurred and re-cut).
GLYPH_STYLES = ("regular", "heavy", "light", "outline", "rounded")
# Letters drawn next to a number now and then ("12A"), never labelled.
LETTERS = "ABCDEFHKMNPRTUVWXYabdeh"
# At least the tallest digit drawn (synthetic.MAX_DRAW_HEIGHT), so glyphs only shrink.
GLYPH_RENDER_PX = 64
MASK_THRESHOLD = 0.3  # a pixel belongs to a glyph's tight box above this coverage


def _render_text(font: ImageFont.FreeTypeFont, text: str) -> Image.Image:
    canvas = Image.new("L", (2 * GLYPH_RENDER_PX, 2 * GLYPH_RENDER_PX), 0)
    ImageDraw.Draw(canvas).text((GLYPH_RENDER_PX // 2, GLYPH_RENDER_PX // 4), text, fill=255,
                                font=font)
    return canvas.crop(canvas.getbbox())


def stroke_style(glyph: Image.Image, style: str) -> Image.Image:
    """``glyph`` (a greyscale mask) in one of :data:`GLYPH_STYLES`, cropped tight again."""
    if style == "regular":
        return glyph
    padded = Image.new("L", (glyph.width + 8, glyph.height + 8), 0)
    padded.paste(glyph, (4, 4))
    if style == "heavy":
        padded = padded.filter(ImageFilter.MaxFilter(5))
    elif style == "light":
        padded = padded.filter(ImageFilter.MinFilter(3))
    elif style == "outline":
        inner = padded.filter(ImageFilter.MinFilter(5))
        padded = Image.fromarray(np.clip(np.asarray(padded.filter(ImageFilter.MaxFilter(3)),
                                                    np.int16) - np.asarray(inner), 0, 255)
                                 .astype(np.uint8))
    elif style == "rounded":
        blurred = np.asarray(padded.filter(ImageFilter.GaussianBlur(2.5)), np.float32)
        padded = Image.fromarray((np.clip((blurred - 100) * 3, 0, 255)).astype(np.uint8))
    else:
        raise ValueError(f"unknown glyph style {style!r}; use one of {GLYPH_STYLES}")
    return padded.crop(padded.getbbox())


@functools.lru_cache(maxsize=1)
def glyph_bank() -> tuple[tuple[Image.Image, ...], ...]:
    """``bank[face][digit]``: a tight greyscale mask of each digit in each face.

    Faces are every typeface of :data:`FONT_FILES` in every style of :data:`GLYPH_STYLES`,
    typeface by typeface (face ``f`` is ``FONT_FILES[f // len(GLYPH_STYLES)]``).
    """
    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    bank = []
    for name in FONT_FILES:
        font = ImageFont.truetype(str(font_dir / name), GLYPH_RENDER_PX)
        digits = [_render_text(font, digit) for digit in "0123456789"]
        bank.extend(tuple(stroke_style(glyph, style) for glyph in digits)
                    for style in GLYPH_STYLES)
    return tuple(bank)


def remove_foot(glyph: Image.Image, wider: float = 1.5) -> Image.Image:
    """A "1" (a greyscale mask) without the foot at its base, the same size as ``glyph``.

    The foot is the run of bottom rows whose ink is more than ``wider`` times as wide as the
    stem (the median width of the rows between 35 and 75 % of the height, below the flag);
    in those rows only the stem is kept, following its slant (a line fitted through the
    middle rows' centres), so italic faces lose their foot too. A glyph without a foot, or
    whose "foot" would be more than 30 % of its height (not a "1"), comes back unchanged.
    """
    mask = np.asarray(glyph).copy()
    ink = mask >= 128
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size < 4:
        return glyph
    top, bottom = int(rows[0]), int(rows[-1])
    height = bottom - top + 1
    middle = [row for row in range(top + int(0.35 * height), top + int(0.75 * height))
              if ink[row].any()]
    if len(middle) < 2:
        return glyph
    lefts = np.array([np.flatnonzero(ink[row])[0] for row in middle])
    rights = np.array([np.flatnonzero(ink[row])[-1] for row in middle])
    stem = float(np.median(rights - lefts + 1))
    slant = np.polyfit(middle, (lefts + rights) / 2, 1)  # the stem's centre, row by row
    foot = 0
    for row in range(bottom, top + height // 2, -1):
        columns = np.flatnonzero(ink[row])
        if columns.size == 0 or columns[-1] - columns[0] + 1 <= wider * stem:
            break
        foot += 1
    if foot == 0 or foot > 0.3 * height:
        return glyph
    columns = np.arange(mask.shape[1])
    for row in range(bottom - foot + 1, mask.shape[0]):
        mask[row, np.abs(columns - np.polyval(slant, row)) > stem / 2 + 0.5] = 0
    return Image.fromarray(mask)


@functools.lru_cache(maxsize=1)
def footless_ones() -> tuple[Image.Image, ...]:
    """``ones[face]``: the "1" of each face of :func:`glyph_bank` without its foot (the
    same size as the face's own "1", so that both draw alike). Outlined faces keep theirs:
    cutting a hollow foot off leaves an open outline."""
    outline = GLYPH_STYLES.index("outline")
    return tuple(font[1] if face % len(GLYPH_STYLES) == outline else remove_foot(font[1])
                 for face, font in enumerate(glyph_bank()))


@functools.lru_cache(maxsize=1)
def letter_bank() -> tuple[Image.Image, ...]:
    """Masks of :data:`LETTERS` in the sans and serif typefaces, for unlabelled clutter."""
    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return tuple(_render_text(ImageFont.truetype(str(font_dir / name), GLYPH_RENDER_PX), letter)
                 for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf")
                 for letter in LETTERS)


def render_glyph(rng: np.random.Generator, glyph: Image.Image, height: float, squeeze: float,
                 shear: float, angle: float) -> np.ndarray:
    """The glyph scaled to ``height`` px, squeezed, sheared and rotated: ``(h, w)`` coverage.

    Args:
        glyph: a mask of :func:`glyph_bank` or :func:`letter_bank`.
        squeeze: the width's factor beyond the glyph's own aspect (below 1: condensed).
        shear: the horizontal shear, x moved by ``shear`` times y about the centre.
        angle: the rotation in radians.

    Returns:
        ``(h, w)`` float32 ink coverage in [0, 1], padded on every side when sheared or
        rotated. (``rng`` is unused; it keeps the drawing functions' signature.)
    """
    target_h = max(3, round(height))
    target_w = max(2, round(height * glyph.width / glyph.height * squeeze))
    scaled = glyph.resize((target_w, target_h), Image.BILINEAR)
    if abs(shear) > 1e-3 or abs(angle) > 1e-3:
        # Draw into a canvas `pad` larger on each side; transform fills outside with 0.
        pad = max(2, round(target_h * 0.2))
        out_w, out_h = target_w + 2 * pad, target_h + 2 * pad
        cos, sin = np.cos(angle), np.sin(angle)
        centre_x, centre_y = out_w / 2, out_h / 2
        # Inverse map (output -> input) of a rotation then a horizontal shear about the
        # centre, shifted by the padding into the unpadded glyph's coordinates.
        a, b = cos, sin + shear * cos
        d, e = -sin, cos - shear * sin
        c = centre_x - a * centre_x - b * centre_y - pad
        f = centre_y - d * centre_x - e * centre_y - pad
        scaled = scaled.transform((out_w, out_h), Image.AFFINE, (a, b, c, d, e, f),
                                  resample=Image.BILINEAR)
    return np.asarray(scaled) * np.float32(1 / 255)


def paste_glyph(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray, left: int,
                top: int) -> None:
    """Alpha-blend ``colour`` through ``mask`` onto ``canvas`` at (left, top), clipped.

    Args:
        canvas: ``(H, W, C)`` float32, drawn into.
        mask: ``(h, w)`` coverage in [0, 1]; its top-left corner goes to canvas pixel
            ``(left, top)``, and what falls outside the canvas is dropped.
        colour: ``(C,)`` the ink's colour.
    """
    height, width = canvas.shape[:2]
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(height, top + mask.shape[0]), min(width, left + mask.shape[1])
    if y0 >= y1 or x0 >= x1:
        return
    alpha = mask[y0 - top:y1 - top, x0 - left:x1 - left, None]
    region = canvas[y0:y1, x0:x1]
    canvas[y0:y1, x0:x1] = region * (1 - alpha) + colour * alpha


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box of a glyph's ink: ``(left, top, right, bottom)`` in the pixels of ``mask
    (h, w)``, exclusive ends, around every pixel above :data:`MASK_THRESHOLD` coverage;
    ``None`` when no pixel is."""
    rows = np.flatnonzero((mask > MASK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((mask > MASK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
