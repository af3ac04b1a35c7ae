"""Nothing lost, no traceback: run folders, output paths, bad sources, the cache.

Each test types a command as a careless or unlucky user would and checks the promise: one
line naming the flag or file and the fix, exit status 2, and no work or file lost.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from tests.fixtures_data import jsonl_folder
from yolo_smol.cli import main


def _error(capsys) -> str:
    """The one line a refused command printed."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder that exists and cannot be written, also for root (who ignores modes)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    # root: sysfs refuses new files to everyone.
    if not Path("/sys").is_dir() or os.access("/sys", os.W_OK) and _can_write(Path("/sys")):
        pytest.skip("no folder here that root cannot write")
    yield Path("/sys")


def _can_write(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def _jsonl(root: Path, rows: list[dict], name: str = "labels.jsonl") -> Path:
    root.mkdir(exist_ok=True)
    Image.new("RGB", (40, 30), "white").save(root / "img0.png")
    path = root / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _small_run_flags(tmp_path: Path) -> list[str]:
    folder = jsonl_folder(tmp_path / "photos", {"train": 16, "test": 8})
    return ["--dataset", str(folder), "--num_epochs", "1", "--batch_size", "8",
            "--device", "cpu", "--workers", "1"]


# ---------------------------------------------------------------------------------------
# Run folders: a finished run is not overwritten, two runs never share a folder
# ---------------------------------------------------------------------------------------

def test_a_folder_holding_a_run_is_refused_unless_resumed_or_replaced(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"a finished run's weights")
    flags = _small_run_flags(tmp_path)
    assert main(["train", *flags, "--save_dir", str(run)]) == 2
    message = _error(capsys)
    assert "holds a run already (last.pt)" in message
    assert f"--resume {run}" in message and "--exist_ok" in message
    assert (run / "last.pt").read_bytes() == b"a finished run's weights"  # untouched
    assert main(["train", *flags, "--save_dir", str(run), "--exist_ok"]) == 0
    assert (run / "last.pt").read_bytes() != b"a finished run's weights"


def test_a_second_process_on_the_same_run_folder_is_refused_by_name(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from yolo_smol.training.run_folder import holding_run_lock
        with holding_run_lock({str(run)!r}):
            print("holding", flush=True)
            time.sleep(120)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert main(["train", *_small_run_flags(tmp_path), "--save_dir", str(run)]) == 2
        message = _error(capsys)
        assert f"process {holder.pid} on " in message and "is training into it" in message
        assert not (run / "last.pt").exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed run leaves no stale lock behind
        holder.wait()
    from yolo_smol.training.run_folder import holding_run_lock

    with holding_run_lock(run):
        pass


# ---------------------------------------------------------------------------------------
# Outputs that cannot be written are found before the work
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["eval", "--num_images", "8"],
    ["detect", "--image_path", "NOT-READ"],
    ["train", "--num_epochs", "1"],
])
def test_a_read_only_save_dir_is_refused_before_any_work(read_only_folder, command, capsys,
                                                         datasets_cache):
    save_dir = read_only_folder / "out"
    assert main([*command, "--save_dir", str(save_dir)]) == 2
    message = _error(capsys)
    assert f"--save_dir {save_dir}: cannot write there" in message
    assert not datasets_cache.exists()  # nothing was generated, loaded or read first


@pytest.mark.parametrize(("command", "flag", "path", "expected"), [
    (["data"], "--preview", "missing/grid.png", "the folder {tmp}/missing does not exist"),
    (["data"], "--preview", "grid.xyz", "unknown extension '.xyz'"),
    (["anchors"], "--write_config", "missing/c.json", "the folder {tmp}/missing does not"),
    (["anchors"], "--write_config", "c.yaml", "unknown extension '.yaml'"),
])
def test_an_output_file_that_cannot_be_written_is_refused_before_any_work(
        tmp_path, datasets_cache, capsys, command, flag, path, expected):
    assert main([*command, flag, str(tmp_path / path)]) == 2
    assert expected.format(tmp=tmp_path) in _error(capsys)
    assert not datasets_cache.exists()


