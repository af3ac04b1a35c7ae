"""Where images come from: real SVHN, the synthetic set, or a user's own files.

Every source returns a ``datasets.Dataset`` in the schema of SVHN ``full_numbers``
(:data:`yolo_smol.data.schema.SVHN_FEATURES`), so everything downstream reads one format.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

import datasets

from yolo_smol.data.schema import (
    SVHN_FEATURES,
    ImageDataError,
    digits_problem,
    read_image_size,
)
from yolo_smol.data.svhn import SPLIT_SIZES
from yolo_smol.data.synthetic import load_synthetic
from yolo_smol.errors import YoloSmolError
from yolo_smol.photos import IMAGE_SUFFIXES

__all__ = ["DataSourceError", "SVHN_REPO", "SVHN_CONFIG", "hub_reachable", "load_svhn",
           "load_jsonl", "load_dataset_source"]

SVHN_REPO = "ufldl-stanford/svhn"
SVHN_CONFIG = "full_numbers"
_HOW_TO_TRAIN_ANYWAY = ("To work without it, use the embedded synthetic house numbers "
                        "(--dataset synthetic), or your own data (--dataset PATH).")


class DataSourceError(YoloSmolError):
    """A data source that cannot be read; the message says why and what to do instead."""


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face hub opens within ``timeout_s``.

    Checked once up front: without it ``load_dataset`` retries for about 23 s on a machine
    without internet and then fails with a long traceback.
    """
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def load_svhn(split: str = "train", repo: str = SVHN_REPO) -> datasets.Dataset:
    """Real SVHN ``full_numbers`` from the Hugging Face hub (or a local copy of the repo).

    Args:
        split: ``"train"`` (33,402 images), ``"test"`` (13,068) or ``"extra"`` (202,353);
            SVHN has no validation split.
        repo: the hub id, or a local folder laid out as the hub repository.

    Raises:
        DataSourceError: the hub is offline or unreachable, or the split does not exist.
    """
    if split not in SPLIT_SIZES:
        hint = (" (SVHN was published without one: hold out part of train, or use "
                "--dataset synthetic, which has a validation split)"
                if split == "validation" else "")
        raise DataSourceError(f"SVHN has no split {split!r}; use one of: "
                              f"{', '.join(SPLIT_SIZES)}{hint}")
    local = Path(repo).is_dir()
    if not local and _hub_offline():
        # datasets then reads its local cache, or fails at once: no network is tried.
        try:
            return datasets.load_dataset(repo, SVHN_CONFIG, split=split)
        except Exception as error:
            raise DataSourceError(
                f"SVHN is not in the local cache and HF_HUB_OFFLINE is set, so the Hugging "
                f"Face hub was not asked ({type(error).__name__}). Unset HF_HUB_OFFLINE on a "
                f"machine with internet to download it. {_HOW_TO_TRAIN_ANYWAY}") from None
    if not local and not hub_reachable():
        raise DataSourceError(
            f"the Hugging Face hub is not reachable from this machine, so SVHN ({repo}, "
            f"{SVHN_CONFIG}) cannot be downloaded. {_HOW_TO_TRAIN_ANYWAY}")
    return datasets.load_dataset(repo, SVHN_CONFIG, split=split)


def load_jsonl(path: str | Path) -> datasets.Dataset:
    """A JSON-lines annotation file: one ``{"file", "bbox", "label"}`` object per line.

    ``file`` is relative to the annotation file (or absolute); ``bbox`` is a list of
    ``[x, y, w, h]`` boxes in pixels (xywh) and ``label`` the digit of each box. Fractional
    pixels (``19.2``, as many labelling tools write them) are rounded to the nearest pixel,
    as SVHN's schema stores whole pixels; a note on standard error says how many boxes
    were rounded, once per file.

    Raises:
        DataSourceError: naming the line: bad JSON, a missing key or image, or boxes and
            labels that do not fit the schema (see :func:`~yolo_smol.data.schema.digits_problem`).
    """
    path = Path(path)
    images, digits, rounded = [], [], []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            image, row_digits = _read_line(line, f"{path}, line {line_number}", path.parent)
            images.append(image)
            row_digits["bbox"], moved = _whole_pixels(row_digits["bbox"])
            rounded += [(line_number, box) for box in moved]
            digits.append(row_digits)
    _note_rounded(path, rounded)
    try:
        return datasets.Dataset.from_dict({"image": images, "digits": digits},
                                          features=SVHN_FEATURES)
    except (ValueError, TypeError) as error:
        raise DataSourceError(f"{path}: a box or label does not fit the SVHN schema "
                              f"({error}); boxes are [x, y, w, h], labels 0 to 9") from None


