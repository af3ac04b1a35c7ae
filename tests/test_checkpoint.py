import pytest
import torch

from tests.sample_configs import CONFIGS
from yolo_smol import CheckpointError, YoloSmol, load_config, load_model, save_model


@pytest.mark.parametrize("name", ["smol", "three_heads"])
def test_saved_and_loaded_model_gives_identical_outputs(name, tmp_path):
    torch.manual_seed(1)
    model = YoloSmol(load_config(CONFIGS[name]))
    # Train-mode steps move BatchNorm's running statistics away from their defaults, so the
    # test also shows that buffers, not only parameters, are saved.
    model.train()
    size = model.config.image_size
    for _ in range(2):
        model(torch.randn(4, 3, size, size))
    model.eval()
    images = torch.randn(2, 3, size, size)
    expected = model(images)
    save_model(model, tmp_path / "w.pt", epoch=3)
    loaded = load_model(tmp_path / "w.pt")
    assert loaded.config == model.config and not loaded.training
    for a, b in zip(expected, loaded(images), strict=True):
        assert torch.equal(a, b)
    assert torch.load(tmp_path / "w.pt", weights_only=True)["epoch"] == 3
    assert not (tmp_path / "w.pt.partial").exists()


def test_missing_weights_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such weights file"):
        load_model(tmp_path / "absent.pt")


def test_corrupt_weights_file(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"definitely not a zip archive")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_model(path)


def test_foreign_checkpoint(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="not a yolo-smol checkpoint"):
        load_model(path)
