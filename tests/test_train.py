import csv
import json
from dataclasses import asdict, replace

import pytest
import torch

from tests.fixtures_data import jsonl_folder
from yolo_smol import Detector, load_config, load_model
from yolo_smol.data.prepare import prepare
from yolo_smol.data.sources import load_dataset_source
from yolo_smol.data.synthetic import make_synthetic
from yolo_smol.reading.scoring import score_detector, true_digits
from yolo_smol.training.ema import ModelEMA
from yolo_smol.training.loop import TrainConfig, TrainConfigError, parameter_groups, train


@pytest.fixture(scope="module")
def tiny_data():
    return (prepare(make_synthetic(96, seed=1), 32),
            prepare(make_synthetic(32, seed=1, split="test"), 32))


def _config(tmp_path, name, **changes):
    settings = dict(batch_size=32, num_epochs=4, lr=3e-3, eval_every=2, checkpoint_epoch=2,
                    save_dir=str(tmp_path / name), device="cpu", warmup_epochs=1.0)
    return TrainConfig(**(settings | changes))


@pytest.mark.slow  # trains for real: the point is the files and weights it leaves
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
    assert rows[0]["val_map"] == "" and rows[1]["val_map"] != ""  # scored every 2 epochs
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
    assert set(payload["training"]) >= {"model", "optimizer", "ema", "epoch", "step"}
    assert payload["training"]["epoch"] == 4 and payload["train_config"]["lr"] == 3e-3


def _interrupt_at_batch(monkeypatch, batch_number):
    """Make the training loop raise KeyboardInterrupt when it reaches that batch."""
    from yolo_smol.training import loop as train_module

    calls = {"count": 0}
    original = train_module.augment_batch

    def interrupting(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == batch_number:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "augment_batch", interrupting)


@pytest.mark.slow
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
    ({"anchor_iou_threshold": -0.1}, "--anchor_iou_threshold: -0.1 must be a finite number"),
    ({"anchor_iou_threshold": 2.0}, "--anchor_iou_threshold: 2.0 must be at most 1"),
    ({"device": "quantum"}, "--device"),
    ({"train_scales": ()}, "--train_scales: \\(\\) must be numbers above 0"),
    ({"train_scales": (1.0, 0.0)}, "--train_scales: .* must be numbers above 0"),
    ({"train_scales": (1.0, float("inf"))}, "--train_scales"),
    ({"train_scales": (True,)}, "--train_scales"),
    ({"train_scales": (0.75, 1.0, 125.0)}, "--train_scales: .* at most 4"),
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


def test_settings_saved_in_a_checkpoint_round_trip_and_unknown_ones_are_refused():
    config = TrainConfig(batch_size=32, lr=1e-3)
    assert TrainConfig.from_dict(asdict(config)) == config
    with pytest.raises(TrainConfigError, match=r"batch_sise \(did you mean batch_size\?\)"):
        TrainConfig.from_dict({"batch_sise": 32})


def test_checkpoints_written_before_the_threshold_was_renamed_still_load():
    legacy = {**asdict(TrainConfig()), "confidence_threshold": None}
    del legacy["confidence_threshold"]
    legacy["detection_threshold"] = 0.4
    assert TrainConfig.from_dict(legacy).confidence_threshold == 0.4


def test_a_settings_object_that_exists_is_valid():
    with pytest.raises(TrainConfigError, match="--seed: -1"):
        TrainConfig(seed=-1)
    with pytest.raises(TrainConfigError, match="--eval_every"):
        replace(TrainConfig(), eval_every=0)


@pytest.mark.slow
def test_fine_tuning_starts_from_the_given_weights(tmp_path, capsys):
    from yolo_smol import YoloSmol, save_model
    from yolo_smol.training.loop import run_training

    folder = jsonl_folder(tmp_path / "photos", {"train": 16, "test": 8})
    torch.manual_seed(123)
    start = YoloSmol(load_config("smol"))
    save_model(start, tmp_path / "start.pt")
    config = TrainConfig(init=str(tmp_path / "start.pt"), dataset=str(folder), num_epochs=1,
                         batch_size=8, lr=1e-12, warmup_epochs=0.0, ema=False, device="cpu",
                         save_dir=str(tmp_path / "tuned"), workers=1)
    result = run_training(None, config)
    # lr 1e-12: the weights stay those of the checkpoint (a random start would not be near).
    for (name, tuned), (_, initial) in zip(result.model.state_dict().items(),
                                           start.state_dict().items(), strict=True):
        if name.endswith("weight") and tuned.dim() == 4:
            torch.testing.assert_close(tuned, initial, atol=1e-6, rtol=0)
    out = capsys.readouterr().out
    assert f"scoring on 8 images of {folder} (test split)" in out
    # The folder has no validation split: every tenth training image (1 of 16) is held out.
    assert "training on 15 images" in out
    assert f"choosing best.pt on 1 images of {folder} (every tenth image of its train" in out


