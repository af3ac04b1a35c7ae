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


class _RunsCode:
    """Unpickling this calls a function: what a malicious checkpoint does."""

    def __reduce__(self):
        return (print, ("this ran while loading",))


def test_a_checkpoint_holding_code_is_refused_without_torchs_unsafe_advice(tmp_path, capsys):
    model = YoloSmol(load_config("smol"))
    path = tmp_path / "evil.pt"
    torch.save({"model_config": model.config.to_dict(), "model": model.state_dict(),
                "extra": _RunsCode()}, path)
    with pytest.raises(CheckpointError) as error:
        load_model(path)
    message = str(error.value)
    assert "evil.pt: holds pickled Python objects" in message and "was refused" in message
    assert "weights_only=False" not in message
    assert "this ran while loading" not in capsys.readouterr().out


@pytest.mark.parametrize(("change", "expected"), [
    (lambda state: state.pop(next(iter(state))), r"1 missing entries, e.g. \['backbone"),
    (lambda state: state.update({"extra.weight": torch.zeros(1)}),
     r"1 unexpected, e.g. \['extra.weight'\]"),
    (lambda state: state.update({key: torch.zeros(3) for key in list(state)[:1]}),
     r"is \(3,\), the config needs"),
])
def test_weights_that_do_not_fit_their_config_are_one_clear_error(tmp_path, change, expected):
    model = YoloSmol(load_config("smol"))
    state = model.state_dict()
    change(state)
    torch.save({"model_config": model.config.to_dict(), "model": state}, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match=f"w.pt: the weights do not fit the model its "
                                              f"config builds .*{expected}"):
        load_model(tmp_path / "w.pt")


def test_a_state_dict_wrapped_by_another_library_is_named(tmp_path):
    model = YoloSmol(load_config("smol"))
    wrapped = {f"module.{key}": value for key, value in model.state_dict().items()}
    torch.save({"model_config": model.config.to_dict(), "model": wrapped}, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="missing entries.*unexpected, e.g. \\['module."):
        load_model(tmp_path / "w.pt")


def test_a_checkpoint_whose_config_is_a_name_is_refused(tmp_path):
    model = YoloSmol(load_config("smol64"))
    torch.save({"model_config": "smol", "model": model.state_dict()}, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="w.pt: its model_config is 'smol', not the full"):
        load_model(tmp_path / "w.pt")


def test_a_checkpoint_with_an_invalid_config_names_the_field(tmp_path):
    model = YoloSmol(load_config("smol"))
    config = {**model.config.to_dict(), "num_classes": 0}
    torch.save({"model_config": config, "model": model.state_dict()}, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="w.pt: its model_config is not valid: .*"
                                              "num_classes: 0 must be at least 1"):
        load_model(tmp_path / "w.pt")
