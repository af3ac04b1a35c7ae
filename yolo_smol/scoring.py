"""Kept for the chapters until their imports move to ``yolo_smol.reading.scoring``; remove
then."""

from yolo_smol.reading.scoring import (
    DetectorScore,
    bootstrap_ap50,
    bootstrap_share,
    score_detector,
    true_digits,
)

__all__ = ["DetectorScore", "true_digits", "score_detector", "bootstrap_ap50",
           "bootstrap_share"]
