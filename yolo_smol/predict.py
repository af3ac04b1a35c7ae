"""Kept for the chapters until their imports move to ``yolo_smol.reading``; remove then.

Chapter 8's reader is ``yolo_smol.reading``; these are its names under their old home.
"""

from yolo_smol.photos import IMAGE_SUFFIXES, ImageError, find_images, load_image
from yolo_smol.reading.detector import (
    SHIPPED_NAMES,
    SHIPPED_WEIGHTS,
    Detector,
    read_numbers,
    shipped_weights,
)
from yolo_smol.reading.looks import (
    FRAMED_ASPECT,
    FRAMED_DIGIT_HEIGHT,
    SEARCH_ZOOMS,
    search_windows,
    second_look_box,
    to_model_input,
)
from yolo_smol.reading.options import ReadingOptions
from yolo_smol.reading.report import DetectReport, detect_images, draw_reading
from yolo_smol.reading.rules import Reading, only_sure_digits, without_stray_ends

__all__ = ["ImageError", "IMAGE_SUFFIXES", "SHIPPED_NAMES", "SHIPPED_WEIGHTS",
           "shipped_weights", "Reading", "Detector", "DetectReport", "find_images",
           "load_image", "to_model_input", "read_numbers", "draw_reading", "detect_images",
           "only_sure_digits", "without_stray_ends", "SURE_FRACTION", "MAX_END_GAP",
           "FRAMED_ASPECT", "FRAMED_DIGIT_HEIGHT", "SEARCH_ZOOMS", "search_windows",
           "second_look_box"]

SURE_FRACTION = ReadingOptions.sure_fraction  # the default (a dataclass field's)
MAX_END_GAP = ReadingOptions.max_end_gap
