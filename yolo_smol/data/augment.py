"""Data augmentation on whole batches of uint8 tensors: colour jitter, scale and shift.

Working on a batch at once keeps augmentation far cheaper than a training step; working
per PIL image, as the seed did, costs more than the step itself. There are no horizontal
flips: a mirrored 2, 3, 4, 5, 7 or 9 is not a digit, and a mirrored number reads backwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from yolo_smol.boxes import clip_xyxy, cxcywh_to_xyxy, xyxy_to_cxcywh

__all__ = ["AugmentConfig", "color_jitter", "scale_translate", "augment_batch"]

# Luma weights (ITU-R BT.601) and the RGB -> YIQ matrix, in which a hue shift is a rotation.
_LUMA = torch.tensor([0.299, 0.587, 0.114])
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.596, -0.274, -0.322],
                            [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings; each image draws its own factors.

    Attributes:
        prob: probability that an image is colour-jittered (the seed's ``--augment_prob``),
            and, independently, that it is scaled and shifted.
        brightness, contrast, saturation: factors drawn from ``[1 - x, 1 + x]``.
        hue: shift drawn from ``[-hue, hue]`` turns of the colour wheel.
        scale: zoom factors drawn from ``[scale[0], scale[1]]``.
        translate: shifts drawn from ``[-translate, translate]`` fractions of the image.
        min_visible: boxes keeping less than this share of their area inside the image
            after the shift are dropped, as are boxes under one pixel.
    """

    prob: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.05
    scale: tuple[float, float] = (0.75, 1.25)
    translate: float = 0.1
    min_visible: float = 0.25


def _uniform(count: int, low: float, high: float, generator: torch.Generator | None,
             ) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator)


def color_jitter(images: torch.Tensor, config: AugmentConfig,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Jitter brightness, contrast, saturation and hue of ``images (B, 3, S, S)`` uint8.

    Each image is jittered with probability ``config.prob``; the others come back unchanged.
    """
    count = images.shape[0]
    chosen = torch.rand(count, generator=generator) < config.prob  # (B,)
    if not chosen.any():
        return images
    x = images[chosen].float() / 255  # (b, 3, S, S)
    b = x.shape[0]
    luma = _LUMA.view(1, 3, 1, 1)
    brightness = _uniform(b, 1 - config.brightness, 1 + config.brightness, generator)
    contrast = _uniform(b, 1 - config.contrast, 1 + config.contrast, generator)
    saturation = _uniform(b, 1 - config.saturation, 1 + config.saturation, generator)
    hue = _uniform(b, -config.hue, config.hue, generator) * 2 * torch.pi
    x = x * brightness.view(b, 1, 1, 1)
    mean_grey = (x * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)  # (b, 1, 1, 1)
    x = (x - mean_grey) * contrast.view(b, 1, 1, 1) + mean_grey
    grey = (x * luma).sum(1, keepdim=True)  # (b, 1, S, S)
    x = (x - grey) * saturation.view(b, 1, 1, 1) + grey
    # Hue: rotate the chroma plane (I, Q) of YIQ by each image's angle.
    cos, sin = torch.cos(hue), torch.sin(hue)
    rotation = torch.zeros(b, 3, 3)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    colour = _YIQ_TO_RGB @ rotation @ _RGB_TO_YIQ  # (b, 3, 3)
    x = torch.einsum("bij,bjhw->bihw", colour, x)
    out = images.clone()
    out[chosen] = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return out


def scale_translate(images: torch.Tensor, targets: torch.Tensor, config: AugmentConfig,
                    generator: torch.Generator | None = None, fill: int = 114,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Zoom and shift each image about its centre, moving its boxes with it.

    A point at fraction ``p`` of the image goes to ``(p - 0.5) * scale + 0.5 + shift``.
    Uncovered pixels get the grey ``fill``.

    Args:
        images: ``(B, 3, S, S)`` uint8.
        targets: ``(T, 6)`` rows ``[image_index, label, cx, cy, w, h]``, cxcywh fractions.

    Returns:
        The moved images and targets; boxes are clipped to the image, and dropped where
        less than ``config.min_visible`` of their area or under one pixel remains.
    """
    count, _, height, width = images.shape
    chosen = torch.rand(count, generator=generator) < config.prob  # (B,)
    scale = torch.ones(count)
    shift = torch.zeros(count, 2)
    scale[chosen] = _uniform(int(chosen.sum()), *config.scale, generator)
    shift[chosen] = _uniform(int(chosen.sum()) * 2, -config.translate, config.translate,
                             generator).view(-1, 2)
    out = images.clone()
    if chosen.any():
        out[chosen] = _zoom_and_shift(images[chosen], scale[chosen], shift[chosen], fill)
    if targets.numel() == 0:
        return out, targets
    return out, _move_boxes(targets, scale, shift, config.min_visible, width, height)


def _zoom_and_shift(images: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor,
                    fill: int) -> torch.Tensor:
    """``(n, 3, H, W)`` uint8 images zoomed by ``scale (n,)`` about their centres and moved
    by ``shift (n, 2)`` (fractions of the image), uncovered pixels ``fill``."""
    # affine_grid maps output to input in [-1, 1] coordinates: n_in = (n_out - 2 t) / s.
    theta = torch.zeros(images.shape[0], 2, 3)
    inverse = 1 / scale
    theta[:, 0, 0], theta[:, 1, 1] = inverse, inverse
    theta[:, :, 2] = -2 * shift * inverse[:, None]
    source = images.float() - fill  # so that the zero padding of grid_sample is the fill
    grid = F.affine_grid(theta, list(source.shape), align_corners=False)
    moved = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False) + fill
    return moved.clamp(0, 255).round().to(torch.uint8)


def _move_boxes(targets: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor,
                min_visible: float, width: int, height: int) -> torch.Tensor:
    """The ``(T, 6)`` targets moved with their images (``scale (B,)``, ``shift (B, 2)``),
    clipped, and dropped where less than ``min_visible`` of their area or under one pixel
    of width or height remains."""
    image_index = targets[:, 0].long()
    box_scale, box_shift = scale[image_index, None], shift[image_index]  # (T, 1), (T, 2)
    centres = (targets[:, 2:4] - 0.5) * box_scale + 0.5 + box_shift  # (T, 2)
    sizes = targets[:, 4:6] * box_scale  # (T, 2)
    moved_xyxy = cxcywh_to_xyxy(torch.cat([centres, sizes], dim=1))  # (T, 4)
    visible = xyxy_to_cxcywh(clip_xyxy(moved_xyxy, 1.0, 1.0))
    area_kept = (visible[:, 2] * visible[:, 3]) / (sizes[:, 0] * sizes[:, 1]).clamp(min=1e-12)
    keep = ((area_kept >= min_visible) & (visible[:, 2] * width >= 1)
            & (visible[:, 3] * height >= 1))
    return torch.cat([targets[:, :2], visible], dim=1)[keep]  # (T', 6)


def augment_batch(images: torch.Tensor, targets: torch.Tensor, config: AugmentConfig,
                  generator: torch.Generator | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour jitter, then scale and shift: ``(B, 3, S, S)`` uint8 and ``(T, 6)`` targets."""
    images = color_jitter(images, config, generator)
    return scale_translate(images, targets, config, generator)
