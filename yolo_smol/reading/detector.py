"""The Detector: chapter 8's steps, from photos to house numbers, as one callable.

1) The whole photo, squashed to the model's input at a few sizes; 2) where that finds
nothing, a search in zoomed windows; 3) a second look in a crop framed around the digits
found; 4) the reading's rules (sure digits, no stray ends); 5) for mAP, the digits of every
look merged. The looks are :mod:`~yolo_smol.reading.looks`, the rules
:mod:`~yolo_smol.reading.rules`, the choices :class:`~yolo_smol.reading.options.ReadingOptions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from yolo_smol.detection.postprocess import Detections
from yolo_smol.device import choose_device
from yolo_smol.model.backbone import fold_batch_norms
from yolo_smol.model.checkpoint import load_model
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.photos import as_photo
from yolo_smol.reading import looks
from yolo_smol.reading.options import ReadingError, ReadingOptions, check_threshold
from yolo_smol.reading.rules import (
    Reading,
    demote_other_classes,
    only_sure_digits,
    without_stray_ends,
)

__all__ = ["SHIPPED_NAMES", "SHIPPED_WEIGHTS", "shipped_weights", "Detector", "read_numbers"]

# The detectors that ship inside the package (yolo_smol/weights, with their model cards).
# smol128x64 is the one `yolo-smol detect` and Detector.from_pretrained() use by default:
# the book's network on a 128 x 64 input; smol is the same network at 32 px.
SHIPPED_NAMES = ("smol128x64", "smol")
_OPTION_NAMES = frozenset(option.name for option in fields(ReadingOptions))


def shipped_weights(name: str = "smol128x64") -> Path:
    """The path of a detector shipped inside the package (found with importlib.resources,
    so it works from any folder after ``pip install``)."""
    if name not in SHIPPED_NAMES:
        raise ReadingError(f"{name!r} is not a shipped detector; use one of "
                           f"{', '.join(SHIPPED_NAMES)}, or the path of a checkpoint")
    return Path(str(resources.files("yolo_smol") / "weights" / f"{name}.pt"))


SHIPPED_WEIGHTS = shipped_weights()


class Detector:
    """A trained detector as one callable: photos in, house numbers out.

    ``Detector.from_pretrained()`` is the shipped detector; ``detector(photos)`` reads them.
    ``Detector(model, options=ReadingOptions(...))`` or ``Detector(model, scales=(1.0,))``
    (keywords change the defaults' fields) read with other choices; ``detector.options``
    holds them, and each is also an attribute (``detector.scales``). The detector holds its
    own evaluation copy of the model, BatchNorms folded into the convolutions, so a model
    passed in is never moved or switched to eval mode.

    Example::

        from yolo_smol import Detector
        print(Detector.from_pretrained()("door.jpg").number)
    """

    def __init__(self, model: YoloSmol, device: torch.device | str = "auto",
                 options: ReadingOptions | None = None, **changes: Any) -> None:
        if not isinstance(model, YoloSmol):
            raise ReadingError(f"model: a {type(model).__name__}; give a YoloSmol "
                               "(yolo_smol.load_model(path)), or use Detector.from_pretrained")
        self.options = ReadingOptions.from_keywords(options, **changes)  # checked now
        self.input_sizes = looks.input_sizes(model.config, self.options.scales)
        self.device = _device(device)
        self.model = fold_batch_norms(model).to(self.device)

    def __getattr__(self, name: str) -> Any:  # only for names not found otherwise
        if name in _OPTION_NAMES and "options" in self.__dict__:
            return getattr(self.options, name)
        raise AttributeError(f"'Detector' object has no attribute {name!r}")

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path | None = None,
                        device: torch.device | str = "auto",
                        options: ReadingOptions | None = None, **changes: Any) -> Detector:
        """A shipped detector by name (``"smol128x64"``, the default, or ``"smol"``), or the
        weights at a path (a checkpoint of ``yolo-smol train``). The options are checked
        before the weights are read."""
        options = ReadingOptions.from_keywords(options, **changes)
        if name_or_path is None or str(name_or_path) in SHIPPED_NAMES:
            path = shipped_weights(str(name_or_path or SHIPPED_NAMES[0]))
        else:
            path = Path(name_or_path)
        return cls(load_model(path), device, options)

    def __call__(self, images: Any, confidence_threshold: float = 0.25,
                 ) -> Reading | list[Reading]:
        """Read ``images``: one photo (a path, a PIL image, a numpy array ``(H, W, 3)``
        uint8 or a tensor ``(3, H, W)``), or a list of them. Returns a :class:`Reading` for
        one photo, a list of them (in order) for a list; boxes in each photo's pixels.

        Raises:
            ImageError: an input that is not a photo, named (by its index in a list).
            ReadingError: a ``confidence_threshold`` that is not a number from 0 to 1.
        """
        return self.read_with_detections(images, confidence_threshold, None)[0]

    def detections(self, images: Any, confidence_threshold: float = 0.25,
                   minimum_score: float = 0.001) -> Detections | list[Detections]:
        """For mAP: every digit the looks of ``detector(images)`` found, down to
        ``minimum_score``, merged across looks (:func:`merge_looks`: a digit two looks
        found counts once), a digit another class covers more surely at
        ``other_class_factor`` of its score; best first, at most 100 a photo."""
        return self.read_with_detections(images, confidence_threshold, minimum_score)[1]

    def read_with_detections(self, images: Any, confidence_threshold: float = 0.25,
                             minimum_score: float | None = 0.001) -> tuple[Any, Any]:
        """``detector(images)`` and :meth:`detections` from one pass of the looks."""
        check_threshold(confidence_threshold, "confidence_threshold")
        if minimum_score is not None:
            check_threshold(minimum_score, "minimum_score")
        single = not isinstance(images, Sequence) or isinstance(images, str)
        photos = [as_photo(image, "image" if single else f"images[{index}]")
                  for index, image in enumerate([images] if single else images)]
        readings, scored = self._read(photos, confidence_threshold, minimum_score)
        if single:
            return readings[0], None if scored is None else scored[0]
        return readings, scored

    def _read(self, photos: list[Image.Image], threshold: float, minimum_score: float | None,
              ) -> tuple[list[Reading], list[Detections] | None]:
        regions = [looks.Region(photo) for photo in photos]
        # 1) The whole photo, at each input size.
        readings, scored = looks.look(self.model, regions, self.input_sizes, threshold,
                                      self.options, minimum_score)
        # 2) Where that found nothing, windows zoomed in 2 times, then 3.
        for zoom in looks.SEARCH_ZOOMS if self.options.search else ():
            empty = [index for index, reading in enumerate(readings) if not reading.number]
            windows = {index: [looks.Region(photos[index], box) for box in
                               looks.search_windows(photos[index].size, zoom)] for index in empty}
            readings, scored = looks.look_instead(self.model, windows, readings, scored,
                                                  threshold, self.options, minimum_score)
        # 3) A second look in a crop framing the digits found as SVHN frames its numbers.
        if self.options.second_look:
            crops = {index: [looks.Region(photos[index], box)] for index, reading in
                     enumerate(readings) if (box := looks.second_look_box(
                         reading.detections.boxes_xyxy, photos[index].size)) is not None}
            readings, scored = looks.look_instead(self.model, crops, readings, scored,
                                                  threshold, self.options, minimum_score)
        # 4) The reading's rules: only the sure digits, no digit set apart at either end.
        if self.options.sure_fraction > 0:
            readings = [only_sure_digits(reading, self.options.sure_fraction)
                        for reading in readings]
        if self.options.max_end_gap is not None:
            readings = [without_stray_ends(reading, self.options.max_end_gap)
                        for reading in readings]
        # 5) For mAP only: a digit a surer digit of another class covers is ranked lower.
        if scored is not None:
            scored = list(demote_other_classes(Detections.cat(scored),
                                               self.options.overlap_threshold,
                                               self.options.other_class_factor))
        return readings, scored


def read_numbers(model: YoloSmol, images: list[Image.Image],
                 confidence_threshold: float = 0.25, iou_threshold: float = 0.45,
                 overlap_threshold: float = 0.3, batch_size: int = 64,
                 device: torch.device | str = "cpu") -> list[Reading]:
    """The house number in each photo, from one look: the Detector's first, at the model's
    own input size, without its search, second look or end rules (the network's own
    reading, as ``yolo-smol eval`` scores it). The caller's model is left as it was."""
    detector = Detector(model, device, iou_threshold=iou_threshold,
                        overlap_threshold=overlap_threshold, batch_size=batch_size,
                        second_look=False, search=False, sure_fraction=0.0,
                        max_end_gap=None, scales=(1.0,))
    return detector(list(images), confidence_threshold)


def _device(device: torch.device | str) -> torch.device:
    if isinstance(device, torch.device):
        return device
    try:
        return choose_device(device)
    except (ValueError, TypeError, RuntimeError) as error:
        raise ReadingError(f"device: {error}") from None
