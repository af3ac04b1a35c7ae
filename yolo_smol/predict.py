"""Reading house numbers from photos: load, squash, detect, read, draw.

A photo goes through exactly what a training image went through (decoded to RGB, then
``yolo_smol.data.prepare.squash`` to S x S, as in ``yolo_smol.data.prepare.prepare``), then
the model, then ``detect`` with the photo's own size (boxes come back in its pixels), then
one digit per place, the digits on the number's row (``on_one_line``, for a whole batch at
once: ``on_the_line``), read left to right;
the ``Detector`` then looks again in a crop framed around what it found.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from yolo_smol.config import input_size, load_config
from yolo_smol.data import svhn
from yolo_smol.data.prepare import squash
from yolo_smol.detection.postprocess import (
    Detections,
    demote_other_classes,
    detect,
    fuse_sizes,
    left_to_right,
    merge_looks,
    on_the_line,
    one_digit_per_place,
)
from yolo_smol.detection.scales import SCALES, anchors_at, input_sizes
from yolo_smol.device import choose_device
from yolo_smol.model.backbone import fold_batch_norms
from yolo_smol.model.checkpoint import load_model
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.outputs import writable_folder
from yolo_smol.photos import IMAGE_SUFFIXES, ImageError, as_photo, find_images, load_image

__all__ = ["ImageError", "IMAGE_SUFFIXES", "SHIPPED_WEIGHTS", "shipped_weights", "Reading",
           "Detector", "DetectReport", "find_images", "load_image", "to_model_input",
           "read_numbers", "draw_reading", "detect_images", "only_sure_digits",
           "without_stray_ends", "SURE_FRACTION", "MAX_END_GAP"]

# The detectors that ship inside the package (yolo_smol/weights, with their model cards).
# smol128x64 is the one `yolo-smol detect` and Detector.from_pretrained() use by default:
# the book's network on a 128 x 64 input; smol is the same network at 32 px.
SHIPPED_NAMES = ("smol128x64", "smol")
# A reading keeps the digits scoring at least this fraction of its best (only_sure_digits):
# the largest of 0.3 / 0.4 / 0.5 that reads no fewer generated test photos exactly than
# reading every digit (the shipped detector on 1,000 photos of seeds 5 and 6: 0.721 and
# 0.679 with every digit; 0.724 and 0.679 at 0.4; 0.719 and 0.670 at 0.5).
SURE_FRACTION = 0.4
# A digit at either end of a reading set apart from its neighbour by more than this many
# digit heights is dropped (without_stray_ends). SVHN's gaps between neighbouring digits are
# -0.15 to 0.14 digit heights (5th to 95th percentile). Picked on generated test images:
# of 0.3 / 0.4 / 0.5 / 0.6 / 0.75, the value that reads the most exactly on three sets of
# 1,000 (seeds 5, 6, 7: 0.724 / 0.679 / 0.694 keeping every end digit; 0.729 / 0.682 / 0.697 at
# 0.4; 0.728 / 0.682 / 0.696 at 0.5).
MAX_END_GAP = 0.4
# What the Detector reads with, as readings.json records it.
READING_OPTIONS = ("iou_threshold", "scales", "second_look", "search", "sure_fraction",
                   "max_end_gap")


def shipped_weights(name: str = "smol128x64") -> Path:
    """The path of a detector shipped inside the package (found with importlib.resources,
    so it works from any folder after ``pip install``)."""
    if name not in SHIPPED_NAMES:
        raise ImageError(f"{name!r} is not a shipped detector; use one of "
                         f"{', '.join(SHIPPED_NAMES)}, or the path of a checkpoint")
    return Path(str(resources.files("yolo_smol") / "weights" / f"{name}.pt"))


SHIPPED_WEIGHTS = shipped_weights()


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


def to_model_input(images: list[Image.Image], image_size: int | tuple[int, int],
                   ) -> torch.Tensor:
    """``(B, 3, H, W)`` float in [0, 1]: each photo squashed to the model input, as in
    training (``image_size``: a square's side, or ``(width, height)``)."""
    width, height = input_size(image_size)
    batch = np.empty((len(images), height, width, 3), dtype=np.uint8)  # (B, H, W, 3)

    def fill(index: int) -> None:
        batch[index] = np.asarray(squash(images[index], image_size))

    # LANCZOS resizing costs about half as much as the forward pass; Pillow releases the
    # GIL while it resizes, so threads share it out over the cores the forward pass uses.
    workers = min(torch.get_num_threads(), len(images) // 8)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fill, range(len(images))))
    else:
        for index in range(len(images)):
            fill(index)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255  # (B, 3, H, W)


def read_numbers(model: YoloSmol, images: list[Image.Image],
                 confidence_threshold: float = 0.25, iou_threshold: float = 0.45,
                 overlap_threshold: float = 0.3, batch_size: int = 64,
                 device: torch.device | str = "cpu") -> list[Reading]:
    """The house number in each photo, and the digits it was read from.

    Args:
        model: a trained model (``yolo_smol.load_model``); it is not changed.
        images: RGB photos of any size.
        confidence_threshold: keep digits scoring at least this.
        iou_threshold: class-aware NMS threshold.
        overlap_threshold: detections of any class overlapping more than this are one
            place (see :func:`yolo_smol.detection.postprocess.one_digit_per_place`).
    """
    # One look: the Detector's first, without its search, second look or end rules (so
    # that it is the network's own reading, as yolo-smol eval scores it). The caller's
    # model is left as it was.
    detector = Detector(model, device, iou_threshold, overlap_threshold, batch_size,
                        second_look=False, search=False, sure_fraction=0.0, max_end_gap=None,
                        scales=(1.0,))
    return detector._read(list(images), confidence_threshold)[0]


def _read_batch(model: YoloSmol, images: list[Image.Image], confidence_threshold: float,
                iou_threshold: float, overlap_threshold: float,
                minimum_score: float | None = None,
                sizes: Sequence[tuple[int, int]] | None = None,
                ) -> tuple[list[Reading], list[Detections] | None]:
    """One look at ``images`` (``model`` in eval mode), at each input size of ``sizes``
    (``(width, height)``; default: the model's own): their readings, and, when
    ``minimum_score`` is given, every detection scoring at least that (after NMS, in the
    photo's pixels) per photo."""
    sizes = sizes or [model.config.input_size]
    # Each size's digits are read down to the confidence threshold shared out over the sizes
    # (a digit must average the threshold over them), and scored down to minimum_score.
    floor = confidence_threshold / len(sizes)
    # Greedy NMS never lets a lower score suppress a higher one, so detecting down to
    # minimum_score leaves the digits above the floor as they were.
    lowest = floor if minimum_score is None else min(minimum_score, floor)
    parts = [_found_at(model, images, size, lowest, iou_threshold) for size in sizes]
    found = _fused(parts, iou_threshold, floor)
    scored = None if minimum_score is None else (
        found if lowest == floor else _fused(parts, iou_threshold, lowest))
    # The reading's steps for the whole batch at once (per photo, their dozen small
    # operations cost more than the rules themselves): one digit per place, the digits on
    # the number's line, left to right.
    digits = one_digit_per_place(found, confidence_threshold, overlap_threshold)
    digits = left_to_right(digits.select(on_the_line(digits)))
    labels, start, readings = digits.labels.tolist(), 0, []
    for image, count, image_digits in zip(images, digits.counts.tolist(), digits, strict=True):
        readings.append(Reading("".join(map(str, labels[start:start + count])), image_digits,
                                image.size))
        start += count
    return readings, (None if scored is None else list(scored))


def _fused(parts: list[Detections], iou_threshold: float, floor: float) -> Detections:
    """The digits found at each input size (``parts``, one batch of photos each) scoring at
    least ``floor``, photo by photo fused into one set (:func:`fuse_sizes`), and kept where
    their mean score is at least ``floor`` too."""
    parts = [part.select(part.scores >= floor) for part in parts]
    if len(parts) == 1:
        return parts[0]
    fused = Detections.cat([fuse_sizes([part[index] for part in parts], iou_threshold)
                            for index in range(parts[0].num_images)])
    return fused.select(fused.scores >= floor)


def _found_at(model: YoloSmol, images: list[Image.Image], size: tuple[int, int],
              lowest: float, iou_threshold: float) -> Detections:
    """The detections scoring at least ``lowest`` with ``images`` squashed to ``size``
    ``(width, height)``, after class-aware NMS, in the photos' pixels."""
    inputs = to_model_input(images, size).to(model.anchors.device)
    with torch.inference_mode():  # cheaper than no_grad: no version counters either
        outputs = model(inputs)
    # Ordinary tensors again, so that what callers get back behaves as any tensor.
    outputs = [output.float().cpu().clone() for output in outputs]
    # At another size than the model's own, the anchors that keep their trained pixel size.
    anchors = anchors_at(model.anchors.cpu(), model.config.input_size, size)
    return detect(outputs, anchors, size, lowest, iou_threshold,
                  original_sizes=[image.size for image in images])


class Detector:
    """A trained detector as one callable: photos in, house numbers out.

    ``Detector.from_pretrained()`` is the shipped detector; ``detector(photos)`` reads
    them. The detector holds its own evaluation copy of the model, BatchNorms folded into
    the convolutions (:func:`~yolo_smol.model.backbone.fold_batch_norms`), so a model passed
    in is never moved or switched to eval mode.

    Each photo is read in up to three steps: the whole photo squashed to the model's input;
    where that finds nothing, a search in windows zoomed in 2 and 3 times (``search``); and
    a second look in a crop that frames the digits found as SVHN frames its numbers
    (``second_look``). The whole photo is read at the input sizes ``scales`` times the
    model's own (:func:`~yolo_smol.detection.scales.input_sizes`; by default 0.875, 1 and
    1.125: 112 x 56, 128 x 64 and 144 x 72), each digit scored by the mean of the sizes'
    scores (:func:`fuse_sizes`); the search's windows and the second look's crop are
    read at the model's own size. The reading then keeps the digits at least
    ``sure_fraction`` as sure
    as its best (:func:`only_sure_digits`), and drops a digit at either end set apart from
    the others by more than ``max_end_gap`` digit heights (:func:`without_stray_ends`).
    The digits it scores for mAP (:meth:`detections`) are those of every look, merged; a
    digit that a more confident digit of another class covers keeps ``other_class_factor``
    of its score
    (:func:`~yolo_smol.detection.postprocess.demote_other_classes`).

    Example::

        from yolo_smol import Detector
        detector = Detector.from_pretrained()
        print(detector("door.jpg").number)
    """

    def __init__(self, model: YoloSmol, device: torch.device | str = "auto",
                 iou_threshold: float = 0.45, overlap_threshold: float = 0.3,
                 batch_size: int = 64, second_look: bool = True, search: bool = True,
                 other_class_factor: float = 0.5, sure_fraction: float = SURE_FRACTION,
                 max_end_gap: float | None = MAX_END_GAP,
                 scales: Sequence[float] = SCALES) -> None:
        # The options' values are checked now, not after the first photos are read.
        _check_sure_fraction(sure_fraction)
        if max_end_gap is not None:
            _check_end_gap(max_end_gap)
        self.scales = tuple(float(scale) for scale in scales)
        self.input_sizes = input_sizes(model.config, self.scales)
        self.device = choose_device(device) if isinstance(device, str) else device
        # The detector's own copy, BatchNorms folded: faster, and the caller's model is
        # neither moved nor switched to eval mode.
        self.model = fold_batch_norms(model).to(self.device)
        self.iou_threshold = iou_threshold
        self.overlap_threshold = overlap_threshold
        self.batch_size = batch_size
        self.second_look = second_look
        self.search = search
        self.other_class_factor = other_class_factor
        self.sure_fraction = sure_fraction
        self.max_end_gap = max_end_gap

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path | None = None,
                        device: torch.device | str = "auto", **options: Any) -> Detector:
        """A shipped detector by name (``"smol128x64"``, the default, or ``"smol"``), or
        the weights at a path (a checkpoint of ``yolo-smol train``).

        Raises:
            CheckpointError: the weights cannot be read or do not fit their config.
        """
        if name_or_path is None or str(name_or_path) in SHIPPED_NAMES:
            path = shipped_weights(str(name_or_path or SHIPPED_NAMES[0]))
        else:
            path = Path(name_or_path)
        return cls(load_model(path), device, **options)

    def __call__(self, images: Any, confidence_threshold: float = 0.25,
                 ) -> Reading | list[Reading]:
        """Read ``images``: one photo (a path, a PIL image, a numpy array ``(H, W, 3)``
        uint8 or a tensor ``(3, H, W)``), or a list of them.

        Returns:
            A :class:`Reading` for one photo, a list of them (in order) for a list; boxes
            are in each photo's own pixels.

        Raises:
            ImageError: an input that is not a photo, naming it (its index in a list).
        """
        single = not isinstance(images, Sequence) or isinstance(images, str)
        readings, _ = self._read_all(self._photos(images, single), confidence_threshold)
        return readings[0] if single else readings

    def detections(self, images: Any, confidence_threshold: float = 0.25,
                   minimum_score: float = 0.001) -> Detections | list[Detections]:
        """Every digit the detector's looks at each photo found, scored, for mAP.

        The looks are those ``detector(images, confidence_threshold)`` takes (the whole
        photo; the search where it finds nothing; the second look); each keeps its
        detections scoring at least ``minimum_score`` (low, so that mAP sees the whole
        precision-recall curve), and one class-aware NMS merges them, so that a digit seen
        by two looks counts once, with the better score and the looks' boxes averaged
        (:func:`~yolo_smol.detection.nms.merging_nms`). Then a digit that a more confident
        digit of another class covers keeps ``other_class_factor`` of its score
        (:func:`~yolo_smol.detection.postprocess.demote_other_classes`). ``yolo-smol eval``
        scores the network's first look alone, as class-aware NMS leaves it.

        Returns:
            For one photo, :class:`Detections` of one image: ``boxes_xyxy (D, 4)`` in the
            photo's pixels, ``scores (D,)``, ``labels (D,)``, best score first (at most
            100); for a list, one per photo, in order.
        """
        return self.read_with_detections(images, confidence_threshold, minimum_score)[1]

    def read_with_detections(self, images: Any, confidence_threshold: float = 0.25,
                             minimum_score: float = 0.001,
                             ) -> tuple[Reading | list[Reading], Detections | list[Detections]]:
        """What ``detector(images)`` and :meth:`detections` return, from one pass of the
        looks: the readings, and the scored digits behind them (for scoring both at once,
        as :func:`yolo_smol.scoring.score_detector` does)."""
        single = not isinstance(images, Sequence) or isinstance(images, str)
        readings, scored = self._read_all(self._photos(images, single), confidence_threshold,
                                          minimum_score)
        return (readings[0], scored[0]) if single else (readings, scored)

    @staticmethod
    def _photos(images: Any, single: bool) -> list[Image.Image]:
        items = [images] if single else list(images)
        return [as_photo(item, "image" if single else f"images[{index}]")
                for index, item in enumerate(items)]

    def _read_all(self, photos: list[Image.Image], confidence_threshold: float,
                  minimum_score: float | None = None,
                  ) -> tuple[list[Reading], list[Detections] | None]:
        """Readings after every step the detector takes, and (with ``minimum_score``) the
        scored detections of all its looks."""
        readings, scored = self._read(photos, confidence_threshold, minimum_score)
        if self.search:
            readings, scored = self._search(photos, readings, scored, confidence_threshold,
                                            minimum_score)
        if self.second_look:
            readings, scored = self._look_again(photos, readings, scored,
                                                confidence_threshold, minimum_score)
        if self.sure_fraction > 0:
            readings = [only_sure_digits(reading, self.sure_fraction) for reading in readings]
        if self.max_end_gap is not None:
            readings = [without_stray_ends(reading, self.max_end_gap) for reading in readings]
        if scored is not None:  # for ranking only: the readings above keep one per place
            scored = list(demote_other_classes(Detections.cat(scored), self.overlap_threshold,
                                               self.other_class_factor))
        return readings, scored

    def _read(self, photos: list[Image.Image], confidence_threshold: float,
              minimum_score: float | None = None, every_size: bool = True,
              ) -> tuple[list[Reading], list[Detections] | None]:
        """One look at ``photos``: at each of the detector's input sizes (``every_size``),
        or at the model's own. (Only the whole photo is read at every size: that is where
        the digits' size in input pixels varies most, and each size costs a forward pass.
        The search's windows read at one size score about the same.)"""
        sizes = self.input_sizes if every_size else [self.model.config.input_size]
        readings, scored = [], ([] if minimum_score is not None else None)
        for start in range(0, len(photos), self.batch_size):
            batch_readings, batch_scored = _read_batch(
                self.model, photos[start:start + self.batch_size], confidence_threshold,
                self.iou_threshold, self.overlap_threshold, minimum_score, sizes)
            readings += batch_readings
            if scored is not None:
                scored += batch_scored
        return readings, scored

    def _look_again(self, photos: list[Image.Image], readings: list[Reading],
                    scored: list[Detections] | None, confidence_threshold: float,
                    minimum_score: float | None,
                    ) -> tuple[list[Reading], list[Detections] | None]:
        """Read each photo again in a crop framed around what the first look found.

        The model learned from house numbers framed as SVHN frames them: the digits about
        two thirds of the image's height, the image about 2.2 times as wide as tall. In a
        larger photo the number is smaller than that, and squashed to the model's input
        its digits lose most of their pixels. The second look crops the photo around the
        digits found, to SVHN's framing, and reads the crop; its reading replaces the
        first where it finds digits.
        """
        crops = {index: box for index, reading in enumerate(readings)
                 if (box := second_look_box(reading.detections.boxes_xyxy,
                                            photos[index].size)) is not None}
        if not crops:
            return readings, scored
        # The crop frames the number as training images do, its digits at the size the
        # network knows best: read at one input size (three added up to about 0.01 of mAP
        # on generated photos, and about 5 ms a photo).
        again, again_scored = self._read([photos[index].crop(box) for index, box in
                                          crops.items()], confidence_threshold, minimum_score,
                                         every_size=False)
        readings = list(readings)
        scored = None if scored is None else list(scored)
        for position, ((index, box), reading) in enumerate(zip(crops.items(), again,
                                                               strict=True)):
            if reading.number:
                readings[index] = _moved(reading, box, photos[index].size)
            if scored is not None:
                scored[index] = self._merged([scored[index],
                                              _shifted(again_scored[position], box)])
        return readings, scored

    def _search(self, photos: list[Image.Image], readings: list[Reading],
                scored: list[Detections] | None, confidence_threshold: float,
                minimum_score: float | None,
                ) -> tuple[list[Reading], list[Detections] | None]:
        """Where a look found nothing, look closer: in overlapping windows zoomed in
        2 times, then 3 (:data:`SEARCH_ZOOMS`), until something is found.

        A number that fills a small part of a wide photo (a door with its number, seen
        from the street) shrinks to a few pixels when the whole photo is squashed to the
        model's input, and the first look misses it. Each window is squashed in turn, so
        the number keeps 2 or 3 times as many pixels; the window whose digits score best
        on average stands for the photo, and the second look then frames them.
        """
        readings = list(readings)
        scored = None if scored is None else list(scored)
        for zoom in SEARCH_ZOOMS:
            empty = [index for index, reading in enumerate(readings) if not reading.number]
            if not empty:
                break
            windows = {index: search_windows(photos[index].size, zoom) for index in empty}
            found, found_scored = self._read([photos[index].crop(window) for index in empty
                                              for window in windows[index]],
                                             confidence_threshold, minimum_score,
                                             every_size=False)
            found = iter(found)
            found_scored = iter(found_scored or [])
            for index in empty:
                tries = [(window, next(found)) for window in windows[index]]
                window, best = max(tries, key=lambda tried: _mean_score(tried[1]))
                if best.number:
                    readings[index] = _moved(best, window, photos[index].size)
                if scored is not None:
                    scored[index] = self._merged(
                        [scored[index], *(_shifted(next(found_scored), window)
                                          for window, _ in tries)])
        return readings, scored

    def _merged(self, parts: list[Detections]) -> Detections:
        """The detections of several looks at one photo as one set (:func:`merge_looks`)."""
        return merge_looks(parts, self.iou_threshold)


def only_sure_digits(reading: Reading, fraction: float) -> Reading:
    """``reading`` without the digits that score less than ``fraction`` of its best one.

    The digits of one house number are printed alike, so a detector that reads one of them
    surely reads the others almost as surely; a digit far less sure than the best of its
    reading is more often clutter beside the number (a door handle, the end of a mail slot,
    an "I" of a street name) than a digit of it. Applied to the final reading only: the
    looks, and so what the second look frames and the digits scored for mAP, are as before.
    """
    _check_sure_fraction(fraction)
    digits = reading.detections
    if len(digits.scores) == 0:
        return reading
    return _keeping(reading, digits.select(digits.scores >= fraction * digits.scores.max()))


def without_stray_ends(reading: Reading, max_gap: float) -> Reading:
    """``reading`` without the digits at its ends that stand apart from the rest.

    The digits of a house number are set close together (SVHN's gaps between neighbours
    are within 0.15 digit heights nine times in ten), so a digit at either end more than
    ``max_gap`` digit heights (the reading's median box height) from its neighbour is more
    often a thing beside the number than a digit of it. Such end digits are dropped one at
    a time, the less sure first when both ends are apart, until both ends sit close.
    """
    _check_end_gap(max_gap)
    digits = reading.detections
    while len(digits.labels) >= 2:
        boxes = digits.boxes_xyxy  # (D, 4), left to right
        height = (boxes[:, 3] - boxes[:, 1]).median()
        apart = [(digits.scores[end].item(), end) for end, gap in
                 ((0, boxes[1, 0] - boxes[0, 2]), (len(boxes) - 1, boxes[-1, 0] - boxes[-2, 2]))
                 if gap > max_gap * height]
        if not apart:
            break
        digits = digits.select(torch.arange(len(boxes)) != min(apart)[1])
    return _keeping(reading, digits)


def _keeping(reading: Reading, digits: Detections) -> Reading:
    """``reading`` with only ``digits`` (some of its own, left to right): its number is
    theirs."""
    return Reading("".join(map(str, digits.labels.tolist())), digits, reading.size)


def _check_sure_fraction(fraction: float) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"sure_fraction must be in [0, 1], got {fraction}")


