"""Reading house numbers from photos: load, squash, detect, read, draw.

A photo goes through exactly what a training image went through (decoded to RGB, then
``yolo_smol.data.prepare.squash`` to S x S, as in ``yolo_smol.data.prepare.prepare``), then
the model, then ``detect`` with the photo's own size (boxes come back in its pixels), then
one digit per place, read left to right.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from yolo_smol.config import input_size, load_config
from yolo_smol.data.prepare import squash
from yolo_smol.detection.metrics import read_number
from yolo_smol.detection.postprocess import Detections, detect, one_digit_per_place
from yolo_smol.device import evaluation_copy
from yolo_smol.errors import YoloSmolError
from yolo_smol.model.checkpoint import load_model
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.outputs import writable_folder

__all__ = ["ImageError", "IMAGE_SUFFIXES", "SHIPPED_WEIGHTS", "Reading", "DetectReport",
           "find_images", "load_image", "to_model_input", "read_numbers", "draw_reading",
           "detect_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# The detector `yolo-smol detect` uses without --weights: smol.json on a 128 x 64 input (see
# the README). It ships with the repository, beside the package.
SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "smol128x64.pt"


class ImageError(YoloSmolError):
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


def to_model_input(images: list[Image.Image], image_size: int | tuple[int, int],
                   ) -> torch.Tensor:
    """``(B, 3, H, W)`` float in [0, 1]: each photo squashed to the model input, as in
    training (``image_size``: a square's side, or ``(width, height)``)."""
    width, height = input_size(image_size)
    pixels = [torch.frombuffer(bytearray(squash(image, image_size).tobytes()),
                               dtype=torch.uint8) for image in images]
    batch = torch.stack(pixels).view(len(images), height, width, 3)  # (B, H, W, 3)
    return batch.permute(0, 3, 1, 2).float() / 255  # (B, 3, H, W)


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
            place (see :func:`yolo_smol.detection.postprocess.one_digit_per_place`).
    """
    model = evaluation_copy(model, device)  # the caller's model is left as it was
    size = model.config.image_size
    readings = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        with torch.inference_mode():  # cheaper than no_grad: no version counters either
            outputs = model(to_model_input(chunk, size).to(device))
        # Ordinary tensors again, so that what callers get back behaves as any tensor.
        outputs = [output.clone() for output in outputs]
        found = one_digit_per_place(
            detect([output.float().cpu() for output in outputs], model.anchors.cpu(), size,
                   confidence_threshold, iou_threshold,
                   original_sizes=[image.size for image in chunk]),
            confidence_threshold, overlap_threshold)
        for image, digits in zip(chunk, found, strict=True):
            centres = (digits.boxes_xyxy[:, 0] + digits.boxes_xyxy[:, 2]) / 2
            order = torch.argsort(centres, stable=True)  # left to right
            digits = Detections.of_image(digits.boxes_xyxy[order], digits.scores[order],
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


@dataclass(frozen=True)
class DetectReport:
    """What :func:`detect_images` read and wrote.

    Attributes:
        readings: ``(path, reading)`` for each photo read, in the order found.
        unreadable: one message per photo that could not be read (file and reason).
        weights: the checkpoint used.
        readings_json: where the readings were written.
    """

    readings: list[tuple[Path, Reading]]
    unreadable: list[str]
    weights: Path
    readings_json: Path


def detect_images(image_path: str | Path, save_dir: str | Path,
                  weights: str | Path | None = None, model_config: str | None = None,
                  confidence_threshold: float = 0.25, iou_threshold: float = 0.45,
                  device: torch.device | str = "cpu") -> DetectReport:
    """Everything ``yolo-smol detect`` does: read every photo, save annotated copies.

    Each photo goes to ``save_dir/<name>.detected.png`` with its digits boxed, and
    ``save_dir/readings.json`` lists every digit with its score and box (xyxy, the photo's
    pixels). A photo that cannot be read is listed in ``unreadable`` and the others are
    still read; the caller decides what that means for its exit status.

    Args:
        weights: a checkpoint; ``None`` takes the shipped detector.
        model_config: if given, the config the checkpoint must have been trained with.

    Raises:
        ImageError: ``image_path`` is neither a photo nor a folder holding any.
        CheckpointError, ConfigError: the weights or the config cannot be used.
    """
    save_dir = writable_folder(save_dir)  # before the work, so that none of it is lost
    model, weights = _detector(weights, model_config)
    photos, unreadable = _load_photos(find_images(image_path))
    readings = read_numbers(model, [image for _, image in photos], confidence_threshold,
                            iou_threshold, device=device)
    names = _output_names([path for path, _ in photos])
    for (_, image), reading, name in zip(photos, readings, names, strict=True):
        draw_reading(image, reading).save(save_dir / name)
    read = [(path, reading) for (path, _), reading in zip(photos, readings, strict=True)]
    readings_json = save_dir / "readings.json"
    readings_json.write_text(json.dumps(
        {"weights": str(weights), "confidence_threshold": confidence_threshold,
         "iou_threshold": iou_threshold,
         "readings": [_reading_record(path, reading, name)
                      for (path, reading), name in zip(read, names, strict=True)],
         "unreadable": unreadable}, indent=2) + "\n")
    return DetectReport(read, unreadable, weights, readings_json)


def _detector(weights: str | Path | None, model_config: str | None,
              ) -> tuple[YoloSmol, Path]:
    """The model to read with, and the checkpoint it came from (the shipped one when
    ``weights`` is None), checked against ``model_config`` when that is given."""
    if weights is None and not SHIPPED_WEIGHTS.is_file():
        raise ImageError(f"no --weights given, and the shipped {SHIPPED_WEIGHTS} is not "
                         "here (it comes with the repository); pass --weights PATH")
    weights = Path(weights) if weights is not None else SHIPPED_WEIGHTS
    model = load_model(weights)
    if model_config is not None and load_config(model_config) != model.config:
        raise ImageError(f"--model_config {model_config} is not the config {weights} was "
                         "trained with; leave --model_config out (the checkpoint carries "
                         "its config)")
    return model, weights


def _load_photos(paths: list[Path]) -> tuple[list[tuple[Path, Image.Image]], list[str]]:
    """The photos that can be read, and one message for each that cannot: one unreadable
    photo in a folder must not cost the others."""
    photos, unreadable = [], []
    for path in paths:
        try:
            photos.append((path, load_image(path)))
        except ImageError as error:
            unreadable.append(str(error))
    return photos, unreadable


def _output_names(paths: list[Path]) -> list[str]:
    """The annotated copy's file name for each photo: ``<stem>.detected.png``, or
    ``<stem>_<ext>.detected.png`` where photos share a stem (``a.png`` and ``a.jpg``), so
    that no copy overwrites another."""
    shared = Counter(path.stem for path in paths)
    return [f"{path.stem}.detected.png" if shared[path.stem] == 1
            else f"{path.stem}_{path.suffix.lstrip('.')}.detected.png" for path in paths]


def _reading_record(path: Path, reading: Reading, annotated: str) -> dict:
    detections = reading.detections
    digits = [{"digit": int(label), "score": round(float(score), 4),
               "box_xyxy": [round(value, 1) for value in box]}
              for box, score, label in zip(detections.boxes_xyxy.tolist(),
                                           detections.scores.tolist(),
                                           detections.labels.tolist(), strict=True)]
    return {"image": str(path), "annotated": annotated, "number": reading.number,
            "digits": digits}
