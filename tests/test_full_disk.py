"""A full disk or a folder that refuses writes, part-way through a command.

Every file a command writes goes through yolo_smol.outputs: written aside, synced, renamed
into place. So when the disk fills (here made to fill without a real full disk) the command
stops with one line naming the file, exit status 2, the earlier file there unchanged byte
for byte, and no half-written file left beside it.
"""

import errno
import os
from pathlib import Path

import pytest
import torch

from tests.fixtures_data import jsonl_folder
from yolo_smol import outputs
from yolo_smol.cli import main
from yolo_smol.outputs import WriteError

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(),
                                reason="needs /proc/self/fd to tell which file is synced")
ENOSPC = "no space left on device"


class _FillingDisk:
    """``os`` as yolo_smol.outputs sees it, except that the disk fills while the
    ``failing``-th temporary file of ``name`` is written: its ``fsync`` (where a full disk
    shows at the latest) fails with ``code``. ``before`` keeps what ``name`` held then."""

    def __init__(self, folder: Path, name: str, failing: int = 1, code: int = errno.ENOSPC):
        self.target, self.failing, self.code = folder / name, failing, code
        self.seen, self.before = 0, None

    def fsync(self, descriptor: int) -> None:
        written = Path(os.readlink(f"/proc/self/fd/{descriptor}"))
        if written.parent == self.target.parent and written.name.startswith(
                f".{self.target.name}."):
            self.seen += 1
            if self.seen == self.failing:
                assert written.stat().st_size > 0  # a part was written when the disk filled
                self.before = self.target.read_bytes() if self.target.exists() else None
                raise OSError(self.code, os.strerror(self.code))
        os.fsync(descriptor)

    def __getattr__(self, name: str):
        return getattr(os, name)


def _fill_disk(monkeypatch, folder: Path, name: str, **kwargs) -> _FillingDisk:
    disk = _FillingDisk(folder, name, **kwargs)
    monkeypatch.setattr(outputs, "os", disk)
    return disk


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _partials(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.rglob("*") if "partial" in path.name)


# ---------------------------------------------------------------------------------------
# Training: the epoch that could not be saved is named, last.pt keeps the one before
# ---------------------------------------------------------------------------------------

def _train_flags(tmp_path: Path) -> list[str]:
    folder = jsonl_folder(tmp_path / "photos", {"train": 16, "test": 8})
    return ["train", "--dataset", str(folder), "--num_epochs", "3", "--batch_size", "8",
            "--eval_every", "1", "--device", "cpu", "--workers", "1",
            "--save_dir", str(tmp_path / "run")]


def _torch_save_failing_on(monkeypatch, name: str, failing: int) -> dict:
    """torch.save as on a full disk, for the ``failing``-th checkpoint named ``name``:
    PyTorch says "unexpected pos", not ENOSPC."""
    real_save, state = torch.save, {"seen": 0, "before": None}

    def save(payload, path, *args, **kwargs):
        path = Path(path)
        if path.name.startswith(f".{name}."):
            state["seen"] += 1
            if state["seen"] == failing:
                target = path.parent / name
                state["before"] = target.read_bytes() if target.exists() else None
                path.write_bytes(b"PK\x03\x04 half a checkpoint")
                raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected "
                                   "pos 704 vs 598")
        return real_save(payload, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    return state


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ENOSPC on fsync", "torch unexpected pos"])
def test_a_full_disk_in_training_names_the_file_and_the_epoch(tmp_path, monkeypatch, capsys,
                                                             how):
    run = tmp_path / "run"
    # last.pt is written before epoch 1 and after each epoch: the 3rd write is epoch 2's.
    if how == "ENOSPC on fsync":
        before = _fill_disk(monkeypatch, run, "last.pt", failing=3)
        reason = ENOSPC
    else:
        before = _torch_save_failing_on(monkeypatch, "last.pt", failing=3)
        reason = "the write failed part-way: most likely the disk is full"
    assert main(_train_flags(tmp_path)) == 2
    out, err = capsys.readouterr()
    assert err.strip() == (
        f"yolo-smol train: error: epoch 2 is trained but could not be saved: "
        f"{run / 'last.pt'} could not be written ({reason}); {run / 'last.pt'} holds epoch 1."
        f" Free some space, then continue with --resume {run}")
    earlier = before.before if isinstance(before, _FillingDisk) else before["before"]
    assert earlier is not None and (run / "last.pt").read_bytes() == earlier  # byte for byte
    assert torch.load(run / "last.pt", weights_only=False)["training"]["epoch"] == 1
    assert _partials(tmp_path) == []
    assert "epoch 3" not in out and "Traceback" not in out + err


@pytest.mark.slow
def test_a_full_disk_on_the_log_says_last_pt_holds_that_epoch(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    disk = _fill_disk(monkeypatch, run, "metrics.csv", failing=2)
    assert main(_train_flags(tmp_path)) == 2
    message = _one_line(capsys)
    assert f"epoch 2 is trained but could not be saved: {run / 'metrics.csv'}" in message
    assert f"{run / 'last.pt'} holds epoch 2" in message  # written before the log
    assert (run / "metrics.csv").read_bytes() == disk.before
    assert _partials(tmp_path) == []


# ---------------------------------------------------------------------------------------
# The other commands: eval, export, data --preview, anchors --write_config
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "code"), [("metrics.json", errno.ENOSPC),
                                             ("pr_curves.png", errno.EROFS),
                                             ("confusion_matrix.png", errno.ENOSPC)])