def _check_end_gap(max_gap: float) -> None:
    if not max_gap >= 0.0:
        raise ValueError(f"max_end_gap must be at least 0 (or None), got {max_gap}")


def _mean_score(reading: Reading) -> float:
    """How sure a reading is: its digits' mean score, 0 when it found none."""
    return reading.detections.scores.mean().item() if reading.number else 0.0


def _moved(reading: Reading, crop: tuple[int, int, int, int], photo_size: tuple[int, int],
           ) -> Reading:
    """A reading of the ``crop`` (left, top, right, bottom) of a photo, in the photo's
    pixels."""
    return Reading(reading.number, _shifted(reading.detections, crop), photo_size)


def _shifted(found: Detections, crop: tuple[int, int, int, int]) -> Detections:
    """One image's detections in the ``crop`` (left, top, right, bottom) of a photo, moved
    to the photo's pixels."""
    left, top = crop[:2]
    shift = torch.tensor([left, top, left, top], dtype=torch.float32)
    return Detections.of_image(found.boxes_xyxy + shift, found.scores, found.labels)


# How far the search zooms in, in turn, on photos where the whole-photo look found nothing.
SEARCH_ZOOMS = (2, 3)


def search_windows(photo_size: tuple[int, int], zoom: int) -> list[tuple[int, int, int, int]]:
    """Overlapping crops ``(left, top, right, bottom)`` that zoom ``zoom`` times into a photo
    of ``photo_size (width, height)``: each ``1/zoom`` of its width and height, a window
    every half window (``2 * zoom - 1`` along each side), so that anything up to half a
    window wide and tall lies whole inside one of them. Row by row, top left first."""
    width, height = photo_size
    per_side = 2 * zoom - 1
    window_width, window_height = width / zoom, height / zoom
    return [(round(left), round(top), round(left + window_width), round(top + window_height))
            for top in (row * (height - window_height) / (per_side - 1)
                        for row in range(per_side))
            for left in (column * (width - window_width) / (per_side - 1)
                         for column in range(per_side))]


