"""What surrounds a house number in a street photo: facades, plaques and clutter.

Each function draws one thing into a canvas ``(H, W, 3)`` float32 in [0, 1] (or returns
one), from a NumPy generator, so that :mod:`yolo_smol.data.synthetic` can compose them and
the data chapter can show them one at a time. None of them draws a digit that is labelled:
clutter is what a detector must learn to leave alone. Everything is procedural (no image
files), so it runs anywhere and costs no download.

Real facades are brick, siding, stucco, wood, stone and glass; real numbers sit on plaques
(rectangles, rounded, ovals, with borders and screws, often light digits on a dark field);
and around them are lamps, door and window frames, mail slots, plants, railings, letters
and stickers. A generator with flat walls teaches a detector that any edge or blob on a
plain wall is a digit: these are the false digits it then finds on real walls.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FACADES", "facade", "brick", "siding", "wood", "stone", "glass", "stucco",
           "plaque", "DISTRACTORS", "add_distractors"]


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(H, 1)`` row and ``(1, W)`` column coordinates in pixels, float32."""
    return (np.arange(height, dtype=np.float32)[:, None],
            np.arange(width, dtype=np.float32)[None, :])


def _colour(rng: np.random.Generator, level: float, spread: float = 0.12) -> np.ndarray:
    return np.clip(level + rng.normal(0, spread, size=3), 0, 1).astype(np.float32)


def _cell_shades(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray,
                 amount: float) -> np.ndarray:
    """A random shade per (row, col) cell, looked up for every pixel: ``(H, W, 1)``."""
    table = rng.normal(0, amount, size=(int(rows.max()) + 1, int(cols.max()) + 1))
    return table[rows, cols][..., None].astype(np.float32)


def stucco(rng: np.random.Generator, height: int, width: int, unit: float) -> np.ndarray:
    """Plaster or concrete: one colour with fine grain and faint blotches."""
    base = _colour(rng, rng.uniform(0.3, 0.9))
    grain = rng.normal(0, rng.uniform(0.01, 0.05), size=(height, width, 1))
    return (base + grain).astype(np.float32)


def brick(rng: np.random.Generator, height: int, width: int, unit: float) -> np.ndarray:
    """Running-bond bricks with mortar joints; ``unit`` is the digit height in pixels."""
    ys, xs = _grid(height, width)
    brick_h = max(3.0, unit * rng.uniform(0.2, 0.5))
    brick_w = brick_h * rng.uniform(2.0, 3.2)
    rows = (ys + rng.uniform(0, brick_h)) // brick_h  # (H, 1)
    shifted = xs + (rows % 2) * brick_w / 2 + rng.uniform(0, brick_w)  # (H, W)
    cols = shifted // brick_w
    mortar_px = max(1.0, brick_h * rng.uniform(0.08, 0.2))
    joint = (((ys + 0 * xs) % brick_h) < mortar_px) | ((shifted % brick_w) < mortar_px)
    base = _colour(rng, rng.uniform(0.25, 0.7))
    if rng.random() < 0.6:  # clay red-brown
        base = np.clip(base * np.array([1.3, 0.75, 0.6], np.float32), 0, 1)
    rows_full = np.broadcast_to(rows, shifted.shape).astype(np.int64)
    canvas = base + _cell_shades(rng, rows_full, cols.astype(np.int64), 0.06)
    mortar = _colour(rng, rng.uniform(0.4, 0.9), 0.05)
    return np.where(joint[..., None], mortar, canvas).astype(np.float32)


def siding(rng: np.random.Generator, height: int, width: int, unit: float) -> np.ndarray:
    """Horizontal boards, each lit from above with a dark shadow line under it."""
    ys, xs = _grid(height, width)
    board = max(3.0, unit * rng.uniform(0.25, 0.7))
    within = ((ys + rng.uniform(0, board)) % board) / board  # (H, 1) 0 at the top edge
    base = _colour(rng, rng.uniform(0.4, 0.95), 0.08)
    shade = 0.08 * (1 - within) - 0.25 * (within > 0.88)
    return np.broadcast_to(base + shade[..., None], (height, width, 3)).astype(np.float32)


