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
