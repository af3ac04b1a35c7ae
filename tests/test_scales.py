import pytest
import torch

from tests.sample_configs import REPO
from yolo_smol import load_model
from yolo_smol.config import load_config
from yolo_smol.data.synthetic import make_synthetic
from yolo_smol.detection.postprocess import detect
from yolo_smol.reading.detector import SHIPPED_WEIGHTS
from yolo_smol.reading.looks import anchors_at, input_sizes, to_model_input
from yolo_smol.reading.options import ReadingError, ReadingOptions

SCALES = ReadingOptions.scales


def test_input_sizes_round_to_the_stride_and_drop_repeats():
    wide = load_config(REPO / "configs" / "smol128x64.json")
    assert input_sizes(wide) == [(112, 56), (128, 64), (144, 72)]
    assert input_sizes(wide, (1.0,)) == [(128, 64)]
    assert input_sizes(wide, (1.25, 1.0, 1.26)) == [(160, 80), (128, 64)]
    # 32 x 0.875 = 28 and 32 x 1.125 = 36 round back to 32 (multiples of the stride, 8).
    square = load_config(REPO / "configs" / "smol.json")
    assert input_sizes(square, SCALES) == [(32, 32)]
    assert input_sizes(square, (0.1, 1.5)) == [(8, 8), (48, 48)]  # at least one stride


@pytest.mark.parametrize("scales", [(), (1.0, 0.0), (-1.0,), (float("nan"),), (float("inf"),),
                                    (1e9,), (1.0, 4.01), ("1",), (True,)])
def test_input_sizes_refuse_scales_that_are_not_positive_or_absurdly_large(scales):
    config = load_config(REPO / "configs" / "smol128x64.json")
    with pytest.raises(ReadingError, match=r"^scales: .* must be numbers above 0 and at most 4 "):
        input_sizes(config, scales)
    assert input_sizes(config, (4.0,)) == [(512, 256)]  # the bound itself is read


def test_anchors_at_another_size_keep_their_pixels():
    anchors = torch.tensor([[[0.15, 0.73]], [[0.1, 0.46]]])  # (L, A, 2) fractions
    moved = anchors_at(anchors, (128, 64), (144, 72))
    pixels = torch.tensor([128.0, 64.0])
    torch.testing.assert_close(moved * torch.tensor([144.0, 72.0]), anchors * pixels)
    assert torch.equal(anchors_at(anchors, (128, 64), (128, 64)), anchors)


def test_boxes_read_at_a_larger_input_come_out_the_size_of_the_digits():
    # The network learned box sizes in pixels: read at 144 x 72 with the anchors of 128 x 64
    # in fractions, its boxes come out 1.125 times as large as those it finds at 128 x 64;
    # with anchors_at, the same size.
    model = load_model(SHIPPED_WEIGHTS).eval()
    photos = [row["image"].convert("RGB") for row in make_synthetic(24, seed=5, split="test")]

    def best_heights(size, anchors):
        with torch.inference_mode():
            outputs = list(model(to_model_input(photos, size)))
        found = detect(outputs, anchors, size, 0.5, 0.45,
                       original_sizes=[photo.size for photo in photos])
        # The most confident digit of each photo: its height in the photo's pixels.
        return {int(found.image[row]): float(found.boxes_xyxy[row, 3] - found.boxes_xyxy[row, 1])
                for row in reversed(range(len(found.scores)))}

    own = best_heights((128, 64), model.anchors)
    stored = best_heights((144, 72), model.anchors)
    moved = best_heights((144, 72), anchors_at(model.anchors, (128, 64), (144, 72)))
    both = sorted(set(own) & set(stored) & set(moved))
    assert len(both) >= 15
    ratio = torch.tensor([stored[i] / own[i] for i in both]).median()
    kept = torch.tensor([moved[i] / own[i] for i in both]).median()
    assert ratio == pytest.approx(1.125, abs=0.03)
    assert kept == pytest.approx(1.0, abs=0.03)


def test_the_detector_takes_scales_as_any_sequence_of_numbers_and_checks_them_at_once():
    import numpy as np

    from yolo_smol import Detector

    model = load_model(SHIPPED_WEIGHTS)
    assert Detector(model, "cpu", scales=np.array([1.0, 1.125])).input_sizes == [(128, 64),
                                                                                (144, 72)]
    assert Detector(model, "cpu", scales=[1]).scales == (1.0,)
    with pytest.raises(ReadingError, match="scales: .* must be numbers above 0"):
        Detector(model, "cpu", scales=(0.875, -1.0))
    with pytest.raises(ReadingError, match="at most 4"):  # checked when made, not when read
        Detector(model, "cpu", scales=[1e9])


def test_the_looks_check_their_arguments_in_one_line():
    from PIL import Image

    from yolo_smol.reading.looks import search_windows

    for size in (0, (128, 0), 3000, True, "x"):
        with pytest.raises(ReadingError, match=r"image_size: .* whole numbers from 1 to 2,048$"):
            to_model_input([Image.new("RGB", (8, 8))], size)
    for zoom in (1, 0, 2.5):  # one window per side would divide by zero
        with pytest.raises(ReadingError, match="zoom: .* must be a whole number from 2 to 16"):
            search_windows((300, 100), zoom)
