"""How well a :class:`~yolo_smol.reading.detector.Detector` reads photos whose digits are known.

``yolo-smol eval`` scores the network: one look at each image, squashed to the model's
input. This scores the product, as ``yolo-smol detect`` runs it: the share of photos whose
number the ``Detector`` reads exactly, and mAP over the scored digits of every look it
takes (``Detector.detections``), in each photo's own pixels. ``benchmarks/real.py`` and the
model cards report both kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from yolo_smol.detection.metrics import DetectionMetrics, GroundTruth, mean_average_precision
from yolo_smol.detection.postprocess import Detections
from yolo_smol.reading.detector import Detector
from yolo_smol.reading.options import ReadingError, check_threshold
from yolo_smol.reading.rules import Reading

__all__ = ["DetectorScore", "true_digits", "score_detector", "bootstrap_ap50",
           "bootstrap_share"]


@dataclass(frozen=True)
class DetectorScore:
    """What :func:`score_detector` measured.

    Attributes:
        read_exactly: the share of photos whose number was read exactly.
        metrics: COCO-style mAP of the scored digits of all the detector's looks.
        readings: one :class:`~yolo_smol.reading.rules.Reading` per photo, in order.
        scored: the scored digits of each photo (``Detector.detections``), in order.
    """

    read_exactly: float
    metrics: DetectionMetrics
    readings: list[Reading]
    scored: list[Detections]


def true_digits(rows: Sequence[dict]) -> list[GroundTruth]:
    """The true digits of rows in the SVHN ``full_numbers`` schema: per row, boxes xyxy in
    the photo's pixels (SVHN stores x, y, width, height) and labels in reading order."""
    truths = []
    for row in rows:
        xywh = torch.tensor(row["digits"]["bbox"], dtype=torch.float32).view(-1, 4)
        truths.append(GroundTruth(torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1),
                                  torch.tensor(row["digits"]["label"], dtype=torch.long)))
    return truths


def score_detector(detector: Detector, photos: Sequence[Image.Image],
                   truths: Sequence[GroundTruth], confidence_threshold: float = 0.25,
                   ) -> DetectorScore:
    """Read ``photos`` as ``yolo-smol detect`` does and score the readings against
    ``truths`` (one per photo, labels in reading order, as :func:`true_digits` gives)."""
    if not isinstance(detector, Detector):
        raise ReadingError(f"detector: a {type(detector).__name__}; give a Detector "
                           "(Detector.from_pretrained(), or Detector(model))")
    if len(photos) != len(truths):
        raise ReadingError(f"{len(photos)} photos but {len(truths)} sets of true digits; "
                           "give one of each per photo")
    check_threshold(confidence_threshold, "confidence_threshold")
    readings, scored = detector.read_with_detections(list(photos), confidence_threshold)
    exact = [reading.number == "".join(str(int(label)) for label in truth.labels)
             for reading, truth in zip(readings, truths, strict=True)]
    metrics = mean_average_precision(Detections.cat(scored), list(truths),
                                     detector.model.config.num_classes)
    return DetectorScore(sum(exact) / max(len(exact), 1), metrics, readings, scored)


def bootstrap_ap50(scored: Sequence[Detections], truths: Sequence[GroundTruth],
                   num_classes: int, resamples: int = 300, level: float = 0.9,
                   seed: int = 0) -> tuple[float, float]:
    """How far mAP@0.5 on these photos could move on other photos like them.

    A few hundred photos leave mAP uncertain by a few hundredths, as much as many a change
    worth measuring. The percentile bootstrap (Efron 1979) draws the photos again with
    replacement, ``resamples`` times, scores each draw, and returns the middle ``level``
    of those mAPs: with 0.9, the 5th and the 95th percentile.

    Args:
        scored: one image's :class:`Detections` per photo (``DetectorScore.scored``).
        truths: the photos' true digits, in the same order.

    Returns:
        ``(low, high)`` mAP@0.5.
    """
    if len(scored) != len(truths) or not scored:
        raise ReadingError(f"{len(scored)} photos' detections but {len(truths)} sets of true "
                         "digits; give one of each per photo")
    _check_draws(resamples, level)
    values = [mean_average_precision(Detections.cat([scored[i] for i in draw]),
                                     [truths[i] for i in draw], num_classes).ap50
              for draw in _draws(len(scored), resamples, seed)]
    return _middle(values, level)


def bootstrap_share(hits: Sequence[bool], resamples: int = 300, level: float = 0.9,
                    seed: int = 0) -> tuple[float, float]:
    """How far a share (of photos read exactly, say) could move on other photos like these:
    the percentile bootstrap of :func:`bootstrap_ap50`, with the same draws of the photos
    for the same ``seed``, for one yes or no per photo.

    Returns:
        ``(low, high)``, the middle ``level`` of the shares of ``resamples`` draws of the
        photos with replacement.
    """
    if len(hits) == 0:
        raise ReadingError("no photos to draw from; give one yes or no per photo")
    _check_draws(resamples, level)
    values = np.asarray(hits, dtype=np.float64)
    return _middle(values[_draws(len(values), resamples, seed)].mean(axis=1), level)


def _draws(count: int, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, count)`` photo indices: each row one draw of the photos with replacement."""
    return np.random.default_rng(seed).integers(0, count, (resamples, count))


def _middle(values, level: float) -> tuple[float, float]:
    """The middle ``level`` of ``values``: its ``(1 - level) / 2`` and ``(1 + level) / 2``
    percentiles."""
    low, high = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def _check_draws(resamples: int, level: float) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ReadingError(f"resamples: {resamples!r} must be a whole number >= 1 (300, say)")
    if check_threshold(level, "level") in (0.0, 1.0):
        raise ReadingError(f"level: {level!r} must lie strictly between 0 and 1 (0.9, say)")