def test_a_second_eval_into_the_same_folder_is_refused_unless_replacing(tmp_path, capsys,
                                                                       datasets_cache):
    save_dir = tmp_path / "eval"
    command = ["eval", "--untrained", "--num_images", "8", "--device", "cpu",
               "--save_dir", str(save_dir)]
    assert main(command) == 0
    earlier = (save_dir / "metrics.json").read_bytes()
    assert main([*command, "--confidence_threshold", "0.5"]) == 2
    assert _error(capsys) == (
        f"yolo-smol eval: error: --save_dir {save_dir}: holds an earlier run's metrics.json, "
        "pr_curves.png, confusion_matrix.png; give another folder, or pass --exist_ok to "
        "replace them")
    assert (save_dir / "metrics.json").read_bytes() == earlier
    assert main([*command, "--confidence_threshold", "0.5", "--exist_ok"]) == 0
    assert (save_dir / "metrics.json").read_bytes() != earlier


@pytest.mark.parametrize(("command", "flag", "name"), [
    (["data", "--num_images", "4"], "--preview", "grid.png"),
    (["anchors", "--boxes", "{tmp}/sizes.csv"], "--write_config", "mine.json"),
    (["export"], "--output", "detector.onnx"),
])
def test_an_existing_output_file_is_not_replaced_unasked(tmp_path, capsys, datasets_cache,
                                                          command, flag, name):
    if flag == "--output":
        pytest.importorskip("onnx")
    (tmp_path / "sizes.csv").write_text("\n".join(["0.15,0.75", "0.1,0.45", "0.2,0.6"] * 3))
    command = [part.format(tmp=tmp_path) for part in command]
    target = tmp_path / name
    target.write_bytes(b"an earlier run's result")
    assert main([*command, flag, str(target)]) == 2
    assert _error(capsys).endswith(f"{flag} {target}: exists already; give another name, or "
                                   "pass --exist_ok to replace it")
    assert target.read_bytes() == b"an earlier run's result"
    assert not datasets_cache.exists()  # refused before any work
    assert main([*command, flag, str(target), "--exist_ok"]) == 0
    assert target.read_bytes() != b"an earlier run's result"


def test_an_output_file_in_a_read_only_folder_is_refused(read_only_folder, capsys):
    assert main(["anchors", "--write_config", str(read_only_folder / "c.json")]) == 2
    assert "cannot be written" in _error(capsys)


# ---------------------------------------------------------------------------------------
# Bad data sources: one check for every command
# ---------------------------------------------------------------------------------------

BAD_ROWS = {
    "negative label": ({"file": "img0.png", "bbox": [[1, 1, 5, 10]], "label": [-1]},
                       "line 1: box 0: label -1 is not a digit 0 to 9"),
    "null label": ({"file": "img0.png", "bbox": [[1, 1, 5, 10]], "label": [None]},
                   "line 1: box 0: label None is not a digit 0 to 9"),
    "label 12": ({"file": "img0.png", "bbox": [[1, 1, 5, 10]], "label": [12]},
                 "line 1: box 0: label 12 is not a digit 0 to 9"),
    "negative size": ({"file": "img0.png", "bbox": [[1, 1, -5, 10]], "label": [3]},
                      "line 1: box 0: [1, 1, -5, 10] has a negative size"),
    "text in a box": ({"file": "img0.png", "bbox": [["a", 1, 5, 10]], "label": [3]},
                      "is not four numbers [left, top, width, height]"),
    "three numbers": ({"file": "img0.png", "bbox": [[1, 1, 5]], "label": [3]},
                      "is not four numbers [left, top, width, height]"),
    "not an image": ({"file": "notes.png", "bbox": [[1, 1, 5, 10]], "label": [3]},
                     "notes.png: not an image Pillow can read"),
}


@pytest.mark.parametrize("command", ["data", "anchors", "eval", "train"])
@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_every_command_refuses_the_same_bad_rows_with_their_line(tmp_path, capsys, command,
                                                                  case):
    row, expected = BAD_ROWS[case]
    path = _jsonl(tmp_path / "photos", [row])
    (tmp_path / "photos" / "notes.png").write_text("not a picture")
    extra = ["--save_dir", str(tmp_path / "out")] if command in ("eval", "train") else []
    assert main([command, "--dataset", str(path), *extra]) == 2
    message = _error(capsys)
    assert str(path) in message and expected in message