def test_eval_on_a_full_disk_keeps_the_earlier_results(tmp_path, monkeypatch, capsys,
                                                       datasets_cache, name, code):
    save_dir = tmp_path / "eval"
    command = ["eval", "--untrained", "--num_images", "8", "--device", "cpu",
               "--save_dir", str(save_dir)]
    assert main(command) == 0
    capsys.readouterr()
    earlier = (save_dir / name).read_bytes()
    _fill_disk(monkeypatch, save_dir, name, code=code)
    assert main([*command, "--exist_ok", "--confidence_threshold", "0.5"]) == 2
    message = _one_line(capsys)
    assert str(save_dir / name) in message and os.strerror(code).lower() in message
    assert "the earlier file there is left as it was" in message
    assert (save_dir / name).read_bytes() == earlier
    assert _partials(tmp_path) == []


def test_export_on_a_full_disk_keeps_the_earlier_file(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx")
    output = tmp_path / "detector.onnx"
    output.write_bytes(b"an earlier export")
    _fill_disk(monkeypatch, tmp_path, "detector.onnx")
    assert main(["export", "--output", str(output), "--exist_ok"]) == 2
    assert f"{output}: could not be written ({ENOSPC})" in _one_line(capsys)
    assert output.read_bytes() == b"an earlier export" and _partials(tmp_path) == []


def test_a_preview_on_a_full_disk_keeps_the_earlier_one(tmp_path, monkeypatch, capsys):
    photos = jsonl_folder(tmp_path / "photos", {"train": 4})
    preview = tmp_path / "grid.png"
    preview.write_bytes(b"an earlier grid")
    _fill_disk(monkeypatch, tmp_path, "grid.png")
    assert main(["data", "--dataset", str(photos), "--preview", str(preview),
                 "--exist_ok"]) == 2
    assert f"{preview}: could not be written ({ENOSPC})" in _one_line(capsys)
    assert preview.read_bytes() == b"an earlier grid" and _partials(tmp_path) == []


def test_anchors_write_config_on_a_full_disk_keeps_the_earlier_file(tmp_path, monkeypatch,
                                                                     capsys):
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("\n".join(["0.15,0.75", "0.16,0.7", "0.1,0.45", "0.09,0.5"] * 5))
    config = tmp_path / "mine.json"
    config.write_text('{"an earlier": "config"}')
    _fill_disk(monkeypatch, tmp_path, "mine.json")
    assert main(["anchors", "--boxes", str(sizes), "--write_config", str(config),
                 "--exist_ok"]) == 2
    assert f"{config}: could not be written ({ENOSPC})" in _one_line(capsys)
    assert config.read_text() == '{"an earlier": "config"}' and _partials(tmp_path) == []


# ---------------------------------------------------------------------------------------
# The functions beneath: checkpoints, configs, model cards
# ---------------------------------------------------------------------------------------

def test_save_model_on_a_full_disk_raises_one_line_and_keeps_the_old_weights(tmp_path,
                                                                            monkeypatch):
    from yolo_smol import YoloSmol, load_config, save_model

    model = YoloSmol(load_config("smol"))
    save_model(model, tmp_path / "w.pt")
    earlier = (tmp_path / "w.pt").read_bytes()
    _torch_save_failing_on(monkeypatch, "w.pt", failing=1)
    with pytest.raises(WriteError) as caught:
        save_model(model, tmp_path / "w.pt", epoch=7)
    assert "\n" not in str(caught.value) and str(tmp_path / "w.pt") in str(caught.value)
    assert "unexpected pos" not in str(caught.value)
    assert (tmp_path / "w.pt").read_bytes() == earlier and _partials(tmp_path) == []


def test_config_save_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    from yolo_smol import load_config

    path = tmp_path / "c.json"
    path.write_text("the old config")
    _fill_disk(monkeypatch, tmp_path, "c.json")
    with pytest.raises(WriteError, match="c.json: could not be written"):
        load_config("smol").save(path)
    assert path.read_text() == "the old config" and _partials(tmp_path) == []


def test_a_model_card_on_a_full_disk_keeps_the_old_files(tmp_path, monkeypatch):
    from dataclasses import asdict
    from types import SimpleNamespace

    from yolo_smol import YoloSmol, load_config, save_model
    from yolo_smol.training import model_card
    from yolo_smol.training.settings import TrainConfig

    run = tmp_path / "run"
    run.mkdir()
    save_model(YoloSmol(load_config("smol")), run / "best.pt",
               train_config=asdict(TrainConfig()))
    (run / "metrics.csv").write_text("epoch,map\n1,0.5\n")
    scores = SimpleNamespace(num_images=8, whole_number_accuracy=0.5, metrics=SimpleNamespace(
        ap50=0.5, map=0.25, per_class_ap=[0.25] * 10))
    monkeypatch.setattr(model_card, "_score", lambda weights, settings: scores)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "w.metrics.csv").write_text("the old curve")
    _fill_disk(monkeypatch, shipped, "w.metrics.csv")
    with pytest.raises(WriteError, match="w.metrics.csv: could not be written"):
        model_card.write_model_card(run, shipped / "w.pt", "yolo-smol train", 60.0)
    assert (shipped / "w.metrics.csv").read_text() == "the old curve"
    assert _partials(tmp_path) == []


def test_the_fake_full_disk_fails_a_plain_write_too(tmp_path, monkeypatch):
    # The fixture must be able to fail: a write that bypassed outputs would not be caught.
    disk = _fill_disk(monkeypatch, tmp_path, "x.txt")
    with pytest.raises(WriteError):
        outputs.write_text(tmp_path / "x.txt", "x")
    assert disk.seen == 1
