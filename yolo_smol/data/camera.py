"""Light and the camera on a generated street scene: a colour cast, hard shadows, washed-out
scenes, a light gradient, sensor noise, low resolution, defocus and motion blur.

Each function draws its choices from the image's NumPy generator, in a fixed order, so an
image is the same every time it is made. JPEG compression, the last step, comes in
:func:`yolo_smol.data.synthetic.render_image`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["SHADOW_SHARE", "LOW_CONTRAST_SHARE", "LOW_RESOLUTION_SHARE", "lighting",
           "capture", "camera_effects"]

# How often a hard shadow, a washed-out scene, a low-resolution crop.
SHADOW_SHARE = 0.2
LOW_CONTRAST_SHARE = 0.15
LOW_RESOLUTION_SHARE = 0.3


def lighting(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """Daylight on ``canvas (H, W, 3)`` in [0, 1] (modified): a colour cast, now and then a
    hard shadow edge across the crop, and now and then a washed-out, low-contrast scene."""
    height, width = canvas.shape[:2]
    canvas *= np.clip(1 + rng.normal(0, 0.07, size=3), 0.7, 1.3).astype(np.float32)
    if rng.random() < SHADOW_SHARE:  # a straight shadow edge (an eave, a pole, a tree)
        ys = np.arange(height, dtype=np.float32)[:, None]
        xs = np.arange(width, dtype=np.float32)[None, :]
        angle = rng.uniform(0, np.pi)
        side = (xs - width / 2) * np.cos(angle) + (ys - height / 2) * np.sin(angle)
        shaded = side > rng.normal(0, 0.3) * max(height, width)
        canvas[shaded] *= rng.uniform(0.35, 0.75)
    if rng.random() < LOW_CONTRAST_SHARE:
        mean = canvas.mean(axis=(0, 1), keepdims=True)
        canvas += (mean - canvas) * rng.uniform(0.2, 0.45)


def capture(rng: np.random.Generator, image: Image.Image) -> Image.Image:
    """What the camera and the crop did: low resolution enlarged again, defocus or motion
    blur. (Noise and JPEG come in :func:`camera_effects` and ``synthetic.render_image``.)"""
    width, height = image.size
    if rng.random() < LOW_RESOLUTION_SHARE:  # a far, small number, enlarged when cropped
        factor = rng.uniform(0.3, 0.7)
        small = (max(4, round(width * factor)), max(4, round(height * factor)))
        image = image.resize(small, Image.BILINEAR).resize((width, height), Image.BILINEAR)
    kind = rng.random()
    if kind < 0.45:
        blur = rng.uniform(0, 0.9) * height / 40
        if blur > 0.25:
            # A box blur costs the same at any radius; at these sizes it reads as defocus.
            image = image.filter(ImageFilter.BoxBlur(blur))
    elif kind < 0.6:  # motion blur along a random direction: the mean of shifted copies
        pixels = np.asarray(image, dtype=np.float32)
        length = rng.uniform(1, 0.08 * height + 2)
        angle = rng.uniform(0, np.pi)
        steps = max(2, int(length))
        total = np.zeros_like(pixels)
        for step in np.linspace(-length / 2, length / 2, steps):
            total += np.roll(pixels, (round(step * np.sin(angle)), round(step * np.cos(angle))),
                             axis=(0, 1))
        image = Image.fromarray((total / steps).astype(np.uint8), "RGB")
    return image


def camera_effects(rng: np.random.Generator, canvas: np.ndarray) -> Image.Image:
    """Light, sensor noise and the camera's blur on ``canvas (H, W, 3)`` in [0, 1]
    (modified): a light gradient, :func:`lighting`, noise, then :func:`capture`."""
    height, width = canvas.shape[:2]
    lighting(rng, canvas)
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None, None]
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :, None]
    light = (rng.uniform(0.7, 1.2) * 255) * (1 + rng.uniform(-0.5, 0.5) * xs
                                             + rng.uniform(-0.5, 0.5) * ys)
    canvas *= light
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * (rng.uniform(0, 0.05) * 255)
    pixels = np.clip(canvas, 0, 255, out=canvas).astype(np.uint8)
    return capture(rng, Image.fromarray(pixels, "RGB"))
