import json

import datasets
import pytest

from tests.fixtures_data import make_dataset, png_bytes, write_hub_layout
from yolo_smol.data import sources
from yolo_smol.data.schema import SVHN_FEATURES
from yolo_smol.data.sources import DataSourceError, load_dataset_source, load_jsonl, load_svhn
from yolo_smol.data.synthetic import make_synthetic


@pytest.fixture
def hub_copy(tmp_path, datasets_cache):
    # An empty datasets cache: load_dataset keys local files by path, so a stale copy from
    # an earlier run at the same temporary path would otherwise be read back.
    train = make_synthetic(6, split="train")
    test = make_synthetic(4, split="test")
    return write_hub_layout(tmp_path / "svhn", {"train": train, "test": test}), train, test


def test_real_loading_path_on_a_local_copy_of_the_hub_layout(hub_copy):
    repo, train, test = hub_copy
    loaded = load_svhn("test", repo=str(repo))
    assert loaded.features == SVHN_FEATURES
    assert loaded["digits"] == test["digits"]
    row = loaded[0]
    assert isinstance(row["digits"]["bbox"][0][0], int) and row["image"].mode == "RGB"
    assert load_svhn("train", repo=str(repo))["digits"] == train["digits"]


def test_unreachable_hub_is_a_clear_error_at_once(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(sources, "hub_reachable", lambda timeout_s=3.0: False)
    # "At once": the error comes before the hub client (and its ~23 s of retries) is called.
    monkeypatch.setattr(sources.datasets, "load_dataset",
                        lambda *args, **kwargs: pytest.fail("the hub client was called"))
    with pytest.raises(DataSourceError) as info:
        load_svhn("train")
    assert "not reachable" in str(info.value) and "--dataset synthetic" in str(info.value)


def test_offline_mode_is_honoured(monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(sources, "hub_reachable",
                        lambda timeout_s=3.0: pytest.fail("offline mode must not probe"))
    with pytest.raises(DataSourceError, match="HF_HUB_OFFLINE is set.*--dataset synthetic"):
        load_svhn("train", repo="ufldl-stanford/svhn-not-cached-here")


def test_unknown_svhn_split():
    with pytest.raises(DataSourceError, match="no split 'validation'"):
        load_svhn("validation")


def test_saved_dataset_and_dataset_dict(tmp_path):
    single = make_synthetic(5)
    single.save_to_disk(str(tmp_path / "single"))
    assert load_dataset_source(tmp_path / "single")["digits"] == single["digits"]
    both = datasets.DatasetDict({"train": single, "test": make_synthetic(3, split="test")})
    both.save_to_disk(str(tmp_path / "both"))
    assert len(load_dataset_source(tmp_path / "both", split="test")) == 3
    with pytest.raises(DataSourceError, match="no split 'extra'"):
        load_dataset_source(tmp_path / "both", split="extra")


def test_parquet_file_and_folder(hub_copy):
    repo, train, test = hub_copy
    file = repo / "full_numbers" / "test-00000-of-00001.parquet"
    assert load_dataset_source(file)["digits"] == test["digits"]
    assert load_dataset_source(repo / "full_numbers", split="train")["digits"] == train[
        "digits"]


def test_num_images_keeps_the_first_rows(hub_copy):
    repo, train, _ = hub_copy
    assert load_dataset_source(repo / "full_numbers", "train", num_images=2)["digits"] == (
        train["digits"][:2])


def _write_jsonl(folder, records):
    path = folder / "labels.jsonl"
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n")
    return path


def test_jsonl_annotations(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png_bytes(60, 30))
    (tmp_path / "images" / "b.png").write_bytes(png_bytes(40, 20))
    path = _write_jsonl(tmp_path, [
        {"file": "images/a.png", "bbox": [[5, 2, 10, 20], [16, 3, 9, 21]], "label": [4, 2]},
        {"file": "images/b.png", "bbox": [], "label": []}])
    loaded = load_dataset_source(path)
    assert loaded.features == SVHN_FEATURES
    assert loaded[0]["digits"] == {"bbox": [[5, 2, 10, 20], [16, 3, 9, 21]], "label": [4, 2]}
    assert loaded[1]["image"].size == (40, 20)


def test_jsonl_missing_image_names_file_and_line(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(60, 30))
    path = _write_jsonl(tmp_path, [
        {"file": "a.png", "bbox": [[5, 2, 10, 20]], "label": [4]},
        {"file": "gone.png", "bbox": [[5, 2, 10, 20]], "label": [1]}])
    with pytest.raises(DataSourceError, match=r"labels.jsonl, line 2: image 'gone.png' not found"):
        load_jsonl(path)


def test_jsonl_bad_lines(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(60, 30))
    path = tmp_path / "labels.jsonl"
    path.write_text('{"file": "a.png", "bbox": [[1, 1, 2, 2]], "label": [1]}\n{oops\n')
    with pytest.raises(DataSourceError, match="line 2: not valid JSON"):
        load_jsonl(path)
    path.write_text('{"file": "a.png", "bbox": [[1, 1, 2, 2]]}\n')
    with pytest.raises(DataSourceError, match="line 1: missing label"):
        load_jsonl(path)
    path.write_text('{"file": "a.png", "bbox": [[1, 1, 2, 2]], "label": [1, 2]}\n')
    with pytest.raises(DataSourceError, match="1 boxes but 2 labels"):
        load_jsonl(path)


def test_wrong_schema_and_missing_path(tmp_path):
    other = datasets.Dataset.from_dict({"picture": [1, 2]})
    other.save_to_disk(str(tmp_path / "other"))
    with pytest.raises(DataSourceError, match="needs the SVHN full_numbers columns"):
        load_dataset_source(tmp_path / "other")
    with pytest.raises(DataSourceError, match="no such file or folder"):
        load_dataset_source(tmp_path / "nowhere")


def test_synthetic_source(datasets_cache):
    dataset = load_dataset_source("synthetic", "test", num_images=7, seed=1)
    assert len(dataset) == 7 and dataset.features == SVHN_FEATURES


def test_fixture_rows_round_trip():
    dataset = make_dataset([(png_bytes(30, 20), [[1, 2, 3, 4]], [7])])
    assert dataset[0]["digits"] == {"bbox": [[1, 2, 3, 4]], "label": [7]}