def test_fine_tuning_refuses_a_model_config_that_is_not_the_checkpoints(tmp_path):
    from yolo_smol import YoloSmol, save_model
    from yolo_smol.training.loop import run_training

    save_model(YoloSmol(load_config("smol")), tmp_path / "start.pt")
    other = load_config("smol").to_dict() | {"num_classes": 5}
    with pytest.raises(TrainConfigError, match="differs from --model_config in num_classes"):
        run_training(other, TrainConfig(init=str(tmp_path / "start.pt")))


@pytest.mark.slow
def test_one_annotation_file_for_train_and_test_is_said(tmp_path, capsys):
    from yolo_smol.training.loop import run_training

    folder = jsonl_folder(tmp_path / "photos", {"train": 16})
    config = TrainConfig(dataset=str(folder / "train.jsonl"), num_epochs=1, batch_size=8,
                         device="cpu", save_dir=str(tmp_path / "run"), workers=1)
    run_training("smol", config)
    assert "the scored images are the training images" in capsys.readouterr().out


def test_training_leaves_the_global_random_generator_alone(tiny_data, tmp_path):
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    train(load_config("smol"), _config(tmp_path, "quiet", num_epochs=1), tiny_data[0])
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.slow
def test_the_readmes_resume_command_continues_the_run_as_it_was(tmp_path, monkeypatch, capsys):
    """`yolo-smol train --resume DIR`, typed as the README shows it, keeps every setting."""
    from yolo_smol.cli import main

    folder = jsonl_folder(tmp_path / "photos", {"train": 64, "test": 16})
    common = ["--dataset", str(folder), "--num_epochs", "3", "--batch_size", "16",
              "--eval_every", "3", "--device", "cpu", "--workers", "1", "--lr", "3e-3"]
    assert main(["train", *common, "--save_dir", str(tmp_path / "straight")]) == 0
    with monkeypatch.context() as patch:
        _interrupt_at_batch(patch, 6)  # in epoch 2 of 3 (4 batches an epoch)
        assert main(["train", *common, "--save_dir", str(tmp_path / "cut")]) == 130
    assert "last.pt holds epoch 1" in capsys.readouterr().out
    assert main(["train", "--resume", str(tmp_path / "cut")]) == 0  # the README's command
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    resumed = torch.load(tmp_path / "cut" / "last.pt", weights_only=False)
    assert resumed["train_config"]["num_epochs"] == 3 and resumed["training"]["epoch"] == 3
    for name, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][name]), name