@pytest.mark.parametrize(("line", "expected"), [
    ("[1, 2]", "line 1: missing file, bbox, label"),
    ('{"file": null, "bbox": [], "label": []}', "line 1: file None must be a path in quotes"),
    ('{"file": "img0.png", "bbox": [[1, 1, 5, 10]]', "line 1: not valid JSON"),
])
def test_a_line_that_is_no_record_is_named(tmp_path, capsys, line, expected):
    path = _jsonl(tmp_path / "photos", [])
    path.write_text(line + "\n")
    assert main(["data", "--dataset", str(path)]) == 2
    assert f"{path}, {expected}" in _error(capsys)


def test_an_absolute_image_path_in_a_jsonl_file_is_read(tmp_path, capsys):
    photos = tmp_path / "photos"
    path = _jsonl(photos, [{"file": str(photos / "img0.png"), "bbox": [[1, 1, 5, 10]],
                            "label": [3]}], name="absolute.jsonl")
    assert main(["data", "--dataset", str(path)]) == 0
    assert "measured on 1 images" in capsys.readouterr().out


@pytest.mark.parametrize(("rows", "expected"), [
    ([], "holds no images"),
    ([{"file": "img0.png", "bbox": [], "label": []}], "holds 1 images but no boxes"),
])
@pytest.mark.parametrize("command", ["data", "anchors", "eval"])
def test_a_source_without_images_or_boxes_exits_2(tmp_path, capsys, rows, expected, command):
    path = _jsonl(tmp_path / "photos", rows)
    extra = ["--save_dir", str(tmp_path / "out")] if command == "eval" else []
    assert main([command, "--dataset", str(path), *extra]) == 2
    assert expected in _error(capsys)
    assert not (tmp_path / "out" / "metrics.json").exists()


OUTSIDE = {"file": "img0.png", "bbox": [[100, 100, 10, 20]], "label": [3]}  # a 40 x 30 image
INSIDE = {"file": "img0.png", "bbox": [[2, 2, 10, 20]], "label": [4]}


@pytest.mark.parametrize(("command", "split", "count"), [("train", "train", 11),
                                                         ("eval", "test", 12)])
def test_a_set_whose_every_box_lies_outside_its_image_is_refused(tmp_path, capsys, command,
                                                                  split, count):
    path = _jsonl(tmp_path / "photos", [OUTSIDE] * 12)  # train: 1 of 12 held out to validate
    out = tmp_path / "out"
    assert main([command, "--dataset", str(path), "--save_dir", str(out), "--device", "cpu"]) == 2
    assert _error(capsys) == (
        f"yolo-smol {command}: error: {path} ({split} split): all {count} of its boxes were "
        "dropped (outside their image, or under a pixel once resized), so there is nothing to "
        "learn or score; check that boxes are [left, top, width, height] in pixels of their "
        "own image")
    assert not (out / "last.pt").exists() and not (out / "metrics.json").exists()