# SVHN's framing of a number (the published medians of its training images): the digits'
# height over the image's height, and the image's width over its height.
FRAMED_DIGIT_HEIGHT = svhn.FIGURES["box height / image height"][2]  # 0.66
FRAMED_ASPECT = svhn.FIGURES["image width / height"][2]  # 2.23


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


def draw_reading(image: Image.Image, reading: Reading) -> Image.Image:
    """A copy of ``image`` with each digit's box, label and score, and the number above.

    Small photos are enlarged first (SVHN crops are often 30 px tall), so the labels stay
    legible; boxes are scaled with them.
    """
    # Enlarged to about 240 px tall, but never past 4,096 px on the long side: a 10,000 x 1
    # photo must not become a 2.4-gigapixel canvas.
    scale = max(1, min(round(240 / max(1, image.height)),
                       4096 // max(image.width, image.height, 1)))
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
                  confidence_threshold: float = 0.25, device: torch.device | str = "auto",
                  **options: Any) -> DetectReport:
    """Everything ``yolo-smol detect`` does: read every photo, save annotated copies.

    Each photo goes to ``save_dir/<name>.detected.png`` with its digits boxed, and
    ``save_dir/readings.json`` lists every digit with its score and box (xyxy, the photo's
    pixels). A photo that cannot be read is listed in ``unreadable`` and the others are
    still read; the caller decides what that means for its exit status.

    Args:
        weights: a checkpoint; ``None`` takes the shipped detector.
        model_config: if given, the config the checkpoint must have been trained with.
        options: how the :class:`Detector` reads (:data:`READING_OPTIONS`: its
            ``iou_threshold``, ``second_look``, ``search``, ``sure_fraction`` and
            ``max_end_gap``), its defaults where left out; ``readings.json`` records all.

    Raises:
        ImageError: ``image_path`` is neither a photo nor a folder holding any.
        CheckpointError, ConfigError: the weights or the config cannot be used.
    """
    save_dir = writable_folder(save_dir)  # before the work, so that none of it is lost
    detector, weights = _detector(weights, model_config, device, options)
    settings = {name: getattr(detector, name) for name in READING_OPTIONS}
    photos, unreadable = _load_photos(find_images(image_path))
    readings = detector([image for _, image in photos], confidence_threshold)
    names = _output_names([path for path, _ in photos])
    for (_, image), reading, name in zip(photos, readings, names, strict=True):
        draw_reading(image, reading).save(save_dir / name)
    read = [(path, reading) for (path, _), reading in zip(photos, readings, strict=True)]
    readings_json = save_dir / "readings.json"
    readings_json.write_text(json.dumps(
        {"weights": str(weights), "confidence_threshold": confidence_threshold, **settings,
         "readings": [_reading_record(path, reading, name)
                      for (path, reading), name in zip(read, names, strict=True)],
         "unreadable": unreadable}, indent=2) + "\n")
    return DetectReport(read, unreadable, weights, readings_json)


def _detector(weights: str | Path | None, model_config: str | None,
              device: torch.device | str, options: dict[str, Any]) -> tuple[Detector, Path]:
    """The detector to read with (``options``: :class:`Detector`'s keywords), and the
    checkpoint it came from (the shipped one when ``weights`` is None), checked against
    ``model_config`` when that is given."""
    weights = Path(weights) if weights is not None else SHIPPED_WEIGHTS
    detector = Detector.from_pretrained(weights, device, **options)
    if model_config is not None and load_config(model_config) != detector.model.config:
        raise ImageError(f"--model_config {model_config} is not the config {weights} was "
                         "trained with; leave --model_config out (the checkpoint carries "
                         "its config)")
    return detector, weights


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