def wood(rng: np.random.Generator, height: int, width: int, unit: float) -> np.ndarray:
    """Planks with grain along them, horizontal or vertical."""
    ys, xs = _grid(height, width)
    along, across = (xs, ys) if rng.random() < 0.5 else (ys, xs)
    plank = max(4.0, unit * rng.uniform(0.4, 1.2))
    index = (across + rng.uniform(0, plank)) // plank
    phase = rng.uniform(0, 6.3, size=64)[(index % 64).astype(np.int64)]
    grain = np.sin(across * rng.uniform(0.6, 1.5) + 0.15 * along * rng.uniform(0.1, 0.4) + phase)
    base = np.clip(_colour(rng, rng.uniform(0.2, 0.6), 0.05) * np.array([1.25, 0.95, 0.7],
                                                                         np.float32), 0, 1)
    gaps = ((across + rng.uniform(0, plank)) % plank) < 1
    canvas = base + (0.05 * grain)[..., None] + 0 * along[..., None]
    return np.where(gaps[..., None], base * 0.5, canvas).astype(np.float32)


def stone(rng: np.random.Generator, height: int, width: int, unit: float) -> np.ndarray:
    """Irregular stones (the nearest of a few random centres) with dark joints."""
    ys, xs = _grid(height, width)
    count = int(np.clip(height * width / max(unit * unit * 0.4, 1), 4, 40))
    centres_y = rng.uniform(0, height, size=count).astype(np.float32)
    centres_x = rng.uniform(0, width, size=count).astype(np.float32)
    distance = ((ys[..., None] - centres_y) ** 2 + (xs[..., None] - centres_x) ** 2)  # (H, W, n)
    nearest = np.sort(distance, axis=-1)[..., :2]
    joint = (np.sqrt(nearest[..., 1]) - np.sqrt(nearest[..., 0])) < rng.uniform(0.8, 1.6)
    shades = rng.normal(0, 0.08, size=count).astype(np.float32)
    base = _colour(rng, rng.uniform(0.3, 0.75), 0.06)
    canvas = base + shades[distance.argmin(-1)][..., None]
    return np.where(joint[..., None], base * 0.55, canvas).astype(np.float32)


def glass(rng: np.random.Generator, height: int, width: int, unit: float) -> np.ndarray:
    """A dark pane with a bright diagonal reflection."""
    ys, xs = _grid(height, width)
    base = _colour(rng, rng.uniform(0.05, 0.3), 0.05)
    slope = rng.uniform(-1.5, 1.5)
    band = np.abs(xs - slope * ys - rng.uniform(0, width)) < rng.uniform(2, 0.4 * width)
    return (base + 0.25 * band[..., None] * rng.uniform(0.3, 1.0)).astype(np.float32)


FACADES = {"stucco": stucco, "brick": brick, "siding": siding, "wood": wood, "stone": stone,
           "glass": glass}
# How often each appears; stucco and painted walls are the commonest behind numbers.
_FACADE_WEIGHTS = np.array([0.3, 0.2, 0.18, 0.12, 0.1, 0.1])


def facade(rng: np.random.Generator, height: int, width: int, unit: float) -> np.ndarray:
    """A wall of a randomly chosen kind, ``(H, W, 3)``; ``unit`` is the digit height in px."""
    kind = list(FACADES)[int(rng.choice(len(FACADES), p=_FACADE_WEIGHTS))]
    return np.ascontiguousarray(FACADES[kind](rng, height, width, unit))


