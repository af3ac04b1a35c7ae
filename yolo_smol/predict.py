"""Reading house numbers from photos: load, squash, detect, read, draw.

A photo goes through exactly what a training image went through (decoded to RGB, then
``yolo_smol.data.squash`` to S x S, as in ``yolo_smol.data.prepare``), then the model, then
``detect`` with the photo's own size (boxes come back in its pixels), then one digit per
place, read left to right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from yolo_smol.data import squash
from yolo_smol.metrics import read_number
from yolo_smol.model import YoloSmol
from yolo_smol.postprocess import Detections, detect, one_digit_per_place

__all__ = ["ImageError", "IMAGE_SUFFIXES", "SHIPPED_WEIGHTS", "Reading", "find_images",
           "load_image", "to_model_input", "read_numbers", "draw_reading"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# The detector `yolo-smol detect` uses without --weights: smol.json at 64 px, the better of
# the two shipped models (see the README). It ships with the repository, beside the package.
SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "smol64.pt"


class ImageError(ValueError):
    """A photo that cannot be read; the message names the file and the reason."""


@dataclass(frozen=True)
class Reading:
    """What the detector read in one photo.

    Attributes:
        number: the digits left to right ("" when none was found).
        detections: one digit per place, left to right; ``boxes_xyxy (D, 4)`` in the
            photo's pixels, ``scores (D,)``, ``labels (D,)``.
        size: the photo's ``(width, height)`` in pixels.
    """

    number: str
    detections: Detections
    size: tuple[int, int]


def find_images(path: str | Path) -> list[Path]:
    """``path`` itself if it is a file, else the images directly inside the folder, sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ImageError(f"{path}: no such file or folder")
    found = sorted(child for child in path.iterdir()
                   if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise ImageError(f"{path}: the folder holds no images (looked for "
                         f"{', '.join(IMAGE_SUFFIXES)})")
    return found


def load_image(path: str | Path) -> Image.Image:
    """The photo at ``path`` decoded to RGB (the whole file is read now, not lazily)."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        reason = "no such file"
    except UnidentifiedImageError:
        reason = "not in any image format Pillow knows"
    except (OSError, ValueError) as error:  # truncated or damaged image data
        reason = str(error)
    raise ImageError(f"{path}: cannot be read as an image: {reason}")


def to_model_input(images: list[Image.Image], image_size: int) -> torch.Tensor:
    """``(B, 3, S, S)`` float in [0, 1]: each photo squashed to S x S as in training."""
    pixels = [torch.frombuffer(bytearray(squash(image, image_size).tobytes()),
                               dtype=torch.uint8) for image in images]
    batch = torch.stack(pixels).view(len(images), image_size, image_size, 3)  # (B, S, S, 3)
    return batch.permute(0, 3, 1, 2).float() / 255  # (B, 3, S, S)


def read_numbers(model: YoloSmol, images: list[Image.Image],
                 confidence_threshold: float = 0.25, iou_threshold: float = 0.45,
                 overlap_threshold: float = 0.3, batch_size: int = 64,
                 device: torch.device | str = "cpu") -> list[Reading]:
    """The house number in each photo, and the digits it was read from.

    Args:
        model: a trained model (``yolo_smol.load_model``).
        images: RGB photos of any size.
        confidence_threshold: keep digits scoring at least this.
        iou_threshold: class-aware NMS threshold.
        overlap_threshold: detections of any class overlapping more than this are one
            place (see :func:`yolo_smol.postprocess.one_digit_per_place`).
    """
    model = model.to(device).eval()
    size = model.config.image_size
    readings = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        with torch.no_grad():
            outputs = model(to_model_input(chunk, size).to(device))
        found = detect([output.float().cpu() for output in outputs], model.anchors.cpu(),
                       size, confidence_threshold, iou_threshold,
                       original_sizes=[image.size for image in chunk])
        for image, digits in zip(chunk, one_digit_per_place(found, confidence_threshold,
                                                             overlap_threshold), strict=True):
            centres = (digits.boxes_xyxy[:, 0] + digits.boxes_xyxy[:, 2]) / 2
            order = torch.argsort(centres, stable=True)  # left to right
            digits = Detections(digits.boxes_xyxy[order], digits.scores[order],
                                digits.labels[order])
            readings.append(Reading(read_number(digits.boxes_xyxy, digits.labels), digits,
                                    image.size))
    return readings


def draw_reading(image: Image.Image, reading: Reading) -> Image.Image:
    """A copy of ``image`` with each digit's box, label and score, and the number above.

    Small photos are enlarged first (SVHN crops are often 30 px tall), so the labels stay
    legible; boxes are scaled with them.
    """
    scale = max(1, round(240 / max(1, image.height)))
    canvas = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    text_size = max(12, canvas.height // 14)
    font = ImageFont.load_default(size=text_size)  # Pillow's scalable built-in font
    banner = text_size + 10
    framed = Image.new("RGB", (canvas.width, canvas.height + banner), "white")
    framed.paste(canvas, (0, banner))
    draw = ImageDraw.Draw(framed)
    for box, score, label in zip(reading.detections.boxes_xyxy.tolist(),
                                 reading.detections.scores.tolist(),
                                 reading.detections.labels.tolist(), strict=True):
        left, top, right, bottom = (value * scale for value in box)
        draw.rectangle((left, top + banner, right, bottom + banner), outline="red", width=2)
        draw.text((left + 2, top + banner + 2), f"{label} {score:.2f}", fill="yellow",
                  font=font, stroke_width=1, stroke_fill="black")
    draw.text((4, 5), f"read: {reading.number or '(nothing)'}", fill="black", font=font)
    return framed
