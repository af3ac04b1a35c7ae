"""ReadingOptions, and the Detector's arguments: every odd input is one line, when called."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from yolo_smol import Detector, ReadingOptions, YoloSmolError, load_model
from yolo_smol.photos import ImageError
from yolo_smol.reading.detector import SHIPPED_WEIGHTS
from yolo_smol.reading.options import MAX_SCALE, ReadingError


@pytest.fixture(scope="module")
def detector():
    return Detector.from_pretrained(device="cpu", scales=(1.0,))


@pytest.fixture(scope="module")
def photo():
    from yolo_smol.data.synthetic import make_synthetic

    return make_synthetic(1, seed=5, split="test")[0]["image"].convert("RGB")


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and len(message) < 300, message
    return message


def test_the_defaults_are_the_readers_and_survive_json():
    options = ReadingOptions()
    assert (options.scales, options.sure_fraction, options.max_end_gap) == (
        (0.875, 1.0, 1.125), 0.4, 0.4)
    assert options.search and options.second_look and options.batch_size == 64
    again = ReadingOptions(**json.loads(json.dumps(dataclasses.asdict(options))))
    assert again == options and isinstance(again.scales, tuple)  # a JSON list comes back
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.scales = (1.0,)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"iou_threshold": math.nan}, "iou_threshold: nan must be a number from 0 to 1"),
    ({"overlap_threshold": -0.1}, "overlap_threshold: -0.1 must be a number from 0 to 1"),
    ({"sure_fraction": 1.5}, "sure_fraction: 1.5 must be a number from 0 to 1"),
    ({"other_class_factor": "0.5"}, "other_class_factor: '0.5' must be a number from 0 to 1"),
    ({"batch_size": 0}, "batch_size: 0 must be a whole number >= 1"),
    ({"batch_size": 2.5}, "batch_size: 2.5 must be a whole number >= 1"),
    ({"batch_size": True}, "batch_size: True must be a whole number >= 1"),
    ({"search": "False"}, "search: 'False' must be True or False"),
    ({"scales": ()}, "scales: () must be numbers above 0"),
    ({"scales": (1.0, math.inf)}, "scales: (1.0, inf) must be numbers above 0"),
    ({"scales": (1e9,)},
     f"scales: (1000000000.0,) must be numbers above 0 and at most {MAX_SCALE:g}"),
    ({"scales": 1.0}, "scales: 1.0 must be numbers above 0"),
    ({"max_end_gap": -0.1}, "max_end_gap: -0.1 must be a number >= 0 (digit heights), or None"),
    ({"max_end_gap": math.nan}, "max_end_gap: nan must be a number >= 0"),
])
def test_each_bad_option_is_one_line_naming_it(changes, expected):
    with pytest.raises(ReadingError) as error:
        ReadingOptions(**changes)
    assert _one_line(error).startswith(expected)
    assert isinstance(error.value, YoloSmolError)


def test_numpy_numbers_are_numbers():
    options = ReadingOptions(sure_fraction=np.float32(0.5), batch_size=np.int64(8),
                             scales=np.array([1.0, 1.125]))
    assert options.batch_size == 8 and options.scales == (1.0, 1.125)


def test_the_detector_takes_options_or_keywords_and_names_an_unknown_one():
    model = load_model(SHIPPED_WEIGHTS)
    chosen = ReadingOptions(scales=(1.0,), search=False)
    assert Detector(model, "cpu", chosen).options == chosen
    # As chapter 8 calls it: keywords change the defaults' fields (or the options given).
    keyworded = Detector(model, device="cpu", scales=(1.0,), sure_fraction=0.0)
    assert keyworded.options == ReadingOptions(scales=(1.0,), sure_fraction=0.0)
    assert keyworded.sure_fraction == 0.0 and keyworded.scales == (1.0,)  # as attributes
    assert Detector(model, "cpu", chosen, search=True).options.search is True
    with pytest.raises(ReadingError) as error:
        Detector(model, "cpu", sure_fractio=0.2)
    assert "unknown reading option 'sure_fractio' (did you mean sure_fraction?)" in _one_line(
        error)
    with pytest.raises(ReadingError, match="options: a float; give a ReadingOptions"):
        Detector(model, "cpu", 0.45)  # the old positional iou_threshold
    with pytest.raises(ReadingError, match="model: a str; give a YoloSmol"):
        Detector(str(SHIPPED_WEIGHTS))
    with pytest.raises(ReadingError, match="device: unknown device 'gpu9'"):
        Detector(model, "gpu9")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        keyworded.nothing  # noqa: B018


def test_bad_options_are_refused_before_the_weights_are_read(tmp_path):
    # The weights file does not exist: the options' error comes first, at once.
    with pytest.raises(ReadingError, match="batch_size: 0 must be a whole number >= 1"):
        Detector.from_pretrained(tmp_path / "missing.pt", batch_size=0)
    with pytest.raises(ReadingError, match="at most 4"):
        Detector.from_pretrained(tmp_path / "missing.pt", scales=[1e9])


@pytest.mark.parametrize("threshold", [math.nan, -1, 1.5, "0.3", None])
def test_a_threshold_that_is_no_score_is_refused_when_called(detector, photo, threshold):
    with pytest.raises(ReadingError) as error:
        detector(photo, confidence_threshold=threshold)
    assert _one_line(error).startswith("confidence_threshold: ")
    with pytest.raises(ReadingError, match="minimum_score: "):
        detector.detections(photo, minimum_score=threshold if threshold is not None else -1)


def test_odd_tensors_are_read_or_refused_in_one_line(detector, photo):
    pixels = torch.from_numpy(np.array(photo)).permute(2, 0, 1)  # (3, H, W) uint8
    expected = detector(photo).number
    # bfloat16 and float16 are floats in [0, 1] like any other: read, not a TypeError.
    for dtype in (torch.bfloat16, torch.float16):
        reading = detector((pixels.float() / 255).to(dtype))
        assert reading.size == photo.size and isinstance(reading.number, str)
    assert detector(pixels.float() / 255).number == expected
    refused = [(pixels.to_sparse(), "images[0]: a sparse_coo tensor; give a dense one"),
               (torch.empty(3, 8, 8, device="meta"), "on the meta device holds no values"),
               (pixels.to(torch.int32), "a tensor of int32; give uint8 values or floats"),
               (torch.full((3, 8, 8), math.nan), "a tensor of float32 must hold uint8 values"),
               (torch.zeros(1, 3, 8, 8), "a tensor of shape (1, 3, 8, 8); give (3, H, W)")]
    for tensor, expected_message in refused:
        with pytest.raises(ImageError) as error:
            detector([tensor])
        assert expected_message in _one_line(error)


def test_a_nested_list_or_a_dict_is_one_line_without_an_array_dump(detector):
    nested = [np.zeros((40, 80, 3), dtype=np.float64)]  # a photo's values, one level too deep
    with pytest.raises(ImageError) as error:
        detector([nested])
    assert _one_line(error).startswith("images[0]: list [array([[[0., 0., 0.], [0., 0., 0.],")
    with pytest.raises(ImageError) as error:
        detector({"image": Image.new("RGB", (8, 8))})
    assert _one_line(error).startswith("image: dict {'image': <PIL.Image.Image image mode=")


def test_a_photo_given_as_an_rgb_image_is_read_without_a_copy(photo):
    from yolo_smol.photos import as_photo

    assert as_photo(photo) is photo  # a phone photo is 36 MB: not copied to be read
    turned = photo.copy()
    turned.getexif()[0x0112] = 3  # upside down: turned, so a new image
    assert as_photo(turned) is not turned and as_photo(turned).size == photo.size