def plaque(rng: np.random.Generator, canvas: np.ndarray, number_box: tuple[float, ...],
           field: np.ndarray) -> None:
    """A plate behind the number: rectangle, rounded or oval, maybe a border and screws.

    Args:
        canvas: ``(H, W, 3)``, drawn into.
        number_box: ``(left, top, right, bottom)`` of the digits in pixels.
        field: the plate's colour (contrasting with the digits').
    """
    height, width = canvas.shape[:2]
    left, top, right, bottom = number_box
    digit_h = bottom - top
    margin_x = digit_h * rng.uniform(0.15, 0.8)
    margin_y = digit_h * rng.uniform(0.1, 0.5)
    shape = rng.choice(3, p=[0.55, 0.25, 0.2])  # rectangle, rounded, oval
    if shape == 2:  # an oval must be wider to clear the digits' corners
        margin_x += (right - left) * 0.2
        margin_y += digit_h * 0.2
    x0, x1 = left - margin_x, right + margin_x
    y0, y1 = top - margin_y, bottom + margin_y
    ys, xs = _grid(height, width)
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = (x1 - x0) / 2, (y1 - y0) / 2
    if shape == 2:
        inside = ((xs - centre_x) / half_w) ** 2 + ((ys - centre_y) / half_h) ** 2  # (H, W)
    else:
        radius = 0.0 if shape == 0 else min(half_w, half_h) * rng.uniform(0.3, 0.8)
        dx = np.maximum(np.abs(xs - centre_x) - (half_w - radius), 0)
        dy = np.maximum(np.abs(ys - centre_y) - (half_h - radius), 0)
        inside = (np.sqrt(dx ** 2 + dy ** 2) / max(radius, 1e-3)) if radius else np.maximum(
            np.abs(xs - centre_x) / half_w, np.abs(ys - centre_y) / half_h)
    mask = inside <= 1
    canvas[mask] = field + rng.normal(0, 0.02, size=3).astype(np.float32)
    if rng.random() < 0.5:  # a border ring in another colour
        ring = (inside > 1) & (inside <= 1 + rng.uniform(0.05, 0.2))
        canvas[ring] = _colour(rng, rng.uniform(0, 1), 0.1)
    if rng.random() < 0.3 and shape != 2:  # screws near the ends
        for screw_x in (x0 + margin_x * 0.4, x1 - margin_x * 0.4):
            near = (xs - screw_x) ** 2 + (ys - centre_y) ** 2 <= max(1.0, digit_h * 0.06) ** 2
            canvas[near] = _colour(rng, rng.uniform(0.3, 0.8), 0.02)


def _box_outside(rng: np.random.Generator, height: int, width: int,
                 keep_out: tuple[float, ...], size: tuple[float, float]) -> tuple[int, int]:
    """Top-left of a ``size = (h, w)`` box that does not overlap ``keep_out`` if it can."""
    box_h, box_w = size
    for _ in range(6):
        top = rng.uniform(-box_h / 2, height - box_h / 2)
        left = rng.uniform(-box_w / 2, width - box_w / 2)
        if (left + box_w < keep_out[0] or left > keep_out[2] or top + box_h < keep_out[1]
                or top > keep_out[3]):
            return int(top), int(left)
    return int(top), int(left - width)  # off the canvas: drawn nowhere


def _rectangle(canvas: np.ndarray, top: int, left: int, bottom: int, right: int,
               colour: np.ndarray) -> None:
    height, width = canvas.shape[:2]
    canvas[max(0, top):max(0, min(height, bottom)), max(0, left):max(0, min(width, right))] = colour


def frame(rng: np.random.Generator, canvas: np.ndarray, keep_out, unit: float) -> None:
    """A door or window frame: a thick straight bar with a shaded edge, across the crop."""
    height, width = canvas.shape[:2]
    thickness = int(max(1, unit * rng.uniform(0.1, 0.5)))
    colour = _colour(rng, rng.uniform(0, 1), 0.15)
    if rng.random() < 0.5:
        col = int(rng.choice([rng.uniform(0, max(1, keep_out[0])),
                              rng.uniform(min(keep_out[2], width - 1), width)]))
        _rectangle(canvas, 0, col, height, col + thickness, colour)
        _rectangle(canvas, 0, col + thickness, height, col + thickness + 1, colour * 0.5)
    else:
        row = int(rng.choice([rng.uniform(0, max(1, keep_out[1])),
                              rng.uniform(min(keep_out[3], height - 1), height)]))
        _rectangle(canvas, row, 0, row + thickness, width, colour)
        _rectangle(canvas, row + thickness, 0, row + thickness + 1, width, colour * 0.5)