@pytest.mark.slow
def test_a_model_card_records_the_recipe_and_the_figures(tmp_path):
    from yolo_smol.cli import main
    from yolo_smol.reading.options import ReadingOptions
    from yolo_smol.training.model_card import rescore_real_photos, write_model_card

    folder = jsonl_folder(tmp_path / "photos", {"train": 16, "test": 8})
    command = ["train", "--dataset", str(folder), "--num_epochs", "2", "--batch_size", "8",
               "--eval_every", "1", "--device", "cpu", "--workers", "1",
               "--save_dir", str(tmp_path / "run")]
    assert main(command) == 0
    card = write_model_card(tmp_path / "run", tmp_path / "shipped" / "w.pt", "yolo-smol train",
                            90.0, real_photos=folder / "test.jsonl")
    assert load_model(tmp_path / "shipped" / "w.pt").config == load_config("smol")
    assert "training" not in torch.load(tmp_path / "shipped" / "w.pt", weights_only=True)
    written = json.loads((tmp_path / "shipped" / "w.json").read_text())
    assert json.dumps(written) == json.dumps(card)  # (as text: a digit never seen is NaN)
    assert list(card)[:5] == ["weights", "command", "model_config", "data", "training"]
    assert card["command"] == "yolo-smol train" and card["wall_time_minutes"] == 1.5
    assert card["data"]["dataset"] == str(folder) and card["training"]["num_epochs"] == 2
    assert card["epoch_of_these_weights"] in (1, 2)
    assert card["test_split"].endswith("8 images")
    assert 0 <= card["test_metrics"]["mAP@0.5"] <= 1
    # Photos to measure on (here the folder's test photos): the network's one look, and the
    # Detector as yolo-smol detect reads, with the command that measures them.
    real = card["real_photos"]
    assert real["measured_by"].startswith("python benchmarks/real.py --weights ")
    rows = load_dataset_source(folder / "test.jsonl", "test")
    score = score_detector(Detector.from_pretrained(tmp_path / "shipped" / "w.pt", "cpu"),
                           [row["image"].convert("RGB") for row in rows], true_digits(rows))
    options = {name: list(value) if isinstance(value, tuple) else value
               for name, value in asdict(ReadingOptions()).items()}
    assert real["set"] == "development"
    assert real["detector"] == {"options": options,
                                "read_exactly": round(score.read_exactly, 4),
                                "mAP@0.5 (all looks)": round(score.metrics.ap50, 4),
                                "mAP@0.5:0.95 (all looks)": round(score.metrics.map, 4)}
    assert (tmp_path / "shipped" / "w.metrics.csv").read_text() == (
        tmp_path / "run" / "metrics.csv").read_text()
    # Rescoring after a change to how the Detector reads rewrites only the real figures.
    stale = {**card, "real_photos": {"detector": {"read_exactly": -1.0}}}
    (tmp_path / "shipped" / "w.json").write_text(json.dumps(stale))
    rescored = rescore_real_photos(tmp_path / "shipped" / "w.pt", folder / "test.jsonl")
    assert json.dumps(rescored) == json.dumps(card)
    assert json.loads((tmp_path / "shipped" / "w.json").read_text())["real_photos"] == real


def test_the_anchor_iou_threshold_reaches_the_assignment(tiny_data, tmp_path, monkeypatch):
    import yolo_smol.detection.loss as loss_module

    seen = []
    original = loss_module.assign_targets

    def recording(targets, anchors, grid_sizes, anchor_iou_threshold=1.0):
        seen.append(anchor_iou_threshold)
        return original(targets, anchors, grid_sizes, anchor_iou_threshold)

    monkeypatch.setattr(loss_module, "assign_targets", recording)
    config = _config(tmp_path, "several", num_epochs=1, anchor_iou_threshold=0.213)
    train(load_config("smol"), config, tiny_data[0])
    assert seen and set(seen) == {0.213}  # every step, YOLOv4's rule


def test_multi_scale_training_resizes_batches_and_keeps_the_anchors_pixel_size(
        tiny_data, tmp_path, monkeypatch):
    import yolo_smol.detection.loss as loss_module

    seen = {}
    original = loss_module.assign_targets

    def recording(targets, anchors, grid_sizes, anchor_iou_threshold=1.0):
        seen.setdefault(tuple(grid_sizes[0]), []).append(anchors.clone())
        return original(targets, anchors, grid_sizes, anchor_iou_threshold)

    monkeypatch.setattr(loss_module, "assign_targets", recording)
    model_config = load_config("smol")  # 32 x 32, stride 8: 0.5 and 1.5 give 16 and 48 px
    config = _config(tmp_path, "sizes", num_epochs=4, train_scales=(0.5, 1.0, 1.5))
    train(model_config, config, tiny_data[0])
    # Coarsest grid (rows, columns) of each size drawn: 2 at 16 px, 4 at 32, 6 at 48.
    assert len(seen) > 1 and set(seen) <= {(2, 2), (4, 4), (6, 6)}
    stored = torch.tensor(model_config.anchors_per_head, dtype=torch.float32)
    for (cells, _), anchors in seen.items():
        size = cells * 8
        for drawn in anchors:  # fractions of the drawn input, as many pixels as at 32
            torch.testing.assert_close(drawn * size, stored * 32)