def _whole_pixels(boxes: list[list[float]]) -> tuple[list[list[int]], list[list[float]]]:
    """``boxes`` rounded to whole pixels (halves up), and those that had a fraction."""
    whole = [[math.floor(value + 0.5) for value in box] for box in boxes]
    return whole, [box for box, kept in zip(boxes, whole, strict=True) if box != kept]


_NOTED_ROUNDED: set[Path] = set()  # files already noted: a file read for two splits, once


def _note_rounded(path: Path, rounded: list[tuple[int, list[float]]]) -> None:
    if rounded and path.resolve() not in _NOTED_ROUNDED:
        _NOTED_ROUNDED.add(path.resolve())
        line, box = rounded[0]
        print(f"note: {path}: {len(rounded):,} box(es) in fractional pixels rounded to the "
              f"nearest pixel (the first: line {line}, {box})", file=sys.stderr)


def _read_line(line: str, where: str, folder: Path) -> tuple[dict, dict]:
    """One line of a JSON-lines file: the image entry (its bytes, checked to be an image)
    and the digits, checked against the schema; ``where`` names the line in errors."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataSourceError(f"{where}: not valid JSON ({error.msg})") from None
    keys = ("file", "bbox", "label")
    if not isinstance(record, dict) or any(key not in record for key in keys):
        missing = [key for key in keys if not isinstance(record, dict) or key not in record]
        raise DataSourceError(f"{where}: missing {', '.join(missing)}; each line needs "
                              '{"file": ..., "bbox": [[x, y, w, h], ...], "label": [...]}')
    if not isinstance(record["file"], str):
        raise DataSourceError(f"{where}: file {record['file']!r} must be a path in quotes")
    image_path = folder / record["file"]  # an absolute "file" stays as it is
    if not image_path.is_file():
        raise DataSourceError(f"{where}: image {record['file']!r} not found "
                              f"(looked for {image_path})")
    problem = digits_problem({"bbox": record["bbox"], "label": record["label"]})
    if problem:
        raise DataSourceError(f"{where}: {problem}")
    image = {"bytes": image_path.read_bytes(), "path": str(image_path)}
    try:
        read_image_size(image)  # the header only: a file that is no image fails here
    except ImageDataError as error:
        raise DataSourceError(f"{where}: {error}") from None
    return image, {"bbox": record["bbox"], "label": record["label"]}


def _check_schema(dataset: datasets.Dataset, origin: str) -> datasets.Dataset:
    features = dataset.features
    if "image" not in features or "digits" not in features:
        raise DataSourceError(f"{origin}: needs the SVHN full_numbers columns 'image' and "
                              f"'digits', has: {', '.join(features)}")
    digits = features["digits"]
    keys = set(digits) if isinstance(digits, dict) else set(getattr(digits, "feature", {}))
    if not {"bbox", "label"} <= keys:
        raise DataSourceError(f"{origin}: 'digits' needs 'bbox' and 'label' entries")
    return dataset


def _load_path(path: Path, split: str) -> datasets.Dataset:
    if path.is_file() and path.suffix in {".jsonl", ".json"}:
        return load_jsonl(path)
    if path.is_file() and path.suffix == ".parquet":
        return _load_parquet([path], path)
    if path.is_dir() and ((path / "dataset_info.json").is_file()
                          or (path / "dataset_dict.json").is_file()):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataSourceError(f"{path}: has no split {split!r}; it has: "
                                      f"{', '.join(loaded)}")
            return loaded[split]
        return loaded
    if path.is_dir() and any((path / f"{name}.jsonl").is_file() for name in SPLIT_SIZES):
        # A folder of JSON-lines files named after their splits: train.jsonl, test.jsonl.
        if not (path / f"{split}.jsonl").is_file():
            present = [name for name in SPLIT_SIZES if (path / f"{name}.jsonl").is_file()]
            raise DataSourceError(f"{path}: has no {split}.jsonl; it has "
                                  f"{', '.join(f'{name}.jsonl' for name in present)}")
        return load_jsonl(path / f"{split}.jsonl")
    if path.is_dir():
        files = sorted(path.rglob("*.parquet"))
        if not files:
            raise DataSourceError(f"{path}: no parquet files, no dataset saved with "
                                  "save_to_disk; see the data chapter for the formats")
        # Parquet files named after splits (train-0000.parquet, test/...) pick their split.
        in_split = [f for f in files if split in f.relative_to(path).as_posix()]
        return _load_parquet(in_split or files, path)
    if path.is_file():
        kind = ("an image" if path.suffix.lower() in IMAGE_SUFFIXES
                else f"a {path.suffix or 'extensionless'} file")
        raise DataSourceError(f"{path}: is {kind}; --dataset takes 'synthetic', 'svhn', or a "
                              "dataset: a JSON-lines file (.jsonl) of images and boxes, a "
                              "parquet file or folder, or a folder saved with save_to_disk"
                              " (to read the numbers in photos, use yolo-smol detect)")
    raise DataSourceError(f"{path}: no such file or folder; --dataset takes 'synthetic', "
                          "'svhn', or a path to a saved dataset, parquet or JSON-lines file")


def _load_parquet(files: list[Path], origin: Path) -> datasets.Dataset:
    try:
        return datasets.load_dataset("parquet", data_files=[str(f) for f in files],
                                     split="train")
    except Exception as error:  # pyarrow and datasets raise many kinds for a damaged file
        raise DataSourceError(f"{origin}: cannot be read as parquet ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else ''}); check "
                              "that it was written by pyarrow or datasets") from None


def load_dataset_source(source: str | Path, split: str = "train",
                        num_images: int | None = None, seed: int = 0) -> datasets.Dataset:
    """Map a ``--dataset`` value to a Dataset in the SVHN schema.

    Args:
        source: ``"synthetic"`` (generated, cached), ``"svhn"`` (the hub), or a path to a
            dataset saved with ``save_to_disk``, a parquet file or folder, a JSON-lines
            annotation file (the same file serves every split), or a folder holding
            ``train.jsonl`` and ``test.jsonl``.
        split: the split to read where the source has several (the synthetic set has a
            ``"validation"`` split besides SVHN's ``"train"``, ``"test"`` and ``"extra"``).
        num_images: keep only the first this many images (all when None; for the synthetic
            set, :data:`~yolo_smol.data.synthetic.SPLIT_SIZES`).
        seed: the synthetic set's seed.
    """
    if str(source) == "synthetic":
        return load_synthetic(split, num_images, seed)
    if str(source) == "svhn":
        dataset = load_svhn(split)
    else:
        dataset = _check_schema(_load_path(Path(source), split), str(source))
    if num_images is not None and num_images < len(dataset):
        dataset = dataset.select(range(num_images))
    return _check_rows(dataset, str(source))


def _check_rows(dataset: datasets.Dataset, origin: str) -> datasets.Dataset:
    """Every row's boxes and labels, without decoding an image; and at least one box."""
    if len(dataset) == 0:
        raise DataSourceError(f"{origin}: holds no images; every command needs images with "
                              "boxed digits")
    # The digits column alone: no image is decoded. Labels come back as the integers
    # stored, so -1 ("no label" to datasets) is refused too.
    num_boxes = 0
    for index, digits in enumerate(dataset["digits"]):
        problem = digits_problem(digits)
        if problem:
            raise DataSourceError(f"{origin}, row {index}: {problem}")
        num_boxes += len(digits["label"])
    if num_boxes == 0:
        raise DataSourceError(f"{origin}: holds {len(dataset):,} images but no boxes; every "
                              "command needs boxed digits (check the annotations)")
    return dataset
