import json
import subprocess
import sys

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
    from yolo_smol import sources

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(sources, "hub_reachable", lambda timeout_s=3.0: False)
    assert main(["data", "--dataset", "svhn"]) == 2
    assert "--dataset synthetic" in capsys.readouterr().err


def test_data_missing_path_exits_2(tmp_path, capsys):
    assert main(["data", "--dataset", str(tmp_path / "nothing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
