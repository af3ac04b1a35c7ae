"""Training settings: what ``yolo-smol train`` takes, checked once, saved in every checkpoint.

Kept apart from the training loop, and free of PyTorch, so that the command line can build
its flags (one per setting) and ``yolo-smol --help`` answers at once.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yolo_smol.config import LIMITS, input_size
from yolo_smol.errors import YoloSmolError

if TYPE_CHECKING:
    import torch

__all__ = ["TrainConfig", "TrainConfigError"]

_DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
MAX_TRAIN_SCALE = 4.0


class TrainConfigError(YoloSmolError):
    """Training settings that cannot work; says which one and what to use instead."""


def _setting(default: Any, help: str, choices: tuple[str, ...] | None = None,
             kind: str | None = None) -> Any:
    """A training setting: its default and what ``yolo-smol train --help`` says of it
    (``kind`` names how its flag is parsed when that is not its type's)."""
    return field(default=default, metadata={"help": help, "choices": choices, "kind": kind})


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (the seed's flags, and a few more). Saved in every checkpoint.

    ``image_size`` overrides the model config's when set. ``num_train``, ``num_validation``
    and ``num_test`` limit the images used (all when None; the validation split as many as
    the test split by default). ``eval_every`` and ``checkpoint_epoch`` are in epochs;
    ``last.pt`` is written after every epoch regardless. The validation split is scored
    every ``eval_every`` epochs and picks best.pt; the test split is scored once, at the
    end, with best.pt (see :mod:`yolo_smol.training.splits`).
    """

    batch_size: int = _setting(256, "images per optimizer step")
    num_epochs: int = _setting(50, "passes over the training images")
    lr: float = _setting(3e-3, "peak learning rate (after warm-up, before the cosine decay)")
    weight_decay: float = _setting(5e-4, "AdamW weight decay on conv weights")
    warmup_epochs: float = _setting(2.0, "epochs of linear learning-rate warm-up")
    final_lr_fraction: float = _setting(0.05, "the cosine decay ends at lr times this")
    data_augment: bool = _setting(True, "colour jitter, zoom and shift (--data_augment False "
                                        "turns it off)")
    augment_prob: float = _setting(0.5, "probability that an image is augmented")
    eval_every: int = _setting(5, "score the validation split every this many epochs (and "
                                  "after the last); best.pt is the epoch it scores best")
    checkpoint_epoch: int = _setting(10, "keep a checkpoint every this many epochs (last.pt: "
                                         "every epoch)")
    ema: bool = _setting(True, "evaluate and save a moving average of the weights")
    ema_decay: float = _setting(0.999, "decay of the weights' moving average")
    grad_clip: float = _setting(10.0, "largest gradient norm; larger ones are scaled down")
    box_loss: str = _setting("sse", "the paper's squared error or GIoU",
                             choices=("sse", "giou"))
    anchor_iou_threshold: float = _setting(
        1.0, "also assign a digit to every other anchor whose shape overlaps it by IoU above "
             "this (YOLOv4); 1.0: only to the best anchor, as YOLOv3")
    train_scales: tuple[float, ...] = _setting(
        (1.0,), "input sizes to train at, as multiples of the model's, e.g. 0.75,1,1.25: each "
                "batch is resized to one of them (YOLOv3's multi-scale training)", kind="scales")
    image_size: int | tuple[int, int] | None = _setting(
        None, "input size in pixels: 64, or WIDTHxHEIGHT such as 128x64 (default: the "
              "config's)", kind="size")
    dataset: str = _setting("synthetic", "synthetic, svhn, or a path (see yolo-smol data)")
    test_dataset: str | None = _setting(None, "score on this source's test split instead of "
                                              "--dataset's (a path, synthetic or svhn)")
    init: str | None = _setting(None, "start from these trained weights (fine-tuning); the "
                                      "model config comes from the checkpoint")
    num_train: int | None = _setting(None, "train on the first this many images (default: "
                                           "all)")
    num_validation: int | None = _setting(None, "choose best.pt on the first this many "
                                                "validation images (default: as many as "
                                                "--num_test, or all)")
    num_test: int | None = _setting(None, "score best.pt once, at the end, on the first this "
                                          "many test images (default: all)")
    seed: int = _setting(0, "seed of the data, the initial weights and the shuffling")
    device: str = _setting("auto", "auto, cpu, cuda or mps")
    workers: int | None = _setting(None, "processes that prepare the images (default: up "
                                         "to 4)")
    save_dir: str = _setting("runs/train", "where checkpoints, metrics and plots go")
    confidence_threshold: float = _setting(0.25, "digits scoring at least this are read "
                                                 "(whole-number accuracy)")

    def __post_init__(self) -> None:
        for name in ("image_size", "train_scales"):
            if isinstance(getattr(self, name), list):  # as read back from JSON
                object.__setattr__(self, name, tuple(getattr(self, name)))
        self.validate()

    def validate(self) -> TrainConfig:
        """Check every setting; raise :class:`TrainConfigError` naming the first bad one.

        Called when the settings are built, so a ``TrainConfig`` that exists is valid.
        """
        self._check_numbers()
        # At most 4: YOLOv3 trains from 0.77 to 1.46 times its input, and a slip such as
        # 0.75,1,125 would otherwise ask for a 16,000-pixel input after the data is ready.
        scales = self.train_scales
        if (not isinstance(scales, tuple) or not scales or any(
                isinstance(scale, bool) or not isinstance(scale, (int, float))
                or not 0 < scale <= MAX_TRAIN_SCALE for scale in scales)):
            raise TrainConfigError(f"--train_scales: {scales!r} must be numbers above 0 and at "
                                   f"most {MAX_TRAIN_SCALE}, one at least (1: the model's own "
                                   "input size)")
        if self.box_loss not in ("sse", "giou"):
            raise TrainConfigError(f"box_loss: {self.box_loss!r} must be 'sse' or 'giou'")
        save_dir = Path(self.save_dir)
        for parent in (save_dir, *save_dir.parents):
            if parent.exists() and not parent.is_dir():
                raise TrainConfigError(f"--save_dir {self.save_dir}: {parent} is a file; "
                                       "give a folder path")
        if not isinstance(self.device, str) or not _DEVICE_NAME.fullmatch(self.device):
            raise TrainConfigError(f"--device: unknown device {self.device!r}; use auto, cpu, "
                                   "cuda (or cuda:1, ...) or mps")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not (
                0 <= self.seed < 2**63):
            raise TrainConfigError(f"--seed: {self.seed!r} must be a whole number from 0 to "
                                   "2**63 - 1")
        return self

    def _check_numbers(self) -> None:
        """Counts are whole numbers >= 1, rates finite and >= 0, shares at most 1."""
        for name in ("batch_size", "num_epochs", "eval_every", "checkpoint_epoch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrainConfigError(f"--{name}: {value!r} must be a whole number >= 1")
        for name in ("lr", "weight_decay", "warmup_epochs", "grad_clip", "ema_decay",
                     "augment_prob", "final_lr_fraction", "confidence_threshold",
                     "anchor_iou_threshold"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise TrainConfigError(f"--{name}: {value!r} must be a finite number >= 0")
        if self.lr == 0:
            raise TrainConfigError("--lr: 0 would not train; use e.g. 3e-3")
        for name in ("augment_prob", "ema_decay", "final_lr_fraction", "confidence_threshold",
                     "anchor_iou_threshold"):
            if getattr(self, name) > 1:
                raise TrainConfigError(f"--{name}: {getattr(self, name)} must be at most 1")
        for name in ("num_train", "num_validation", "num_test", "workers"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise TrainConfigError(f"--{name}: {value!r} must be a whole number >= 1")
        sides = () if self.image_size is None else input_size(self.image_size)
        most = LIMITS["image side"]
        if any(isinstance(side, bool) or not 1 <= side <= most for side in sides):
            raise TrainConfigError(f"--image_size: {self.image_size!r} must be whole numbers "
                                   f"from 1 to {most}")

    def device_to_use(self) -> torch.device:
        """The device named by ``device``, checked on this machine (not when loading a
        checkpoint written elsewhere)."""
        from yolo_smol.device import choose_device

        try:
            return choose_device(self.device)
        except ValueError as error:
            raise TrainConfigError(f"--device: {error}") from None

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """The settings saved in a checkpoint or ``config.json``; unknown keys are refused.

        Checkpoints written before the threshold was renamed store ``detection_threshold``;
        it is read as ``confidence_threshold``.
        """
        values = dict(values)
        if "detection_threshold" in values and "confidence_threshold" not in values:
            values["confidence_threshold"] = values.pop("detection_threshold")
        known = [field.name for field in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            hints = [f"{key} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(
                key, known, n=1)) else key for key in unknown]
            raise TrainConfigError(f"unknown training setting(s): {', '.join(hints)}; the "
                                   f"settings are {', '.join(known)}")
        return cls(**values)