def lamp(rng: np.random.Generator, canvas: np.ndarray, keep_out, unit: float) -> None:
    """A wall lamp: a glowing blob with a dark fixture."""
    height, width = canvas.shape[:2]
    radius = unit * rng.uniform(0.3, 0.8)
    top, left = _box_outside(rng, height, width, keep_out, (2 * radius, 2 * radius))
    ys, xs = _grid(height, width)
    distance = ((ys - top - radius) ** 2 + (xs - left - radius) ** 2) / radius ** 2
    glow = np.exp(-distance)[..., None] * rng.uniform(0.5, 1.0)
    canvas += glow * (np.array([1.0, 0.95, 0.75], np.float32) - canvas)
    _rectangle(canvas, int(top + 1.6 * radius), int(left + 0.6 * radius),
               int(top + 2.2 * radius), int(left + 1.4 * radius), _colour(rng, 0.1, 0.05))


def mail_slot(rng: np.random.Generator, canvas: np.ndarray, keep_out, unit: float) -> None:
    """A letter box: a dark slot in a metal plate."""
    height, width = canvas.shape[:2]
    box_h, box_w = unit * rng.uniform(0.4, 0.8), unit * rng.uniform(1.5, 3.0)
    top, left = _box_outside(rng, height, width, keep_out, (box_h, box_w))
    _rectangle(canvas, top, left, int(top + box_h), int(left + box_w),
               _colour(rng, rng.uniform(0.5, 0.9), 0.1))
    pad_y, pad_x = int(box_h * 0.3), int(box_w * 0.1)
    _rectangle(canvas, top + pad_y, left + pad_x, int(top + box_h) - pad_y,
               int(left + box_w) - pad_x, _colour(rng, 0.05, 0.03))


