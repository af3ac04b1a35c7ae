"""Photos as users have them, turned into the 8-bit RGB images the model was trained on.

A phone photo stores "rotate me" in its EXIF header instead of rotating its pixels; a
scanner or a camera pipeline writes 16-bit PNGs and 32-bit or float TIFFs, which a plain
``convert("RGB")`` clips to white; a tiny file can claim billions of pixels (a
decompression bomb); and a caller may hold the photo already, as a PIL image, a numpy array
or a tensor. Each of these is handled here, once, for the command line and the Python API,
and anything that cannot become a photo is an :class:`ImageError` naming the file or the
input and the reason.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from yolo_smol.errors import YoloSmolError

__all__ = ["ImageError", "IMAGE_SUFFIXES", "MAX_PHOTO_PIXELS", "find_images", "load_image",
           "to_rgb", "as_photo"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# The most pixels a photo may have: 64 megapixels is more than any phone or camera takes
# today; beyond it, decoding alone costs gigabytes, and the model sees a 128 x 64 squash.
MAX_PHOTO_PIXELS = 64_000_000
# Pillow modes of more than 8 bits per pixel, which convert("RGB") would clip.
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_ORIENTATION = 0x0112  # the EXIF tag that says how to turn the stored pixels
# The tensor types a photo is accepted in: 8-bit values, or floats in [0, 1].
_TENSOR_DTYPES = ("uint8", "float16", "bfloat16", "float32", "float64")


class ImageError(YoloSmolError):
    """A photo that cannot be read; the message names the file and the reason."""


def find_images(path: str | Path) -> list[Path]:
    """``path`` itself if it is a file, else the images directly inside the folder, sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ImageError(f"{path}: no such file or folder")
    try:
        found = sorted(child for child in path.iterdir()
                       if child.suffix.lower() in IMAGE_SUFFIXES and child.is_file())
    except OSError as error:  # no permission to list it, or it went away meanwhile
        raise ImageError(f"{path}: the folder cannot be listed ({error.strerror or error}); "
                         "give a folder you can read") from None
    if not found:
        raise ImageError(f"{path}: the folder holds no images (looked for "
                         f"{', '.join(IMAGE_SUFFIXES)})")
    return found


def load_image(path: str | Path | BinaryIO) -> Image.Image:
    """The photo at ``path`` (or in an open binary file, such as an upload) as 8-bit RGB,
    upright; the whole file is read now, not lazily.

    Raises:
        ImageError: no such file, not an image, damaged, or more than
            :data:`MAX_PHOTO_PIXELS` pixels (checked from the header, before decoding).
    """
    name = str(path) if isinstance(path, (str, Path)) else getattr(path, "name", "the image")
    try:
        with warnings.catch_warnings():
            # Pillow warns about large images; the size check below refuses them anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                _check_size(image.size, name)
                return to_rgb(image)
    except ImageError:
        raise  # already names the file and the reason (and is a ValueError, caught below)
    except FileNotFoundError:
        reason = "no such file"
    except IsADirectoryError:
        reason = "is a folder"
    except UnidentifiedImageError:
        reason = "not in any image format Pillow knows"
    except Image.DecompressionBombError as error:
        reason = f"claims more pixels than this reads ({error})"
    except (OSError, ValueError, SyntaxError) as error:  # truncated or damaged image data
        reason = str(error) or type(error).__name__
    raise ImageError(f"{name}: cannot be read as an image: {reason}")


