"""What ``yolo-smol detect`` does with a folder: read it chunk by chunk, draw, write.

A folder of phone photos is gigabytes once decoded (12 megapixels, 36 MB each), so photos
are decoded a chunk at a time (:data:`CHUNK_PIXELS`), read, drawn, written and forgotten:
memory stays flat however many photos the folder holds. ``readings.json`` is rewritten
(aside, then renamed into place) after every chunk, so a run that is interrupted or fails
keeps, in valid JSON, every photo read before: rewriting the whole file costs milliseconds
a chunk, and a file appended to would be invalid JSON until its end was written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont

from yolo_smol.config import load_config
from yolo_smol.outputs import (
    OutputError,
    check_result_folder,
    writable_folder,
    write_atomically,
    write_json,
)
from yolo_smol.photos import ImageError, find_images, load_image
from yolo_smol.reading.detector import SHIPPED_WEIGHTS, Detector
from yolo_smol.reading.options import ReadingOptions, check_threshold
from yolo_smol.reading.rules import Reading

__all__ = ["ANNOTATED_SUFFIX", "CHUNK_PIXELS", "DetectReport", "detect_images",
           "draw_reading", "photos_to_read"]

# The annotated copy of each photo is <stem>.detected.png; such files are never read as
# photos, so that a --save_dir that is the photos' folder is not read again as photos.
ANNOTATED_SUFFIX = ".detected.png"
# At most this many decoded pixels at once (3 bytes each, 144 MB): four phone photos, or a
# whole batch of SVHN-sized photos. Its photos are read together, then let go.
CHUNK_PIXELS = 48_000_000


@dataclass(frozen=True)
class DetectReport:
    """What :func:`detect_images` read and wrote.

    Attributes:
        readings: ``(path, number)`` for each photo read, in the order found ("" when no
            digit was found).
        unreadable: one message per photo that could not be read (file and reason).
        left_out: files of the folder left out as annotated copies (``*.detected.png``).
        weights: the checkpoint used.
        readings_json: where the readings were written.
    """

    readings: list[tuple[Path, str]]
    unreadable: list[str]
    left_out: int
    weights: Path
    readings_json: Path


def detect_images(image_path: str | Path, save_dir: str | Path,
                  weights: str | Path | None = None, model_config: str | None = None,
                  confidence_threshold: float = 0.25, device: torch.device | str = "auto",
                  options: ReadingOptions | None = None, exist_ok: bool = False,
                  on_photo: Callable[[Path, Reading | str], None] | None = None,
                  ) -> DetectReport:
    """Everything ``yolo-smol detect`` does: each photo to ``save_dir/<name>.detected.png``
    with its digits boxed; ``save_dir/readings.json`` lists every digit with its score and
    box (xyxy, the photo's pixels), the options, and ``"complete"`` (false until the last
    photo is in). A photo that cannot be read is listed, and the others are still read.

    Args:
        weights: a checkpoint (None: the shipped detector), checked against
            ``model_config`` if that is given.
        options: how the :class:`Detector` reads (its defaults when None).
        exist_ok: replace an earlier run's results in ``save_dir`` (refused otherwise).
        on_photo: called after each photo with its :class:`Reading`, or why it could not be
            read; it may raise (KeyboardInterrupt) to stop, ``readings.json`` kept valid.

    Raises: ImageError, OutputError, CheckpointError, ConfigError, ReadingError.
    """
    # 1) Everything that can be refused, before the model loads.
    options = ReadingOptions.from_keywords(options)
    check_threshold(confidence_threshold, "confidence_threshold")
    save_dir, photos, left_out = _checked_folders(image_path, save_dir, exist_ok)
    detector, weights = _detector(weights, model_config, device, options)
    record = _Record(save_dir / "readings.json", {
        "weights": str(weights), "confidence_threshold": confidence_threshold,
        **asdict(options)})
    # 2) Chunk by chunk: decode, read, draw and write, forget.
    try:
        for chunk in _chunks(photos, options.batch_size):
            _read_chunk(detector, chunk, confidence_threshold, record, on_photo)
            record.write()
    except BaseException as error:
        if not isinstance(error, OutputError):  # what was read so far stays readable
            record.write()
        raise
    record.write(complete=True)
    return DetectReport(record.read, record.unreadable, left_out, weights, record.path)


def photos_to_read(image_path: str | Path) -> tuple[list[Path], int]:
    """The photos at ``image_path`` (a photo, or a folder's photos), and how many files of
    the folder were left out as annotated copies that ``detect`` writes (``*.detected.png``).

    Raises:
        ImageError: no photo there (the folder holds only annotated copies, say).
    """
    found = find_images(image_path)
    if Path(image_path).is_file():
        return found, 0
    photos = [path for path in found if not path.name.lower().endswith(ANNOTATED_SUFFIX)]
    if not photos:
        raise ImageError(f"{image_path}: the folder holds only annotated copies that "
                         f"yolo-smol detect wrote (*{ANNOTATED_SUFFIX}); give the folder "
                         "of the photos")
    return photos, len(found) - len(photos)


def _checked_folders(image_path: str | Path, save_dir: str | Path, exist_ok: bool,
                     ) -> tuple[Path, list[tuple[Path, str]], int]:
    """The results' folder, checked; each photo with its annotated copy's name; and how
    many annotated copies were left out of the photos."""
    save_dir = writable_folder(save_dir)  # first: a bad --save_dir must not wait for photos
    paths, left_out = photos_to_read(image_path)
    names = _output_names(paths)
    # An earlier run's readings.json, or an annotated copy this run would replace.
    check_result_folder(save_dir, ("readings.json", *[
        name for name in names if (save_dir / name).exists()][:1]), exist_ok)
    return save_dir, list(zip(paths, names, strict=True)), left_out


class _Record:
    """``readings.json`` as the run goes: a header, then every photo read so far."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path, self.header = path, header
        self.entries: list[dict] = []
        self.read: list[tuple[Path, str]] = []
        self.unreadable: list[str] = []

    def add(self, path: Path, reading: Reading, annotated: str) -> None:
        self.entries.append(_reading_entry(path, reading, annotated))
        self.read.append((path, reading.number))

    def write(self, complete: bool = False) -> None:
        write_json(self.path, {**self.header, "complete": complete, "readings": self.entries,
                               "unreadable": self.unreadable})


def _chunks(items: list[tuple[Path, str]], most_photos: int,
            ) -> Iterator[list[tuple[Path, str, Image.Image | str]]]:
    """``(path, annotated name, photo or why it cannot be read)`` in chunks of at most
    ``most_photos`` photos and :data:`CHUNK_PIXELS` decoded pixels (one photo at least)."""
    chunk: list[tuple[Path, str, Image.Image | str]] = []
    photos = pixels = 0
    for path, name in items:
        chunk.append((path, name, _loaded(path)))  # held by the chunk alone
        if isinstance(chunk[-1][2], Image.Image):
            photos += 1
            pixels += chunk[-1][2].width * chunk[-1][2].height
        if photos >= most_photos or pixels >= CHUNK_PIXELS:
            yield chunk
            chunk, photos, pixels = [], 0, 0
    if chunk:
        yield chunk


def _loaded(path: Path) -> Image.Image | str:
    """The photo at ``path``, or why it cannot be read: one unreadable photo in a folder
    must not cost the others."""
    try:
        return load_image(path)
    except ImageError as error:
        return str(error)


def _read_chunk(detector: Detector, chunk: list[tuple[Path, str, Image.Image | str]],
                confidence_threshold: float, record: _Record,
                on_photo: Callable[[Path, Reading | str], None] | None) -> None:
    """Read the chunk's photos together, write each one's annotated copy, record it; the
    chunk's photos are let go at the end (the list is emptied)."""
    photos = [photo for _, _, photo in chunk if isinstance(photo, Image.Image)]
    readings = iter(detector(photos, confidence_threshold) if photos else [])
    for path, name, photo in chunk:
        if isinstance(photo, str):
            record.unreadable.append(photo)
            outcome: Reading | str = photo
        else:
            outcome = next(readings)
            drawn = draw_reading(photo, outcome)
            # A low zlib level: the copies are for looking at, and on a phone photo level 6
            # (Pillow's default) takes 1.0 s against 0.6 s, for a file a third smaller.
            write_atomically(record.path.parent / name, lambda partial, drawn=drawn: drawn.save(
                partial, format="PNG", compress_level=1))
            record.add(path, outcome, name)
        if on_photo is not None:
            on_photo(path, outcome)
    chunk.clear()


def draw_reading(image: Image.Image, reading: Reading) -> Image.Image:
    """A copy of ``image`` with each digit's box, label and score, and the number above.

    Small photos are enlarged first (SVHN crops are often 30 px tall), so the labels stay
    legible; boxes are scaled with them.
    """
    # Enlarged to about 240 px tall, but never past 4,096 px on the long side: a 10,000 x 1
    # photo must not become a 2.4-gigapixel canvas.
    scale = max(1, min(round(240 / max(1, image.height)),
                       4096 // max(image.width, image.height, 1)))
    text_size = max(12, image.height * scale // 14)
    font = ImageFont.load_default(size=text_size)  # Pillow's scalable built-in font
    banner = text_size + 10
    framed = Image.new("RGB", (image.width * scale, image.height * scale + banner), "white")
    # Pasted as it is where it keeps its size: a phone photo's copy costs 36 MB.
    framed.paste(image if scale == 1 else image.resize(
        (image.width * scale, image.height * scale), Image.NEAREST), (0, banner))
    draw = ImageDraw.Draw(framed)
    for box, score, label in zip(reading.detections.boxes_xyxy.tolist(),
                                 reading.detections.scores.tolist(),
                                 reading.detections.labels.tolist(), strict=True):
        left, top, right, bottom = (value * scale for value in box)
        draw.rectangle((left, top + banner, right, bottom + banner), outline="red", width=2)
        draw.text((left + 2, top + banner + 2), f"{label} {score:.2f}", fill="yellow",
                  font=font, stroke_width=1, stroke_fill="black")
    draw.text((4, 5), f"read: {reading.number or '(nothing)'}", fill="black", font=font)
    return framed


def _detector(weights: str | Path | None, model_config: str | None,
              device: torch.device | str, options: ReadingOptions) -> tuple[Detector, Path]:
    """The detector to read with, and the checkpoint it came from (the shipped one when
    ``weights`` is None), checked against ``model_config`` when that is given."""
    weights = Path(weights) if weights is not None else SHIPPED_WEIGHTS
    detector = Detector.from_pretrained(weights, device, options)
    if model_config is not None and load_config(model_config) != detector.model.config:
        raise ImageError(f"--model_config {model_config} is not the config {weights} was "
                         "trained with; leave --model_config out (the checkpoint carries "
                         "its config)")
    return detector, weights


def _output_names(paths: list[Path]) -> list[str]:
    """The annotated copy's file name for each photo: ``<stem>.detected.png``, or
    ``<stem>_<ext>.detected.png`` where photos share a stem (``a.png`` and ``a.jpg``), so
    that no copy overwrites another."""
    shared = Counter(path.stem for path in paths)
    return [f"{path.stem}{ANNOTATED_SUFFIX}" if shared[path.stem] == 1
            else f"{path.stem}_{path.suffix.lstrip('.')}{ANNOTATED_SUFFIX}" for path in paths]


def _reading_entry(path: Path, reading: Reading, annotated: str) -> dict:
    detections = reading.detections
    digits = [{"digit": int(label), "score": round(float(score), 4),
               "box_xyxy": [round(value, 1) for value in box]}
              for box, score, label in zip(detections.boxes_xyxy.tolist(),
                                           detections.scores.tolist(),
                                           detections.labels.tolist(), strict=True)]
    return {"image": str(path), "annotated": annotated, "number": reading.number,
            "digits": digits}
