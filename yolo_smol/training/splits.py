"""The images a training run uses: it trains on one split, chooses on another, reports a third.

Every choice a run makes (which epoch becomes best.pt) is made on the validation split, so
that the test split, scored once at the end with best.pt, measures the weights fairly. A
source with a validation split of its own gives it: the synthetic set, a folder holding
``validation.jsonl`` beside ``train.jsonl``, a saved ``DatasetDict`` or parquet files with
a ``validation`` split. Any other (real SVHN, which was published without one; a single
file; a folder of ``train.jsonl`` and ``test.jsonl``) gives up every tenth image of its
train split (the 10th, 20th, ...; with fewer than ten, the last) as its validation split,
and the run trains on the other nine tenths.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# Plain text lines, also in notebooks (see loop.py).
from tqdm import tqdm

from yolo_smol.config import ModelConfig, input_size
from yolo_smol.data.prepare import PreparedData, boxes_note, prepare, require_boxes
from yolo_smol.data.sources import DataSourceError, load_dataset_source
from yolo_smol.training.settings import TrainConfig

if TYPE_CHECKING:
    import datasets

__all__ = ["HOLD_OUT_EVERY", "RunData", "has_validation_split", "hold_out", "load_run_data"]

HOLD_OUT_EVERY = 10


@dataclass(frozen=True)
class RunData:
    """The three splits of a run, prepared at the model's input size, each with boxes."""

    train: PreparedData
    validation: PreparedData
    test: PreparedData


def has_validation_split(source: str) -> bool:
    """Whether the ``--dataset`` value ``source`` has a validation split of its own (one not
    drawn from the images it trains on)."""
    if source in ("synthetic", "svhn"):
        return source == "synthetic"
    path = Path(source)
    if not path.is_dir():
        return False  # one file serves every split: its "validation" would be its training
    if (path / "validation.jsonl").is_file():
        return True
    if (path / "dataset_dict.json").is_file():
        return "validation" in json.loads((path / "dataset_dict.json").read_text())["splits"]
    if (path / "dataset_info.json").is_file() or any(path.glob("*.jsonl")):
        return False
    return any("validation" in file.relative_to(path).as_posix()
               for file in path.rglob("*.parquet"))


def hold_out(dataset: datasets.Dataset, source: str = "the dataset",
             ) -> tuple[datasets.Dataset, datasets.Dataset]:
    """``(train, validation)``: every :data:`HOLD_OUT_EVERY`-th image of ``dataset`` (the
    10th, 20th, ...; with fewer than ten, the last) held out from the rest.

    Raises:
        DataSourceError: ``dataset`` holds a single image: none is left to train on.
    """
    count = len(dataset)
    if count < 2:
        raise DataSourceError(f"{source}: its train split holds {count} image, so none can be "
                              "held out to choose best.pt on; give a validation split "
                              "(validation.jsonl beside train.jsonl) or more images")
    held = list(range(HOLD_OUT_EVERY - 1, count, HOLD_OUT_EVERY)) or [count - 1]
    kept = sorted(set(range(count)) - set(held))
    return dataset.select(kept), dataset.select(held)


def _loaded(config: TrainConfig) -> dict[str, tuple[datasets.Dataset, str]]:
    """The three splits the settings name, unprepared, each with its name for messages."""
    source, test_source = config.dataset, config.test_dataset or config.dataset
    num_validation = config.num_validation or config.num_test
    if has_validation_split(source):
        train = load_dataset_source(source, "train", config.num_train, config.seed)
        validation = load_dataset_source(source, "validation", num_validation, config.seed)
        validation_name = f"{source} (validation split)"
    else:
        train, validation = hold_out(load_dataset_source(source, "train", seed=config.seed),
                                     source)
        train = train.select(range(min(config.num_train or len(train), len(train))))
        validation = validation.select(range(min(num_validation or len(validation),
                                                 len(validation))))
        validation_name = (f"{source} (every tenth image of its train split, held out from "
                           "training: it has no validation split)")
    test = load_dataset_source(test_source, "test", config.num_test, config.seed)
    return {"train": (train, f"{source} (train split)"),
            "validation": (validation, validation_name),
            "test": (test, f"{test_source} (test split)")}


def load_run_data(config: TrainConfig, model_config: ModelConfig) -> RunData:
    """The train, validation and test splits the settings name, prepared at the model's
    input size. Says what each is, how long loading and resizing took, and how many boxes
    preparing clipped or dropped.

    Raises:
        DataError: a split is left without boxes once prepared (all outside their image).
        DataSourceError: a split cannot be read (see ``load_dataset_source``).
    """
    start = time.perf_counter()
    loaded = _loaded(config)
    (train, train_name), (validation, validation_name), (test, test_name) = loaded.values()
    tqdm.write(f"training on {len(train):,} images of {train_name}")
    tqdm.write(f"choosing best.pt on {len(validation):,} images of {validation_name}")
    tqdm.write(f"scoring on {len(test):,} images of {test_name}, once, with best.pt at the end")
    if _one_file_for_both(config.dataset, config.test_dataset or config.dataset):
        tqdm.write(f"note: {config.dataset} is one file, so the scored images are the training "
                   "images; give --test_dataset, or a folder with train.jsonl and test.jsonl")
    tqdm.write(f"loaded them in {time.perf_counter() - start:.1f} s")
    start, prepared = time.perf_counter(), {}
    for split, (dataset, name) in loaded.items():
        prepared[split] = prepare(dataset, model_config.image_size, config.workers)
        if note := boxes_note(prepared[split], name):  # once per split, not per image
            tqdm.write(f"note: {note}")
        require_boxes(prepared[split], name)
    width, height = input_size(model_config.image_size)
    tqdm.write(f"resized {sum(len(data) for data in prepared.values()):,} images to "
               f"{width}x{height} in {time.perf_counter() - start:.1f} s")
    return RunData(**prepared)


def _one_file_for_both(train_source: str, test_source: str) -> bool:
    """Whether one annotation file (which has no splits) serves as train and test."""
    path = Path(test_source)
    return train_source == test_source and path.is_file() and path.suffix in (".jsonl",
                                                                               ".json",
                                                                               ".parquet")