def _check_size(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width * height > MAX_PHOTO_PIXELS:
        raise ImageError(f"{name}: {width} x {height} is {width * height:,} pixels, more "
                         f"than the {MAX_PHOTO_PIXELS:,} this reads; shrink it first")
    if width < 1 or height < 1:
        raise ImageError(f"{name}: {width} x {height} holds no pixels")


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` upright (its EXIF orientation applied) in 8-bit RGB.

    Images of more than 8 bits per channel are scaled to 8 bits by their range, not
    clipped: 16-bit values by 255/65535, 32-bit integers by the range their values use,
    floats in [0, 1] by 255. Every other mode (CMYK, palette, greyscale with alpha, 1-bit)
    is Pillow's own conversion.
    """
    image = ImageOps.exif_transpose(image)  # a new image, turned or not
    if image.mode in _WIDE_MODES:
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(_to_8_bit(values, image.mode), mode="L")
    # An RGB image is not copied a second time: a phone photo is 36 MB.
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_8_bit(values: np.ndarray, mode: str) -> np.ndarray:
    """``values`` of a wide Pillow mode scaled to uint8."""
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    if mode.startswith("I;16"):
        scale = 255 / 65535
    elif mode == "F" and top <= 1.0:
        scale = 255.0  # floats in [0, 1]
    elif top <= 255:
        scale = 1.0
    elif top <= 65535:
        scale = 255 / 65535
    else:
        scale = 255 / (2**32 - 1)
    return np.clip(np.nan_to_num(values * scale), 0, 255).round().astype(np.uint8)


def as_photo(image: Any, name: str = "image") -> Image.Image:
    """Any photo a caller may hold, as 8-bit RGB.

    Args:
        image: a path (``str`` or ``Path``); a PIL image; a numpy array ``(H, W, 3)`` or
            ``(H, W)`` of uint8; or a tensor ``(3, H, W)`` of uint8, or of floats in
            [0, 1] (as ``torchvision.transforms.functional.to_tensor`` gives).
        name: how the input is named in an error (its position in a list, say).

    Raises:
        ImageError: what was given and what is accepted.
    """
    if isinstance(image, (str, Path)):
        return load_image(image)
    if isinstance(image, Image.Image):
        _check_size(image.size, name)
        if image.mode == "RGB" and image.getexif().get(_ORIENTATION, 1) == 1:
            return image  # already what the model reads: read, never changed, not copied
        return to_rgb(image)
    if isinstance(image, np.ndarray):
        return _from_array(image, name, "numpy array", "(H, W, 3) or (H, W) of uint8")
    if type(image).__module__.startswith("torch"):  # a tensor, without importing torch here
        return _from_tensor(image, name)
    shown = " ".join(repr(image).split())  # one line, whatever the object prints
    raise ImageError(f"{name}: {type(image).__name__} {shown:.40} is not a photo; give a "
                     "path, a PIL image, a numpy array (H, W, 3) or a tensor (3, H, W)")


def _from_tensor(image: Any, name: str) -> Image.Image:
    """A ``(3, H, W)`` tensor of uint8, or of floats in [0, 1], as a photo."""
    if getattr(image, "layout", None) is not None and str(image.layout) != "torch.strided":
        raise ImageError(f"{name}: a {str(image.layout).removeprefix('torch.')} tensor; give "
                         "a dense one (tensor.to_dense())")
    if image.device.type == "meta":
        raise ImageError(f"{name}: a tensor on the meta device holds no values; give one "
                         "on the CPU or a GPU")
    if image.dim() != 3 or image.shape[0] != 3:
        raise ImageError(f"{name}: a tensor of shape {tuple(image.shape)}; give (3, H, W)")
    dtype = str(image.dtype).removeprefix("torch.")
    if dtype not in _TENSOR_DTYPES:
        raise ImageError(f"{name}: a tensor of {dtype}; give uint8 values or floats in "
                         "[0, 1] (float16, bfloat16, float32 or float64)")
    if dtype != "uint8":
        image = image.detach().float()  # numpy has no bfloat16
    array = image.detach().cpu().permute(1, 2, 0).numpy()
    if array.dtype != np.uint8:
        if array.size and not (np.isfinite(array).all() and 0 <= array.min()
                               and array.max() <= 1):
            raise ImageError(f"{name}: a tensor of {dtype} must hold uint8 values or floats "
                             "in [0, 1]")
        array = (array * 255).round().astype(np.uint8)
    return _from_array(array, name, "tensor", "(3, H, W) of uint8 or floats in [0, 1]")


def _from_array(array: np.ndarray, name: str, kind: str, accepted: str) -> Image.Image:
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (
            array.ndim == 3 and array.shape[2] != 3):
        raise ImageError(f"{name}: a {kind} of {array.dtype} with shape {array.shape}; give "
                         f"{accepted}")
    _check_size((array.shape[1], array.shape[0]), name)
    return Image.fromarray(np.ascontiguousarray(array)).convert("RGB")
