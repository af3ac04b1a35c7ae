"""The looks the Detector takes at a photo: where, at which sizes, and one look over a batch.

A look squashes a part of a photo (a :class:`Region`: the whole photo, a search window, or
the second look's crop) to the model's input exactly as training squashed its images, runs
the model, and decodes what it found into the photo's own pixels. The whole photo is read
at a few input sizes (test-time scale augmentation, :func:`input_sizes`), each with the
anchors that keep their trained size in pixels (:func:`anchors_at`); a number too small
for the whole-photo look is searched for in zoomed windows (:func:`search_windows`); and a
number found is read again in a crop that frames it as SVHN frames its numbers
(:func:`second_look_box`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from yolo_smol.config import LIMITS, ModelConfig, input_size
from yolo_smol.data import svhn
from yolo_smol.data.prepare import squash
from yolo_smol.detection.postprocess import Detections, detect, one_digit_per_place
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.reading.options import ReadingError, ReadingOptions
from yolo_smol.reading.rules import Reading, fuse_sizes, left_to_right, merge_looks, on_the_line

__all__ = ["Region", "to_model_input", "input_sizes", "anchors_at", "SEARCH_ZOOMS",
           "search_windows", "FRAMED_DIGIT_HEIGHT", "FRAMED_ASPECT", "second_look_box",
           "look", "look_instead", "in_photo_pixels", "shifted"]

# How far the search zooms in, in turn, on photos where the whole-photo look found nothing.
SEARCH_ZOOMS = (2, 3)
# SVHN's framing of a number (the published medians of its training images): the digits'
# height over the image's height, and the image's width over its height.
FRAMED_DIGIT_HEIGHT = svhn.FIGURES["box height / image height"][2]  # 0.66
FRAMED_ASPECT = svhn.FIGURES["image width / height"][2]  # 2.23
# Resizing is shared out over threads from about this many source pixels per thread: below
# it, starting threads costs more than they save (SVHN crops); a phone photo is 12 million.
_PIXELS_PER_THREAD = 1_000_000


@dataclass(frozen=True)
class Region:
    """A part of a photo to look at: ``box`` ``(left, top, right, bottom)`` in its pixels,
    or the whole photo (None). Cropped only when squashed, one at a time: the 34 search
    windows of a photo hold 2.6 times its pixels."""

    photo: Image.Image
    box: tuple[int, int, int, int] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        if self.box is None:
            return self.photo.size
        return self.box[2] - self.box[0], self.box[3] - self.box[1]

    def pixels(self) -> Image.Image:
        return self.photo if self.box is None else self.photo.crop(self.box)


def to_model_input(images: Sequence[Image.Image | Region], image_size: int | tuple[int, int],
                   ) -> torch.Tensor:
    """``(B, 3, H, W)`` float in [0, 1]: each photo (or :class:`Region`) squashed to the
    model input, as in training (``image_size``: a square's side, or ``(width, height)``).

    Raises:
        ReadingError: an ``image_size`` that is not one or two whole numbers from 1 to 2,048.
    """
    width, height = _checked_size(image_size)
    batch = np.empty((len(images), height, width, 3), dtype=np.uint8)  # (B, H, W, 3)

    def fill(index: int) -> None:
        item = images[index]
        batch[index] = np.asarray(squash(item.pixels() if isinstance(item, Region) else item,
                                         image_size))

    # LANCZOS resizing costs about half as much as the forward pass; Pillow releases the
    # GIL while it resizes, so threads share it out over the cores the forward pass uses.
    pixels = sum(math.prod(item.size) for item in images)
    workers = min(torch.get_num_threads(), len(images),
                  max(len(images) // 8, pixels // _PIXELS_PER_THREAD))
    if workers > 1:
        pool = ThreadPoolExecutor(workers)
        try:
            list(pool.map(fill, range(len(images))))
        finally:  # on Ctrl-C, the photos not begun are dropped, not resized first
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        for index in range(len(images)):
            fill(index)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255  # (B, 3, H, W)


def _checked_size(image_size: Any) -> tuple[int, int]:
    """``(width, height)`` of a model input size, or a :class:`ReadingError`."""
    try:
        width, height = input_size(image_size)
    except (TypeError, ValueError):
        width = height = 0
    if isinstance(image_size, bool) or not (
            isinstance(image_size, (int, tuple, list)) and 1 <= width <= LIMITS["image side"]
            and 1 <= height <= LIMITS["image side"]):
        raise ReadingError(f"image_size: {image_size!r} must be a side or (width, height), "
                           f"whole numbers from 1 to {LIMITS['image side']:,}")
    return width, height


def input_sizes(config: ModelConfig, scales: Sequence[float] | None = None,
                ) -> list[tuple[int, int]]:
    """The ``(width, height)`` inputs, in pixels, to read a photo at for ``scales`` (by
    default the Detector's, :attr:`ReadingOptions.scales`).

    A photo squashed to a slightly smaller or larger input shows its digits a few pixels
    smaller or larger, and the network finds a somewhat different set of them. Each side is
    ``scale`` times the model's own, rounded to the nearest multiple of the backbone's total
    stride (the input must divide into its coarsest grid) and at least one stride. Sizes
    that round to one already listed are left out: the book's 32 px model reads at 32 alone
    for the default scales (28 and 36 round back to 32).

    Raises:
        ReadingError: no scale, or one that is not a number above 0 and at most
            :data:`~yolo_smol.reading.options.MAX_SCALE`.
    """
    scales = ReadingOptions().scales if scales is None else (
        ReadingOptions(scales=tuple(scales)).scales)  # checked once, there
    stride = 2 ** config.num_downsamples
    sizes: list[tuple[int, int]] = []
    for scale in scales:
        size = tuple(max(stride, round(side * scale / stride) * stride)
                     for side in config.input_size)
        if size not in sizes:
            sizes.append(size)
    return sizes


def anchors_at(anchors: torch.Tensor, trained_size: tuple[int, int],
               size: tuple[int, int]) -> torch.Tensor:
    """``(L, A, 2)`` anchors ``(w, h)``, fractions of an input of ``size`` ``(width,
    height)``, that are as many pixels as ``anchors`` are at ``trained_size``.

    The network learned box sizes in pixels of its input; the anchors are stored as
    fractions of the image, which at another input size are other pixel sizes. Decoded with
    the stored fractions, every box read at 144 x 72 would come out 1.125 times too large.
    """
    return anchors * anchors.new_tensor([trained_size[0] / size[0],
                                         trained_size[1] / size[1]])


def search_windows(photo_size: tuple[int, int], zoom: int) -> list[tuple[int, int, int, int]]:
    """Overlapping crops ``(left, top, right, bottom)`` that zoom ``zoom`` times into a photo
    of ``photo_size (width, height)``: each ``1/zoom`` of its width and height, a window
    every half window (``2 * zoom - 1`` along each side), so that anything up to half a
    window wide and tall lies whole inside one of them. Row by row, top left first."""
    if isinstance(zoom, bool) or not isinstance(zoom, int) or not 2 <= zoom <= 16:
        raise ReadingError(f"zoom: {zoom!r} must be a whole number from 2 to 16")
    width, height = photo_size
    per_side = 2 * zoom - 1
    window_width, window_height = width / zoom, height / zoom
    return [(round(left), round(top), round(left + window_width), round(top + window_height))
            for top in (row * (height - window_height) / (per_side - 1)
                        for row in range(per_side))
            for left in (column * (width - window_width) / (per_side - 1)
                         for column in range(per_side))]


def second_look_box(boxes_xyxy: torch.Tensor, photo_size: tuple[int, int],
                    ) -> tuple[int, int, int, int] | None:
    """The crop of a photo, ``(left, top, right, bottom)`` in pixels, that frames the
    digits ``boxes_xyxy (D, 4)`` as SVHN frames its numbers; None when there are no digits,
    or when that crop is most of the photo anyway (over 80 % of its width and height)."""
    if boxes_xyxy.shape[0] == 0:
        return None
    width, height = photo_size
    x0, y0 = boxes_xyxy[:, :2].min(dim=0).values.tolist()
    x1, y1 = boxes_xyxy[:, 2:].max(dim=0).values.tolist()
    crop_height = (y1 - y0) / FRAMED_DIGIT_HEIGHT
    crop_width = max(x1 - x0 + crop_height - (y1 - y0), FRAMED_ASPECT * crop_height)
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    box = (max(0, round(centre_x - crop_width / 2)), max(0, round(centre_y - crop_height / 2)),
           min(width, round(centre_x + crop_width / 2)),
           min(height, round(centre_y + crop_height / 2)))
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return None
    if box[2] - box[0] > 0.8 * width and box[3] - box[1] > 0.8 * height:
        return None
    return box


def look(model: YoloSmol, regions: Sequence[Region], sizes: Sequence[tuple[int, int]],
         confidence_threshold: float, options: ReadingOptions,
         minimum_score: float | None = None,
         ) -> tuple[list[Reading], list[Detections] | None]:
    """One look at each region (``model`` in eval mode), in batches of
    ``options.batch_size``, at each input size of ``sizes`` (``(width, height)``): the
    readings, in each region's own pixels, and, when ``minimum_score`` is given, every
    detection scoring at least that (after NMS) per region."""
    readings: list[Reading] = []
    scored: list[Detections] | None = None if minimum_score is None else []
    for start in range(0, len(regions), options.batch_size):
        batch = regions[start:start + options.batch_size]
        batch_readings, batch_scored = _look_at_batch(model, batch, sizes,
                                                      confidence_threshold, options,
                                                      minimum_score)
        readings += batch_readings
        if scored is not None:
            scored += batch_scored
    return readings, scored


def _look_at_batch(model: YoloSmol, regions: Sequence[Region], sizes: Sequence[tuple[int, int]],
                   confidence_threshold: float, options: ReadingOptions,
                   minimum_score: float | None,
                   ) -> tuple[list[Reading], list[Detections] | None]:
    """:func:`look` for one batch."""
    # Each size's digits are read down to the confidence threshold shared out over the sizes
    # (a digit must average the threshold over them), and scored down to minimum_score.
    floor = confidence_threshold / len(sizes)
    # Greedy NMS never lets a lower score suppress a higher one, so detecting down to
    # minimum_score leaves the digits above the floor as they were.
    lowest = floor if minimum_score is None else min(minimum_score, floor)
    parts = [_found_at(model, regions, size, lowest, options.iou_threshold) for size in sizes]
    found = _fused(parts, options.iou_threshold, floor)
    scored = None if minimum_score is None else (
        found if lowest == floor else _fused(parts, options.iou_threshold, lowest))
    # The reading's steps for the whole batch at once (per photo, their dozen small
    # operations cost more than the rules themselves): one digit per place, the digits on
    # the number's line, left to right.
    digits = one_digit_per_place(found, confidence_threshold, options.overlap_threshold)
    digits = left_to_right(digits.select(on_the_line(digits)))
    labels, start, readings = digits.labels.tolist(), 0, []
    for region, count, region_digits in zip(regions, digits.counts.tolist(), digits,
                                            strict=True):
        readings.append(Reading("".join(map(str, labels[start:start + count])),
                                region_digits, region.size))
        start += count
    return readings, (None if scored is None else list(scored))


def _fused(parts: list[Detections], iou_threshold: float, floor: float) -> Detections:
    """The digits found at each input size (``parts``, one batch of regions each) scoring at
    least ``floor``, region by region fused into one set (:func:`fuse_sizes`), and kept where
    their mean score is at least ``floor`` too."""
    parts = [part.select(part.scores >= floor) for part in parts]
    if len(parts) == 1:
        return parts[0]
    fused = Detections.cat([fuse_sizes([part[index] for part in parts], iou_threshold)
                            for index in range(parts[0].num_images)])
    return fused.select(fused.scores >= floor)


def _found_at(model: YoloSmol, regions: Sequence[Region], size: tuple[int, int],
              lowest: float, iou_threshold: float) -> Detections:
    """The detections scoring at least ``lowest`` with the regions squashed to ``size``
    ``(width, height)``, after class-aware NMS, in the regions' pixels."""
    inputs = to_model_input(regions, size).to(model.anchors.device)
    with torch.inference_mode():  # cheaper than no_grad: no version counters either
        outputs = model(inputs)
    # Ordinary tensors again, so that what callers get back behaves as any tensor.
    outputs = [output.float().cpu().clone() for output in outputs]
    # At another size than the model's own, the anchors that keep their trained pixel size.
    anchors = anchors_at(model.anchors.cpu(), model.config.input_size, size)
    return detect(outputs, anchors, size, lowest, iou_threshold,
                  original_sizes=[region.size for region in regions])


def look_instead(model: YoloSmol, regions: dict[int, list[Region]], readings: list[Reading],
                 scored: list[Detections] | None, confidence_threshold: float,
                 options: ReadingOptions, minimum_score: float | None = None,
                 ) -> tuple[list[Reading], list[Detections] | None]:
    """Look again at some photos, in ``regions`` (a photo's index in ``readings`` -> its
    regions), at the model's own input size: of a photo's regions, the one whose digits
    score best on average reads the photo instead, where it reads a number; every region's
    scored digits join the photo's (:func:`merge_looks`: a digit two looks found counts
    once). Returns new lists; those given are left as they were."""
    flat = [region for photo_regions in regions.values() for region in photo_regions]
    found, found_scored = look(model, flat, [model.config.input_size], confidence_threshold,
                               options, minimum_score)
    readings, scored = list(readings), None if scored is None else list(scored)
    position = 0
    for index, photo_regions in regions.items():
        tries = range(position, position + len(photo_regions))
        best = max(tries, key=lambda tried: _mean_score(found[tried]))
        if found[best].number:
            readings[index] = in_photo_pixels(found[best], flat[best])
        if scored is not None:
            scored[index] = merge_looks([scored[index], *(
                shifted(found_scored[tried], flat[tried].box) for tried in tries)],
                options.iou_threshold)
        position += len(photo_regions)
    return readings, scored


def _mean_score(reading: Reading) -> float:
    """How sure a reading is: its digits' mean score, 0 when it found none."""
    return reading.detections.scores.mean().item() if reading.number else 0.0


def in_photo_pixels(reading: Reading, region: Region) -> Reading:
    """A reading of ``region``, moved to its photo's pixels."""
    if region.box is None:
        return reading
    return Reading(reading.number, shifted(reading.detections, region.box), region.photo.size)


def shifted(found: Detections, box: tuple[int, int, int, int] | None) -> Detections:
    """One image's detections in the crop ``box`` (left, top, right, bottom) of a photo,
    moved to the photo's pixels."""
    if box is None:
        return found
    left, top = box[:2]
    shift = torch.tensor([left, top, left, top], dtype=torch.float32)
    return Detections.of_image(found.boxes_xyxy + shift, found.scores, found.labels)