@pytest.mark.slow
def test_best_pt_is_chosen_on_validation_and_the_test_split_is_scored_once(
        tiny_data, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from yolo_smol.training import run_log
    from yolo_smol.training.evaluate import evaluate

    train_data, validation = tiny_data
    test = prepare(make_synthetic(24, seed=2, split="test"), 32)
    # The validation split's mAP@0.5:0.95 peaks at epoch 2; the test split is scored as is.
    validation_maps, scored = iter([0.1, 0.3, 0.2, 0.25]), []

    def scoring(model, data, *args, **kwargs):
        scored.append("validation" if data is validation else "test" if data is test else "?")
        if data is validation:
            return SimpleNamespace(metrics=SimpleNamespace(ap50=0.5, map=next(validation_maps)),
                                   whole_number_accuracy=0.5)
        return evaluate(model, data, *args, **kwargs)

    monkeypatch.setattr(run_log, "evaluate", scoring)
    config = _config(tmp_path, "run", eval_every=1, checkpoint_epoch=2)
    result = train(load_config("smol"), config, train_data, validation, test_data=test)
    assert scored == ["validation"] * 4 + ["test"]  # every choice on validation; test once
    folder = tmp_path / "run"
    best = torch.load(folder / "best.pt", weights_only=False)
    assert result.best_epoch == best["training"]["epoch"] == 2 and result.best_map == 0.3
    for name, value in torch.load(folder / "epoch_002.pt", weights_only=False)["model"].items():
        assert torch.equal(best["model"][name], value), name
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert [row["val_map"] for row in rows] == ["0.1", "0.3", "0.2", "0.25"]
    assert [bool(row["test_map"]) for row in rows] == [False, True, False, False]
    # The test figures are best.pt's, as anyone loading it would measure them.
    expected = evaluate(load_model(folder / "best.pt"), test, config.confidence_threshold)
    assert result.test_scores == {"test_map50": expected.metrics.ap50,
                                  "test_map": expected.metrics.map,
                                  "test_whole_number_accuracy": expected.whole_number_accuracy}
    assert rows[1]["test_map"] == f"{expected.metrics.map:.6g}"


@pytest.mark.slow
def test_train_chooses_on_the_synthetic_validation_split(datasets_cache, tmp_path, capsys):
    from yolo_smol.cli import main

    assert main(["train", "--num_train", "64", "--num_validation", "16", "--num_test", "24",
                 "--num_epochs", "1", "--batch_size", "32", "--device", "cpu", "--workers", "1",
                 "--save_dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "training on 64 images of synthetic (train split)" in out
    assert "choosing best.pt on 16 images of synthetic (validation split)" in out
    assert "scoring on 24 images of synthetic (test split), once, with best.pt" in out
    assert "test split, scored once with best.pt (epoch 1)" in out
    assert "on the validation split (best.pt, epoch 1)" in out and "on the test split" in out
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[-6:] == ["val_map50", "val_map", "val_whole_number_accuracy",
                           "test_map50", "test_map", "test_whole_number_accuracy"]


def test_an_error_after_an_epoch_is_trained_names_that_epoch(tiny_data, tmp_path, monkeypatch,
                                                              capsys):
    from yolo_smol.training import run_log

    def failing(*args, **kwargs):
        raise RuntimeError("the scoring failed")

    monkeypatch.setattr(run_log, "evaluate", failing)
    with pytest.raises(RuntimeError, match="the scoring failed"):
        train(load_config("smol"), _config(tmp_path, "cut", num_epochs=2), *tiny_data)
    # Epoch 2 was trained, then scoring it failed: last.pt still holds epoch 1.
    assert (f"stopped by an error after training epoch 2: {tmp_path / 'cut' / 'last.pt'} holds "
            "epoch 1; after fixing it, continue with --resume") in capsys.readouterr().out


def test_a_run_saved_before_best_epoch_was_kept_finds_it_in_its_log():
    from yolo_smol.training.state import RunState

    model_config, config = load_config("smol"), TrainConfig(device="cpu")
    saved = RunState(model_config, config, steps_per_epoch=1, device=torch.device("cpu"))
    saved.history = [{"epoch": 1}, {"epoch": 2, "map": 0.2}, {"epoch": 3}, {"epoch": 4, "map": 0.1}]
    payload = saved.state(model_config, config)
    del payload["training"]["best_epoch"]
    restored = RunState(model_config, config, steps_per_epoch=1, device=torch.device("cpu"))
    restored.restore(payload)
    assert restored.best_epoch == 2
