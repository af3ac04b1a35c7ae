"""A run's three splits: which sources have a validation split, and the tenth held out."""

import datasets
import pytest

from tests.fixtures_data import make_dataset, png_bytes
from yolo_smol.data.sources import DataSourceError
from yolo_smol.training.splits import has_validation_split, hold_out


def _numbered(count: int) -> datasets.Dataset:
    """``count`` images whose one box's left edge is the image's index."""
    return make_dataset([(png_bytes(20, 20), [[index, 0, 4, 8]], [1]) for index in range(count)])


def _lefts(dataset: datasets.Dataset) -> list[int]:
    return [digits["bbox"][0][0] for digits in dataset["digits"]]


def test_every_tenth_image_is_held_out_and_never_trained_on():
    train, validation = hold_out(_numbered(25))
    assert _lefts(validation) == [9, 19]
    assert _lefts(train) == [index for index in range(25) if index not in (9, 19)]


def test_fewer_than_ten_images_hold_out_the_last():
    train, validation = hold_out(_numbered(4))
    assert _lefts(validation) == [3] and _lefts(train) == [0, 1, 2]


def test_a_single_image_cannot_be_split(capsys):
    with pytest.raises(DataSourceError, match="holds 1 image, so none can be held out"):
        hold_out(_numbered(1), "one.jsonl")


def test_which_sources_have_a_validation_split_of_their_own(tmp_path):
    assert has_validation_split("synthetic") and not has_validation_split("svhn")
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "train.jsonl").write_text("")
    (folder / "test.jsonl").write_text("")
    assert not has_validation_split(str(folder))
    assert not has_validation_split(str(folder / "train.jsonl"))  # one file serves every split
    (folder / "validation.jsonl").write_text("")
    assert has_validation_split(str(folder))
    saved = tmp_path / "saved"
    datasets.DatasetDict({"train": _numbered(2), "test": _numbered(2)}).save_to_disk(str(saved))
    assert not has_validation_split(str(saved))
    datasets.DatasetDict({"train": _numbered(2), "validation": _numbered(2)}).save_to_disk(
        str(tmp_path / "saved_with"))
    assert has_validation_split(str(tmp_path / "saved_with"))
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    _numbered(2).to_parquet(str(parquet / "train-00000.parquet"))
    assert not has_validation_split(str(parquet))
    _numbered(2).to_parquet(str(parquet / "validation-00000.parquet"))
    assert has_validation_split(str(parquet))
