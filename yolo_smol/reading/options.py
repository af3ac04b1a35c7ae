"""How the :class:`~yolo_smol.reading.detector.Detector` reads: one frozen set of options.

Each option's default says where it came from. Those chosen on data were chosen on
generated photos of generators seeded apart from the training set's (seed 0): the test
split of seeds 5, 6 and 7, 1,000 photos each, used as validation sets (never the real
SVHN photos, and never the test figures a chapter or model card reports).

Free of PyTorch, so that ``yolo-smol --help`` can build ``detect``'s flags from the fields
(one flag per option, as ``train`` has one per ``TrainConfig`` field) at once.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from yolo_smol.errors import YoloSmolError

__all__ = ["ReadingError", "ReadingOptions", "MAX_SCALE", "check_threshold"]

# The largest input size a photo is read at, as a multiple of the model's own (as
# TrainConfig's train_scales): 512 x 256 for the shipped 128 x 64 detector. A slip such as
# 0.875,1,1125 would otherwise ask for a 144,000 x 72,000 input and fail in the allocator.
MAX_SCALE = 4.0


class ReadingError(YoloSmolError):
    """A reading option or argument that cannot work; says which one and what to give."""


def _option(default: Any, help: str, kind: str | None = None) -> Any:
    """An option: its default and what ``yolo-smol detect --help`` says of it (``kind``
    names how its flag is parsed when that is not its type's)."""
    return field(default=default, metadata={"help": help, "kind": kind})


@dataclass(frozen=True)
class ReadingOptions:
    """Every choice the Detector reads with, checked when made; ``readings.json``, the model
    cards and ``benchmarks/real.py`` record ``dataclasses.asdict(options)``."""

    # YOLOv3's own NMS threshold (darknet's detector), the seed's; not tuned here.
    iou_threshold: float = _option(0.45, "class-aware NMS: a box overlapping a better one of "
                                         "its digit by more IoU than this is dropped")
    # Not tuned: SVHN's neighbouring digits overlap by a few per cent, far below it.
    overlap_threshold: float = _option(0.3, "detections of any digits overlapping by more "
                                            "IoU than this are one place: the surer is read")
    # Speed only (benchmarks/detect.py): larger batches are no faster on a CPU.
    batch_size: int = _option(64, "photos per forward pass")
    # Of {1}, {1, 0.875}, {1, 1.125} and {0.875, 1, 1.125} on seeds 5 and 6 (three detectors
    # of make weights' recipe), the three sizes scored the best mAP@0.5 and mAP@0.5:0.95 in
    # all six pairs; a larger step (1.25) scored lower.
    scales: tuple[float, ...] = _option(
        (0.875, 1.0, 1.125), "read the whole photo at these multiples of the model's input "
        "size and average the digits' scores; 1 reads at one size, about 3 times as fast",
        kind="scales")
    # On: each reads more generated photos exactly than reading without it (seeds 5 and 9,
    # tests/test_predict.py; chapter 8 shows each step).
    search: bool = _option(True, "where the whole photo shows no digits, look for them in "
                                 "windows zoomed in 2 and 3 times")
    second_look: bool = _option(True, "read each photo again in a crop framed around the "
                                      "digits found, as SVHN frames its numbers")
    # The largest of 0.3 / 0.4 / 0.5 reading no fewer photos of seeds 5 and 6 exactly than
    # reading every digit: 0.721 and 0.679 with every digit, 0.724 and 0.679 at 0.4, 0.719
    # and 0.670 at 0.5.
    sure_fraction: float = _option(0.4, "read only the digits scoring at least this fraction "
                                        "of the photo's best digit; 0 reads every one")
    # Of 0.3 / 0.4 / 0.5 / 0.6 / 0.75, the one reading the most exactly on seeds 5, 6, 7:
    # 0.724 / 0.679 / 0.694 keeping every end, 0.729 / 0.682 / 0.697 at 0.4, 0.728 / 0.682 /
    # 0.696 at 0.5 (SVHN's gaps between neighbours: -0.15 to 0.14 heights, 5th to 95th).
    max_end_gap: float | None = _option(
        0.4, "drop a digit at either end set apart from its neighbour by more than this many "
             "digit heights; none keeps them", kind="end_gap")
    # Soft-NMS's halving, not tuned (the one value tried): mAP@0.5 over every look on 1,000
    # photos of seed 5, 0.838 against 0.836 at 1.
    other_class_factor: float = _option(0.5, "what a digit covered by a surer digit of "
                                             "another class keeps of its score, for mAP")

    def __post_init__(self) -> None:
        if isinstance(self.scales, Iterable) and not isinstance(self.scales, (str, bytes)):
            # Any sequence of numbers (a list read back from JSON, a numpy array) as floats.
            object.__setattr__(self, "scales", tuple(
                float(scale) if _is_number(scale) else scale for scale in self.scales))
        for name in ("iou_threshold", "overlap_threshold", "sure_fraction",
                     "other_class_factor"):
            check_threshold(getattr(self, name), name)
        for name in ("search", "second_look"):
            if not isinstance(getattr(self, name), bool):
                raise ReadingError(f"{name}: {getattr(self, name)!r} must be True or False")
        if isinstance(self.batch_size, bool) or not isinstance(
                self.batch_size, numbers.Integral) or self.batch_size < 1:
            raise ReadingError(f"batch_size: {self.batch_size!r} must be a whole number >= 1")
        self._check_scales()
        gap = self.max_end_gap
        if gap is not None and (not _is_number(gap) or not 0 <= gap < math.inf):
            raise ReadingError(f"max_end_gap: {gap!r} must be a number >= 0 (digit heights), "
                               "or None to keep every end digit")

    def _check_scales(self) -> None:
        scales = self.scales
        if not isinstance(scales, tuple) or not scales or not all(
                _is_number(scale) and 0 < scale <= MAX_SCALE for scale in scales):
            raise ReadingError(f"scales: {_short(scales)} must be numbers above 0 and at most "
                               f"{MAX_SCALE:g} (times the model's input size), one at least "
                               "(1: the model's own size)")

    @classmethod
    def from_keywords(cls, base: ReadingOptions | None = None, **changes: Any,
                      ) -> ReadingOptions:
        """``base`` (the defaults when None) with ``changes``; an unknown name is refused
        with the closest known one."""
        if base is not None and not isinstance(base, ReadingOptions):
            raise ReadingError(f"options: a {type(base).__name__}; give a ReadingOptions, or "
                               "the options as keywords (scales=(1.0,), ...)")
        known = [option.name for option in fields(cls)]
        for name in changes:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ReadingError(f"unknown reading option {name!r}{hint}; the options are "
                                   f"{', '.join(known)}")
        values = {name: getattr(base or cls(), name) for name in known}
        return cls(**{**values, **changes})


def check_threshold(value: Any, name: str) -> float:
    """``value`` if it is a number from 0 to 1 (a score, an IoU, a fraction), else a
    :class:`ReadingError` naming ``name``."""
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise ReadingError(f"{name}: {_short(value)} must be a number from 0 to 1")
    return float(value)


def _is_number(value: Any) -> bool:
    """A real number (numpy's included), not NaN and not a bool (``True`` is an int to
    Python, never a setting)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and not math.isnan(value))


def _short(value: Any) -> str:
    """``value``'s repr on one line, at most 60 characters: a message stays one line."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."
