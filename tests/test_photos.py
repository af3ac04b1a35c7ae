"""Photos as users have them: EXIF rotation, wide bit depths, bombs, arrays and tensors."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from yolo_smol.photos import MAX_PHOTO_PIXELS, ImageError, as_photo, load_image


def _gradient(width=60, height=20) -> np.ndarray:
    """(H, W) uint8: dark on the left, light on the right, so orientation shows."""
    return np.tile(np.linspace(0, 255, width).round().astype(np.uint8), (height, 1))


def test_exif_orientation_is_applied(tmp_path):
    upright = Image.fromarray(_gradient()).convert("RGB")
    # Stored turned a quarter, with EXIF orientation 6 ("rotate 90 CW to view"), as a phone
    # held upright writes it.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    loaded = load_image(tmp_path / "phone.jpg")
    assert loaded.size == upright.size == (60, 20)
    row = np.asarray(loaded)[10, :, 0].astype(int)
    assert row[0] < 40 and row[-1] > 215  # dark on the left again


@pytest.mark.parametrize(("mode", "values", "expected"), [
    ("I;16", np.array([[0, 32768, 65535]], dtype=np.uint16), [0, 128, 255]),
    ("I", np.array([[0, 32768, 65535]], dtype=np.int32), [0, 128, 255]),
    ("I", np.array([[0, 100, 255]], dtype=np.int32), [0, 100, 255]),
    ("F", np.array([[0.0, 0.5, 1.0]], dtype=np.float32), [0, 128, 255]),
])
def test_wide_bit_depths_are_scaled_not_clipped_to_white(tmp_path, mode, values, expected):
    suffix = ".png" if mode == "I;16" else ".tif"
    image = Image.fromarray(values)
    assert image.mode == mode
    image.save(tmp_path / f"wide{suffix}")
    loaded = load_image(tmp_path / f"wide{suffix}")
    assert loaded.mode == "RGB"
    assert np.asarray(loaded)[0, :, 0].tolist() == expected


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path):
    # 15,000 x 15,000 of one colour: a small file that claims 225 million pixels.
    bomb = tmp_path / "bomb.png"
    Image.new("1", (15_000, 15_000)).save(bomb, optimize=True)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ImageError, match=r"bomb.png: .*225,000,000 pixels|bomb.png: .*claims"):
        load_image(bomb)


def test_just_over_the_limit_is_refused_with_the_size(tmp_path):
    side = int(MAX_PHOTO_PIXELS ** 0.5) + 1
    big = tmp_path / "big.png"
    Image.new("1", (side, side)).save(big)
    with pytest.raises(ImageError, match=f"big.png: {side} x {side} is .* than the 64,000,000"):
        load_image(big)


@pytest.mark.parametrize("mode", ["CMYK", "P", "LA", "1", "L", "RGBA"])
def test_other_modes_still_become_rgb(tmp_path, mode):
    image = Image.new(mode, (8, 6))
    if mode == "P":
        image.info["transparency"] = 0
    image.save(tmp_path / "x.png" if mode != "CMYK" else tmp_path / "x.jpg")
    loaded = load_image(tmp_path / ("x.png" if mode != "CMYK" else "x.jpg"))
    assert loaded.mode == "RGB" and loaded.size == (8, 6)


def test_a_truncated_file_names_the_reason(tmp_path):
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")  # noise: a PNG that is mostly data
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="cut.png: cannot be read as an image"):
        load_image(tmp_path / "cut.png")


def test_arrays_and_tensors_become_the_same_photo():
    pixels = np.stack([_gradient()] * 3, axis=-1)  # (H, W, 3) uint8
    from_array = as_photo(pixels)
    from_tensor = as_photo(torch.from_numpy(pixels).permute(2, 0, 1))
    from_float = as_photo(torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)
    from_grey = as_photo(_gradient())
    for photo in (from_tensor, from_float, from_grey):
        assert np.array_equal(np.asarray(photo), np.asarray(from_array))


@pytest.mark.parametrize(("value", "message"), [
    (np.zeros((4, 5, 4), dtype=np.uint8), r"numpy array of uint8 with shape \(4, 5, 4\)"),
    (np.zeros((4, 5, 3), dtype=np.float64), "numpy array of float64"),
    (torch.zeros(4, 5, 3), r"tensor of shape \(4, 5, 3\); give \(3, H, W\)"),
    (torch.full((3, 4, 5), 7.0), "must hold uint8 values or floats in"),
    (42, "int 42 is not a photo; give a path, a PIL image"),
])
def test_inputs_that_are_not_photos_say_what_is_accepted(value, message):
    with pytest.raises(ImageError, match=message):
        as_photo(value, "images[2]")