def test_eval_says_once_how_many_boxes_were_dropped(tmp_path, capsys):
    path = _jsonl(tmp_path / "photos", [INSIDE, OUTSIDE, INSIDE, OUTSIDE, OUTSIDE])
    assert main(["eval", "--dataset", str(path), "--save_dir", str(tmp_path / "out"),
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("dropped") == 1
    assert (f"note: {path} (test split): 0 boxes clipped to their image, 3 dropped (outside "
            "their image, or under 1 px once resized)") in out


def test_fractional_pixels_are_rounded_to_the_nearest_pixel_and_said_once(tmp_path, capsys):
    from yolo_smol.data.sources import load_dataset_source

    path = _jsonl(tmp_path / "photos", [
        {"file": "img0.png", "bbox": [[19.2, 4, 10.5, 20]], "label": [3]}, INSIDE,
        {"file": "img0.png", "bbox": [[10.5, 2.5, 3, 20.7], [1, 1, 5.0, 9]], "label": [1, 2]}])
    assert main(["data", "--dataset", str(path)]) == 0
    assert load_dataset_source(path)["digits"][0]["bbox"] == [[19, 4, 11, 20]]  # halves up
    assert load_dataset_source(path)["digits"][2]["bbox"] == [[11, 3, 3, 21], [1, 1, 5, 9]]
    err = capsys.readouterr().err  # read three times, said once
    assert err.strip() == (f"note: {path}: 2 box(es) in fractional pixels rounded to the "
                           "nearest pixel (the first: line 1, [19.2, 4, 10.5, 20])")


def test_a_parquet_file_of_garbage_is_named(tmp_path, capsys):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    assert main(["data", "--dataset", str(path)]) == 2
    assert f"{path}: cannot be read as parquet" in _error(capsys)


def test_an_image_given_as_a_dataset_says_what_dataset_paths_are(tmp_path, capsys):
    _jsonl(tmp_path / "photos", [])
    image = tmp_path / "photos" / "img0.png"
    assert main(["data", "--dataset", str(image)]) == 2
    message = _error(capsys)
    assert f"{image}: is an image" in message and "JSON-lines file (.jsonl)" in message
    assert "yolo-smol detect" in message


# ---------------------------------------------------------------------------------------
# Settings out of bounds
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "expected"), [
    (["anchors", "--recall_threshold", "nan"], "--recall_threshold: nan must lie between 0"),
    (["data", "--seed", "-1"], "--seed: -1 must be a whole number from 0"),
    (["train", "--seed", "-1"], "--seed: -1 must be a whole number from 0"),
    (["train", "--image_size", "100000"], "--image_size: 100000 must be whole numbers from 1"),
    (["summary", "--image_size", "100000"], "image_size: 100000 is more than the 2,048"),
    (["data", "--split", "*"], "argument --split: invalid choice: '*'"),
])
def test_settings_out_of_bounds_are_one_line_and_exit_2(argv, expected, capsys, tmp_path):
    try:
        status = main([*argv, *(["--save_dir", str(tmp_path)] if argv[0] == "train" else [])])
    except SystemExit as exit_:  # argparse's own refusals
        status = exit_.code
    assert status == 2
    assert expected in _error(capsys)


# ---------------------------------------------------------------------------------------
# The synthetic set's cache
# ---------------------------------------------------------------------------------------

def test_an_unwritable_cache_falls_back_to_the_temporary_folder(tmp_path, monkeypatch,
                                                                capsys):
    import tempfile

    import datasets

    blocked = tmp_path / "a-file"
    blocked.write_text("HF_HOME points below a file, so nothing can be created there")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", blocked / "datasets")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert main(["data", "--num_images", "20"]) == 0
    assert "measured on 20 images" in capsys.readouterr().out
    fallback = list((tmp_path / "tmp").glob("yolo_smol_synthetic-*/v*-train-20-seed0"))
    assert len(fallback) == 1 and (fallback[0] / "dataset_info.json").is_file()


def test_a_read_only_cache_that_holds_the_set_is_read_without_writing(tmp_path, monkeypatch,
                                                                       datasets_cache,
                                                                       capsys):
    from yolo_smol.data import prepare as prepare_module

    # Fill the cache with both splits the read-only run needs (data reads train, eval test).
    assert main(["data", "--num_images", "30"]) == 0
    assert main(["eval", "--num_images", "30", "--save_dir", str(tmp_path / "first")]) == 0
    before = sorted(str(path) for path in datasets_cache.rglob("*"))
    assert any("-test-30-" in path for path in before)
    if os.geteuid() != 0:
        for path in datasets_cache.rglob("*"):
            path.chmod(0o555 if path.is_dir() else 0o444)
    else:  # root writes anywhere; a read-only mount is what os.access reports, so say that
        real_access = os.access
        monkeypatch.setattr(prepare_module.os, "access", lambda path, mode: (
            False if str(path).startswith(str(datasets_cache)) else real_access(path, mode)))
    try:
        assert main(["eval", "--num_images", "30", "--save_dir", str(tmp_path / "out")]) == 0
    finally:
        for path in datasets_cache.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert sorted(str(path) for path in datasets_cache.rglob("*")) == before
    assert not list((tmp_path / "tmp").glob("yolo_smol_synthetic-*"))  # nor written elsewhere
