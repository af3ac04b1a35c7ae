import csv
import json

import pytest
import torch

from yolo_smol import load_config, load_model
from yolo_smol.data import prepare
from yolo_smol.ema import ModelEMA
from yolo_smol.synthetic import make_synthetic
from yolo_smol.train import TrainConfig, TrainConfigError, parameter_groups, train


@pytest.fixture(scope="module")
def tiny_data():
    return (prepare(make_synthetic(96, seed=1), 32),
            prepare(make_synthetic(32, seed=1, split="test"), 32))


def _config(tmp_path, name, **changes):
    settings = dict(batch_size=32, num_epochs=4, lr=3e-3, eval_every=2, checkpoint_epoch=2,
                    save_dir=str(tmp_path / name), device="cpu", warmup_epochs=1.0)
    return TrainConfig(**(settings | changes))


def test_a_run_leaves_what_it_promises(tiny_data, tmp_path):
    train_data, test_data = tiny_data
    result = train(load_config("smol"), _config(tmp_path, "run"), train_data, test_data)
    folder = tmp_path / "run"
    for name in ("config.json", "metrics.csv", "training_curves.png", "last.pt", "best.pt",
                 "epoch_002.pt", "epoch_004.pt", "detections_epoch_002.png",
                 "detections_epoch_004.png"):
        assert (folder / name).is_file(), name
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert [row["epoch"] for row in rows] == ["1", "2", "3", "4"]
    assert rows[0]["map"] == "" and rows[1]["map"] != ""
    assert float(rows[-1]["total"]) < float(rows[0]["total"])
    saved = json.loads((folder / "config.json").read_text())
    assert saved["train_config"]["batch_size"] == 32 and saved["model_config"]["image_size"] == 32
    # The checkpoint round trip: its inference weights are the run's EMA model.
    loaded = load_model(folder / "last.pt")
    images = test_data.images[:4].float() / 255
    with torch.no_grad():
        for ours, theirs in zip(result.model.eval()(images), loaded(images), strict=True):
            assert torch.equal(ours, theirs)
    payload = torch.load(folder / "last.pt", weights_only=False)
    assert set(payload["training"]) >= {"model", "optimizer", "ema", "epoch", "step", "rng"}
    assert payload["training"]["epoch"] == 4 and payload["train_config"]["lr"] == 3e-3


def _interrupt_at_batch(monkeypatch, batch_number):
    """Make the training loop raise KeyboardInterrupt when it reaches that batch."""
    from yolo_smol import train as train_module

    calls = {"count": 0}
    original = train_module.augment_batch

    def interrupting(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == batch_number:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "augment_batch", interrupting)


def test_stopped_and_resumed_equals_uninterrupted(tiny_data, tmp_path, monkeypatch):
    train_data, test_data = tiny_data
    straight = train(load_config("smol"), _config(tmp_path, "straight"), train_data, test_data)
    # The same run, stopped by Ctrl-C in the middle of epoch 3 (3 batches per epoch), then
    # resumed from the last.pt it left.
    with monkeypatch.context() as patch:
        _interrupt_at_batch(patch, 8)
        with pytest.raises(KeyboardInterrupt):
            train(load_config("smol"), _config(tmp_path, "stopped"), train_data, test_data)
    payload = torch.load(tmp_path / "stopped" / "last.pt", weights_only=False)
    assert payload["training"]["epoch"] == 2
    resumed = train(load_config("smol"), _config(tmp_path, "stopped"), train_data, test_data,
                    resume_from=payload)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(),
                                 resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert [row["total"] for row in straight.history] == [row["total"] for row in
                                                          resumed.history]
    assert straight.history[-1]["map"] == resumed.history[-1]["map"]


def test_interrupt_in_the_first_epoch_still_leaves_a_checkpoint(tiny_data, tmp_path,
                                                                 monkeypatch):
    train_data, test_data = tiny_data
    _interrupt_at_batch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train(load_config("smol"), _config(tmp_path, "cut"), train_data, test_data)
    payload = torch.load(tmp_path / "cut" / "last.pt", weights_only=False)
    assert payload["training"]["epoch"] == 0 and payload["training"]["step"] == 0


@pytest.mark.parametrize("changes, message", [
    ({"batch_size": 0}, "--batch_size: 0 must be a whole number >= 1"),
    ({"lr": float("nan")}, "--lr: nan must be a finite number"),
    ({"lr": 0.0}, "--lr: 0 would not train"),
    ({"augment_prob": 1.5}, "--augment_prob: 1.5 must be at most 1"),
    ({"device": "quantum"}, "--device"),
])
def test_bad_settings(tmp_path, changes, message):
    with pytest.raises(TrainConfigError, match=message):
        _config(tmp_path, "x", **changes).validate()


def test_save_dir_inside_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrainConfigError, match="is a file"):
        TrainConfig(save_dir=str(tmp_path / "file" / "run")).validate()


def test_batch_larger_than_the_data(tiny_data, tmp_path):
    with pytest.raises(TrainConfigError, match="larger than the 96 training images"):
        train(load_config("smol"), _config(tmp_path, "big", batch_size=500), tiny_data[0])


def test_no_weight_decay_on_batchnorm_and_biases():
    from yolo_smol import YoloSmol

    model = YoloSmol("smol")
    decayed, exempt = parameter_groups(model, 5e-4)
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert {id(p) for p in decayed["params"]} == {id(p) for p in convs}
    assert exempt["weight_decay"] == 0.0
    assert len(decayed["params"]) + len(exempt["params"]) == len(list(model.parameters()))


def test_ema_averages_parameters_and_copies_buffers():
    layer = torch.nn.BatchNorm1d(2)
    ema = ModelEMA(layer, decay=0.5)
    with torch.no_grad():
        layer.weight.fill_(3.0)
        layer.running_mean.fill_(7.0)
    ema.update(layer)  # decay ramps: min(0.5, 1 / 11)
    torch.testing.assert_close(ema.model.weight, torch.full((2,), 1 / 11 + 3 * 10 / 11))
    torch.testing.assert_close(ema.model.running_mean, torch.full((2,), 7.0))
