"""benchmarks/sharpness.py: how sharp photos look at the model's input, by photo height."""

import importlib.util
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("sharpness", REPO / "benchmarks" / "sharpness.py")
sharpness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sharpness)


def _columns(width: int, height: int) -> Image.Image:
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, ::2] = 255
    return Image.fromarray(pixels, "RGB")


def test_flat_is_zero_and_alternating_columns_are_the_most():
    assert sharpness.sharpness(Image.new("RGB", (300, 90), (120, 80, 40))) == 0
    assert sharpness.sharpness(_columns(128, 64)) == 255  # already the input size: untouched
    # The same stripes on a photo twice as wide are averaged away by the squash.
    assert sharpness.sharpness(_columns(256, 64)) < 20


def test_photos_fall_into_their_height_bins():
    photos = [Image.new("RGB", (60, height)) for height in (20, 39, 40, 64, 99, 100, 150, 400)]
    bins = sharpness.by_height(datasets.Dataset.from_dict({"image": photos}))
    assert [len(values) for values in bins] == [2, 1, 2, 1, 2]
