import json
import subprocess
import sys

import pytest

from tests.sample_configs import REPO, SMOL
from yolo_smol.cli import main


def test_summary_prints_the_table(capsys):
    assert main(["summary", "--model_config", str(REPO / "configs" / "smol.json")]) == 0
    out = capsys.readouterr().out
    assert "heads[1]" in out and "(1, 1, 8, 8, 15)" in out
    assert "parameters:          101,262" in out


def test_summary_uses_the_builtin_config_by_default(capsys):
    assert main(["summary"]) == 0
    assert "101,262" in capsys.readouterr().out


def test_summary_image_size_override(capsys):
    assert main(["summary", "--image_size", "64"]) == 0
    assert "(1, 1, 16, 16, 15)" in capsys.readouterr().out


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    broken = dict(SMOL, backbone_layers=[dict(layer) for layer in SMOL["backbone_layers"]])
    broken["backbone_layers"][3]["channels"] = 48
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    # A real process: the exit status and the absence of a traceback are what users see.
    result = subprocess.run([sys.executable, "-m", "yolo_smol", "summary", "--model_config",
                             str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "backbone_layers[3].channels: 48 does not match" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_image_size_override_is_a_clean_error(capsys):
    assert main(["summary", "--image_size", "33"]) == 2
    assert "image_size: 33 is not divisible" in capsys.readouterr().err


def test_data_prints_the_statistics_table_and_writes_the_grid(datasets_cache, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert main(["data", "--dataset", "synthetic", "--num_images", "60", "--preview",
                 str(grid)]) == 0
    out = capsys.readouterr().out
    assert "box height / image height" in out and "0.33/0.54/0.66/0.75/0.86" in out
    assert "(measured on 60 images)" in out
    assert grid.stat().st_size > 10_000 and grid.read_bytes()[:4] == b"\x89PNG"


def test_data_unreachable_svhn_exits_2(monkeypatch, capsys):
    from yolo_smol.data import sources

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(sources, "hub_reachable", lambda timeout_s=3.0: False)
    assert main(["data", "--dataset", "svhn"]) == 2
    assert "--dataset synthetic" in capsys.readouterr().err


def test_data_missing_path_exits_2(tmp_path, capsys):
    assert main(["data", "--dataset", str(tmp_path / "nothing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_anchors_from_a_csv_compared_and_written(tmp_path, capsys):
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("w,h\n" + "\n".join(["0.15,0.75", "0.16,0.7", "0.1,0.45", "0.09,0.5"] * 5))
    out_config = tmp_path / "mine.json"
    assert main(["anchors", "--boxes", str(sizes), "--k", "2", "--model_config", "smol",
                 "--write_config", str(out_config)]) == 0
    out = capsys.readouterr().out
    assert "20 boxes" in out and "mean IoU" in out and "anchors of smol" in out
    from yolo_smol import load_config

    written = load_config(out_config)
    assert written.backbone_layers == load_config("smol").backbone_layers
    (large_w, large_h), (small_w, small_h) = written.anchors
    assert large_w * large_h > small_w * small_h and 0.68 < large_h < 0.77


def test_anchors_from_the_synthetic_set(datasets_cache, capsys):
    assert main(["anchors", "--dataset", "synthetic", "--num_images", "80", "--k", "2",
                 "--restarts", "2"]) == 0
    assert "boxes from synthetic (train)" in capsys.readouterr().out


def test_anchors_errors_exit_2(tmp_path, capsys):
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("0.1,0.5\n0.2,0.6\n")
    assert main(["anchors", "--boxes", str(sizes), "--k", "3"]) == 2
    assert "need at least 3 distinct box shapes" in capsys.readouterr().err
    sizes.write_text("")
    assert main(["anchors", "--boxes", str(sizes)]) == 2
    assert "the file is empty" in capsys.readouterr().err
    sizes.write_text("0.1,0.5\n0.2;0.6\n")
    assert main(["anchors", "--boxes", str(sizes)]) == 2
    assert "line 2" in capsys.readouterr().err
    sizes.write_text("0.1,0.5\n20,60\n")
    assert main(["anchors", "--boxes", str(sizes), "--k", "1"]) == 2
    assert "(0, 1]" in capsys.readouterr().err
    sizes.write_text("0.1,0.5\n0.2,0.6\n0.3,0.7\n")
    assert main(["anchors", "--boxes", str(sizes), "--k", "3", "--write_config",
                 str(tmp_path / "x.json")]) == 2
    assert "use --k 2" in capsys.readouterr().err


def test_eval_on_an_untrained_model_writes_metrics_and_plots(datasets_cache, tmp_path, capsys):
    save_dir = tmp_path / "eval"
    assert main(["eval", "--untrained", "--dataset", "synthetic", "--num_images", "64",
                 "--save_dir", str(save_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "untrained smol model" in out and "mAP@0.5:0.95" in out
    report = json.loads((save_dir / "metrics.json").read_text())
    assert report["images"] == 64 and report["split"] == "test"
    assert report["weights"] == "untrained smol"
    assert 0.0 <= report["mAP@0.5"] < 0.05  # near zero, as an untrained model should be
    for name in ("pr_curves.png", "confusion_matrix.png"):
        assert (save_dir / name).read_bytes()[:4] == b"\x89PNG"


def test_eval_without_weights_scores_the_shipped_detector(datasets_cache, tmp_path, capsys):
    # As detect and export do: a user who types `yolo-smol eval` means the detector they got.
    from yolo_smol import load_model
    from yolo_smol.reading.detector import shipped_weights

    assert main(["eval", "--num_images", "32", "--device", "cpu", "--save_dir",
                 str(tmp_path / "e")]) == 0
    report = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert report["weights"] == str(shipped_weights())
    assert report["model_config"] == load_model(shipped_weights()).config.to_dict()
    assert report["mAP@0.5"] > 0.5  # trained, not a fresh model's near zero
    assert "untrained" not in capsys.readouterr().out


def test_eval_untrained_and_model_config_settings_that_cannot_work_exit_2(tmp_path, capsys):
    from yolo_smol import YoloSmol, save_model

    save_model(YoloSmol("smol"), tmp_path / "w.pt")
    for arguments, message in (
            (["--untrained", "--weights", str(tmp_path / "w.pt")],
             "--untrained scores a fresh model, not --weights"),
            (["--weights", str(tmp_path / "w.pt"), "--model_config", "smol64"],
             "--model_config smol64 is not the config"),
            (["--model_config", "smol"], "is not the config")):  # the shipped one is 128x64
        assert main(["eval", *arguments, "--save_dir", str(tmp_path / "e")]) == 2, arguments
        assert message in capsys.readouterr().err
    assert not (tmp_path / "e" / "metrics.json").exists()


def test_each_command_states_its_own_split_default(capsys):
    from yolo_smol.cli import build_parser

    parser = build_parser()
    for command, split in (("data", "train"), ("anchors", "train"), ("eval", "test")):
        assert parser.parse_args([command]).split == split
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        words = " ".join(capsys.readouterr().out.split())
        split_help = words.split("--split {train,validation,test,extra}")[-1].split("--seed")[0]
        assert f"(default: {split})" in split_help, command
        assert "train (default)" not in words
    assert parser.parse_args(["eval", "--split", "validation"]).split == "validation"


def test_eval_with_weights(datasets_cache, tmp_path, capsys):
    from yolo_smol import YoloSmol, save_model

    save_model(YoloSmol("smol"), tmp_path / "w.pt")
    assert main(["eval", "--weights", str(tmp_path / "w.pt"), "--num_images", "16",
                 "--save_dir", str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["weights"].endswith("w.pt")


def test_eval_bad_settings_exit_2(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["eval", "--save_dir", str(a_file)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["eval", "--weights", str(tmp_path / "none.pt"),
                 "--save_dir", str(tmp_path / "e")]) == 2
    assert "no such weights file" in capsys.readouterr().err
    assert main(["eval", "--device", "tpu", "--save_dir", str(tmp_path / "e")]) == 2
    assert "--device" in capsys.readouterr().err


def test_train_refuses_a_dataset_without_boxes(tmp_path, capsys):
    from tests.fixtures_data import png_bytes

    (tmp_path / "a.png").write_bytes(png_bytes(60, 30))
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"file": "a.png", "bbox": [], "label": []}\n' * 3)
    assert main(["train", "--dataset", str(labels), "--save_dir", str(tmp_path / "run"),
                 "--device", "cpu"]) == 2
    assert "labels.jsonl: holds 3 images but no boxes" in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_train_bad_settings_exit_2_before_any_work(tmp_path, capsys):
    for arguments, message in ((["--batch_size", "0"], "--batch_size: 0"),
                               (["--lr", "nan"], "--lr: nan"),
                               (["--save_dir", str(tmp_path / "f" / "run")], "is a file")):
        (tmp_path / "f").write_text("x")
        assert main(["train", *arguments]) == 2, arguments
        assert message in capsys.readouterr().err


def test_data_augment_takes_a_value_or_none():
    from yolo_smol.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "--data_augment"]).data_augment is True
    assert parser.parse_args(["train", "--data_augment", "False"]).data_augment is False
    assert parser.parse_args(["train", "--data_augment", "1"]).data_augment is True


def test_train_scales_are_a_comma_separated_list(capsys):
    from yolo_smol.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "--train_scales", "0.75,1,1.25"]).train_scales == (
        0.75, 1.0, 1.25)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--train_scales", "1,big"])
    assert "not a comma-separated list of numbers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    words = " ".join(capsys.readouterr().out.split())
    assert "--train_scales S,S,... input sizes" in words
    assert "multi-scale training) (default: 1)" in words  # as typed, not (1.0,)


def test_the_seed_readme_training_command_runs_with_its_flags(tmp_path, monkeypatch, capsys):
    """The seed README's command, as the shell hands it over, run from its scripts/ folder."""
    import shutil

    import yolo_smol.training.loop
    from yolo_smol.config import load_config

    (tmp_path / "configs").mkdir()
    shutil.copy(REPO / "configs" / "smol.json", tmp_path / "configs" / "smol.json")
    (tmp_path / "scripts").mkdir()
    monkeypatch.chdir(tmp_path / "scripts")
    seen = {}

    def run_training(model_config, config, resume=None, exist_ok=False):  # stands in for hours
        seen.update(model_config=model_config, config=config, resume=resume, exist_ok=exist_ok)
        return yolo_smol.training.loop.TrainResult(None, [], 0.5, config.save_dir)

    monkeypatch.setattr(yolo_smol.training.loop, "run_training", run_training)
    assert main(["train", "--model_config=../configs/smol.json", "--image_size=32",
                 "--batch_size=64", "--num_epochs=100", "--lr=1e-3", "--weight_decay=0.0001",
                 "--data_augment", "--augment_prob=0.05", "--eval_every=10",
                 "--checkpoint_epoch=10", "--save_dir=../checkpoints/yolov3_run"]) == 0
    config = seen["config"]
    assert seen["model_config"] == load_config(REPO / "configs" / "smol.json")
    assert (config.batch_size, config.num_epochs, config.lr, config.weight_decay) == (
        64, 100, 1e-3, 1e-4)
    assert (config.data_augment, config.augment_prob, config.eval_every,
            config.checkpoint_epoch) == (True, 0.05, 10, 10)
    assert config.save_dir == "../checkpoints/yolov3_run" and seen["resume"] is None
    assert seen["exist_ok"] is False
    assert "done: best mAP@0.5:0.95 0.5000" in capsys.readouterr().out


def test_every_training_setting_is_a_train_flag():
    from dataclasses import fields

    from yolo_smol.cli import build_parser
    from yolo_smol.training.loop import TrainConfig

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {option for action in train._actions for option in action.option_strings}
    assert {f"--{setting.name}" for setting in fields(TrainConfig)} <= flags


def test_only_the_flags_typed_reach_the_settings():
    from yolo_smol.cli import build_parser

    args = build_parser().parse_args(["train", "--lr", "1e-3", "--no_ema"])
    assert args.lr == 1e-3 and args.ema is False
    assert not hasattr(args, "num_epochs")  # the run's own value survives a resume


def test_an_unknown_split_is_refused_before_any_work(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["data", "--split", "valid"])
    assert stop.value.code == 2
    assert "invalid choice: 'valid'" in capsys.readouterr().err


def test_a_reader_that_stops_early_is_no_traceback(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    for index in range(3):
        Image.new("RGB", (60, 30), "white").save(tmp_path / f"p{index}.png")
    # `true` reads nothing and exits at once: every line detect prints meets a closed pipe.
    command = (f"{sys.executable} -m yolo_smol detect --image_path {tmp_path} --save_dir "
               f"{tmp_path / 'out'} --device cpu | true")
    run = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    assert run.returncode == 0 and "BrokenPipeError" not in run.stderr, run.stderr
    assert (tmp_path / "out" / "readings.json").is_file()  # the work itself was done


def test_eval_as_detect_scores_the_photos_as_detect_reads(datasets_cache, tmp_path, capsys):
    # The shipped detector, read as yolo-smol detect reads: the figures eval prints and
    # records are the Detector's own on the same photos, beside the network's one look.
    from yolo_smol import Detector
    from yolo_smol.data.sources import load_dataset_source
    from yolo_smol.reading.detector import SHIPPED_WEIGHTS
    from yolo_smol.reading.scoring import score_detector, true_digits

    save_dir = tmp_path / "eval"
    assert main(["eval", "--weights", str(SHIPPED_WEIGHTS), "--num_images", "24",
                 "--as_detect", "--device", "cpu", "--save_dir", str(save_dir)]) == 0
    out = capsys.readouterr().out
    report = json.loads((save_dir / "metrics.json").read_text())
    rows = load_dataset_source("synthetic", "test", num_images=24)
    expected = score_detector(Detector.from_pretrained(device="cpu"),
                              [row["image"].convert("RGB") for row in rows], true_digits(rows))
    assert report["as_detect"] == {"mAP@0.5": round(expected.metrics.ap50, 6),
                                   "mAP@0.5:0.95": round(expected.metrics.map, 6),
                                   "read_exactly": round(expected.read_exactly, 6)}
    assert f"read exactly {expected.read_exactly:.3f}" in out and "(24 photos" in out
    assert report["mAP@0.5"] != report["as_detect"]["mAP@0.5"]  # one look is not every look
    assert 0 < expected.read_exactly < 1


@pytest.mark.slow
def test_eval_and_train_not_on_a_terminal_print_lines_not_progress_bars(datasets_cache, tmp_path,
                                                                         capsys):
    import datasets

    from tests.fixtures_data import jsonl_folder

    # capsys's streams are not terminals, as a file or a pipe is not.
    assert main(["eval", "--num_images", "16", "--device", "cpu", "--save_dir",
                 str(tmp_path / "e")]) == 0
    out, err = capsys.readouterr()
    assert "\r" not in out + err and "%|" not in err
    assert "loaded 16 images of synthetic (test split) in " in out
    folder = jsonl_folder(tmp_path / "photos", {"train": 16, "test": 8})
    assert main(["train", "--dataset", str(folder), "--num_epochs", "1", "--batch_size", "8",
                 "--device", "cpu", "--workers", "1", "--save_dir", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    assert "\r" not in out + err and "%|" not in err
    assert "resized 24 images to 32x32 in " in out  # 15 train, 1 validation, 8 test
    assert not datasets.are_progress_bars_disabled()  # as they were, after the command


def test_a_command_piped_to_a_file_has_no_carriage_returns(tmp_path):
    import os

    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache"), "TMPDIR": str(tmp_path)}
    env.pop("HF_DATASETS_DISABLE_PROGRESS_BARS", None)
    log = tmp_path / "eval.log"
    with log.open("w") as handle:  # `yolo-smol eval ... > eval.log 2>&1`
        run = subprocess.run([sys.executable, "-m", "yolo_smol", "eval", "--num_images", "16",
                              "--device", "cpu", "--save_dir", str(tmp_path / "e")],
                             stdout=handle, stderr=subprocess.STDOUT, env=env)
    text = log.read_text()
    assert run.returncode == 0, text
    assert "\r" not in text and "loaded 16 images of synthetic (test split) in " in text