def plant(rng: np.random.Generator, canvas: np.ndarray, keep_out, unit: float) -> None:
    """Leaves: a cluster of small green and dark ellipses from one side."""
    height, width = canvas.shape[:2]
    centre_x = rng.choice([rng.uniform(-0.2, 0.15), rng.uniform(0.85, 1.2)]) * width
    centre_y = rng.uniform(0.3, 1.1) * height
    for _ in range(int(rng.integers(6, 18))):
        leaf_x = centre_x + rng.normal(0, unit * 0.6)
        leaf_y = centre_y + rng.normal(0, unit * 0.6)
        radius_a, radius_b = unit * rng.uniform(0.1, 0.25), unit * rng.uniform(0.04, 0.1)
        angle = rng.uniform(0, np.pi)
        green = np.array([rng.uniform(0.05, 0.3), rng.uniform(0.25, 0.6), rng.uniform(0.05, 0.25)],
                         np.float32) * rng.uniform(0.4, 1.2)
        # Only the leaf's own bounding square is tested: a leaf is a few pixels wide.
        x0, x1 = max(0, int(leaf_x - radius_a)), min(width, int(leaf_x + radius_a) + 1)
        y0, y1 = max(0, int(leaf_y - radius_a)), min(height, int(leaf_y + radius_a) + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        ys, xs = _grid(y1 - y0, x1 - x0)
        dx, dy = xs + x0 - leaf_x, ys + y0 - leaf_y
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        inside = (u / radius_a) ** 2 + (v / radius_b) ** 2 <= 1
        canvas[y0:y1, x0:x1][inside] = np.clip(green, 0, 1)


def railing(rng: np.random.Generator, canvas: np.ndarray, keep_out, unit: float) -> None:
    """Evenly spaced vertical bars under a rail, across one side of the crop."""
    height, width = canvas.shape[:2]
    colour = _colour(rng, rng.uniform(0, 0.5), 0.05)
    spacing = max(3, int(unit * rng.uniform(0.25, 0.6)))
    bar = max(1, spacing // 4)
    start, stop = (0, int(keep_out[0])) if rng.random() < 0.5 else (int(keep_out[2]), width)
    for col in range(start + int(rng.integers(spacing)), stop, spacing):
        _rectangle(canvas, 0, col, height, col + bar, colour)


def window(rng: np.random.Generator, canvas: np.ndarray, keep_out, unit: float) -> None:
    """A window or a door's glazing beside the number: a framed pane with glazing bars, or
    a fanlight (a half disc with radial bars), whose straight bars look much like a 1."""
    height, width = canvas.shape[:2]
    box_h, box_w = unit * rng.uniform(1.0, 2.5), unit * rng.uniform(0.8, 2.0)
    top, left = _box_outside(rng, height, width, keep_out, (box_h, box_w))
    frame_colour = _colour(rng, rng.uniform(0.6, 1.0), 0.05)
    pane = _colour(rng, rng.uniform(0.1, 0.5), 0.1)
    bar = max(1, int(unit * 0.08))
    bottom, right = int(top + box_h), int(left + box_w)
    _rectangle(canvas, top - bar, left - bar, bottom + bar, right + bar, frame_colour)
    _rectangle(canvas, top, left, bottom, right, pane)
    if rng.random() < 0.5:  # a fanlight: radial bars from the middle of the bottom edge
        ys, xs = _grid(height, width)
        centre_x, radius = (left + right) / 2, min(box_w / 2, box_h)
        inside = ((xs - centre_x) ** 2 + (ys - bottom) ** 2 <= radius ** 2) & (ys <= bottom)
        angles = np.arctan2(bottom - ys, xs - centre_x)
        spokes = np.abs(((angles / np.pi * rng.integers(3, 7)) % 1) - 0.5) > 0.42
        canvas[inside & spokes] = frame_colour
    else:  # glazing bars: a grid of muntins
        for col in np.linspace(left, right, int(rng.integers(2, 4)) + 1)[1:-1]:
            _rectangle(canvas, top, int(col), bottom, int(col) + bar, frame_colour)
        for row in np.linspace(top, bottom, int(rng.integers(2, 4)) + 1)[1:-1]:
            _rectangle(canvas, int(row), left, int(row) + bar, right, frame_colour)


def sticker(rng: np.random.Generator, canvas: np.ndarray, keep_out, unit: float) -> None:
    """A small coloured label or sign."""
    height, width = canvas.shape[:2]
    box_h, box_w = unit * rng.uniform(0.3, 0.9), unit * rng.uniform(0.3, 1.2)
    top, left = _box_outside(rng, height, width, keep_out, (box_h, box_w))
    _rectangle(canvas, top, left, int(top + box_h), int(left + box_w),
               rng.random(3).astype(np.float32))


DISTRACTORS = {"frame": frame, "lamp": lamp, "mail_slot": mail_slot, "plant": plant,
               "railing": railing, "window": window, "sticker": sticker}


def add_distractors(rng: np.random.Generator, canvas: np.ndarray,
                    keep_out: tuple[float, ...], unit: float, mean_count: float = 1.2) -> None:
    """Draw a Poisson number of clutter objects around (not on) the number.

    Args:
        keep_out: ``(left, top, right, bottom)`` of the number, in pixels.
        unit: the digit height in pixels, which sets the clutter's scale.
    """
    kinds = list(DISTRACTORS.values())
    for _ in range(int(rng.poisson(mean_count))):
        kinds[int(rng.integers(len(kinds)))](rng, canvas, keep_out, unit)
