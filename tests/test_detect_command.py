"""yolo-smol detect holds up: bounded memory, results kept when interrupted or out of disk,
no silent overwrites, its own copies never read as photos, one line for every refusal."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
import weakref

import pytest

from yolo_smol.cli import main
from yolo_smol.data.synthetic import make_synthetic
from yolo_smol.reading import report
from yolo_smol.reading.options import ReadingOptions


@pytest.fixture(scope="module")
def photos():
    """Eight generated test-split photos at their own sizes."""
    return [row["image"].convert("RGB") for row in make_synthetic(8, seed=5, split="test")]


def _folder(path, photos, count=None):
    path.mkdir(exist_ok=True)
    for index, photo in enumerate(photos[:count]):
        photo.save(path / f"photo{index}.png")
    return path


def _error(capsys) -> str:
    """The one line a refusal prints."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


def _no_partial_files(folder) -> bool:
    return not [path.name for path in folder.iterdir() if path.name.endswith(".partial")]


def test_a_folder_is_decoded_a_chunk_at_a_time_and_read_as_a_whole(tmp_path, photos,
                                                                   monkeypatch):
    from yolo_smol import Detector

    folder = _folder(tmp_path / "photos", photos)
    alive, most = [0], [0]  # photos decoded and not yet let go; the most at once
    load_image = report.load_image

    def counting_load(path):
        photo = load_image(path)
        alive[0] += 1
        most[0] = max(most[0], alive[0])
        weakref.finalize(photo, lambda: alive.__setitem__(0, alive[0] - 1))
        return photo

    monkeypatch.setattr(report, "load_image", counting_load)
    # Three photos a chunk by count; then two by pixels (each photo is at least 1,000).
    result = report.detect_images(folder, tmp_path / "out", device="cpu",
                                  options=ReadingOptions(batch_size=3))
    assert most[0] <= 3 and len(result.readings) == 8
    smallest = min(photo.width * photo.height for photo in photos)
    monkeypatch.setattr(report, "CHUNK_PIXELS", smallest + 1)
    most[0] = 0
    again = report.detect_images(folder, tmp_path / "again", device="cpu")
    assert most[0] <= 2
    # The same readings as all the photos read in one call.
    expected = Detector.from_pretrained(device="cpu")(photos)
    assert [number for _, number in result.readings] == [r.number for r in expected]
    assert again.readings == result.readings
    written = json.loads((tmp_path / "again" / "readings.json").read_text())
    assert written["complete"] is True and len(written["readings"]) == 8


def test_an_interrupted_run_keeps_every_photo_read_in_valid_json(tmp_path, photos):
    folder = _folder(tmp_path / "photos", photos)
    seen = []

    def interrupt_at_the_fifth(path, reading):
        seen.append(path)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        report.detect_images(folder, tmp_path / "out", device="cpu",
                             options=ReadingOptions(batch_size=3),
                             on_photo=interrupt_at_the_fifth)
    written = json.loads((tmp_path / "out" / "readings.json").read_text())
    assert written["complete"] is False
    assert [entry["image"] for entry in written["readings"]] == [str(path) for path in seen]
    assert all((tmp_path / "out" / entry["annotated"]).is_file()
               for entry in written["readings"])
    assert _no_partial_files(tmp_path / "out")


@pytest.mark.parametrize("failing", ["readings.json", "photo0.detected.png"])
def test_a_full_disk_is_one_line_naming_the_file_and_the_earlier_readings_stay(
        tmp_path, photos, capsys, monkeypatch, failing):
    folder = _folder(tmp_path / "photos", photos, 2)
    out = tmp_path / "out"
    assert main(["detect", "--image_path", str(folder), "--save_dir", str(out),
                 "--device", "cpu", "--scales", "1"]) == 0
    before = (out / "readings.json").read_bytes()
    capsys.readouterr()
    replace = os.replace

    def disk_full_for(source, target):
        if str(target).endswith(failing):
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(source, target)

    monkeypatch.setattr(os, "replace", disk_full_for)
    status = main(["detect", "--image_path", str(folder), "--save_dir", str(out),
                   "--device", "cpu", "--scales", "1", "--exist_ok"])
    message = _error(capsys)
    assert status == 2
    assert f"{out / failing}: could not be written (no space left on device)" in message
    assert (out / "readings.json").read_bytes() == before
    assert _no_partial_files(out)


def test_a_second_run_into_the_same_folder_is_refused_without_exist_ok(tmp_path, photos,
                                                                        capsys):
    folder = _folder(tmp_path / "photos", photos, 2)
    out = tmp_path / "out"
    common = ["detect", "--save_dir", str(out), "--device", "cpu", "--scales", "1"]
    assert main([*common, "--image_path", str(folder)]) == 0
    good = (out / "readings.json").read_bytes()
    capsys.readouterr()
    # Every photo unreadable: before, an empty readings.json replaced the good one.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "photo0.png").write_bytes(b"not a photo")
    assert main([*common, "--image_path", str(broken)]) == 2
    assert _error(capsys) == (f"yolo-smol detect: error: --save_dir {out}: holds an earlier "
                              "run's readings.json, photo0.detected.png; give another folder, "
                              "or pass --exist_ok to replace them")
    assert (out / "readings.json").read_bytes() == good
    # An annotated copy this run would write counts as an earlier run's too.
    (out / "readings.json").unlink()
    assert main([*common, "--image_path", str(folder)]) == 2
    assert "holds an earlier run's photo0.detected.png" in _error(capsys)
    assert main([*common, "--image_path", str(folder), "--exist_ok"]) == 0


def test_the_annotated_copies_in_the_photos_folder_are_never_read(tmp_path, photos, capsys):
    folder = _folder(tmp_path / "photos", photos, 3)
    command = ["detect", "--image_path", str(folder), "--save_dir", str(folder),
               "--device", "cpu", "--scales", "1"]
    assert main(command) == 0
    first = json.loads((folder / "readings.json").read_text())
    capsys.readouterr()
    assert main([*command, "--exist_ok"]) == 0
    captured = capsys.readouterr()
    second = json.loads((folder / "readings.json").read_text())
    assert [entry["image"] for entry in second["readings"]] == [
        entry["image"] for entry in first["readings"]]
    assert "left out 3 annotated copies (*.detected.png)" in captured.err
    assert not list(folder.glob("*.detected.detected.png"))
    for path in folder.glob("photo*.png"):
        if not path.name.endswith(".detected.png"):
            path.unlink()
    assert main([*command, "--exist_ok"]) == 2
    assert "holds only annotated copies that yolo-smol detect wrote" in _error(capsys)


@pytest.mark.parametrize(("flags", "expected"), [
    (["--scales", "1e9"], "scales: (1000000000.0,) must be numbers above 0 and at most 4"),
    (["--batch_size", "0"], "batch_size: 0 must be a whole number >= 1"),
    (["--sure_fraction", "nan"], "sure_fraction: nan must be a number from 0 to 1"),
    (["--iou_threshold", "-1"], "iou_threshold: -1.0 must be a number from 0 to 1"),
    (["--max_end_gap", "-0.5"], "max_end_gap: -0.5 must be a number >= 0 (digit heights)"),
])
def test_absurd_reading_options_are_one_line_before_any_work(tmp_path, capsys, flags,
                                                              expected):
    start = time.perf_counter()
    try:
        status = main(["detect", "--image_path", str(tmp_path), *flags,
                       "--save_dir", str(tmp_path / "out")])
    except SystemExit as stop:  # argparse's own refusals
        status = stop.code
    assert status == 2 and expected in _error(capsys)
    assert not (tmp_path / "out").exists() and time.perf_counter() - start < 5


def test_a_folder_that_cannot_be_listed_is_one_line(tmp_path, capsys, monkeypatch):
    from pathlib import Path

    folder = tmp_path / "locked"
    folder.mkdir()

    def refuse(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refuse)  # root reads any folder: refuse by hand
    assert main(["detect", "--image_path", str(folder), "--save_dir",
                 str(tmp_path / "out")]) == 2
    assert _error(capsys) == (f"yolo-smol detect: error: {folder}: the folder cannot be "
                              "listed (Permission denied); give a folder you can read")


@pytest.mark.slow
def test_ctrl_c_at_any_moment_ends_with_130_and_the_readings_so_far(tmp_path, photos):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(300):  # enough to read for longer than the last delay
        photos[index % len(photos)].resize((640, 320)).save(folder / f"p{index}.jpg")
    # Timed from when the command's own code starts (before it, the interrupt is Python's):
    # PyTorch's import (where an interrupt was swallowed, and the run went on to exit 0),
    # loading the weights, the first batch's resizing threads, reading and writing.
    start = ("import sys, yolo_smol.cli; print('started', file=sys.stderr, flush=True); "
             "sys.exit(yolo_smol.cli.main(sys.argv[1:]))")
    for delay in (0.3, 0.8, 1.5, 3.0, 5.0):
        out = tmp_path / f"out{delay}"
        run = subprocess.Popen([sys.executable, "-c", start, "detect", "--image_path",
                                str(folder), "--save_dir", str(out), "--device", "cpu"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert run.stderr.readline() == "started\n"
        time.sleep(delay)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=300)
        assert run.returncode == 130, (delay, run.returncode, err[-2000:])
        assert err.strip().splitlines() == ["yolo-smol detect: interrupted"], (delay, err)
        if (out / "readings.json").exists():
            written = json.loads((out / "readings.json").read_text())
            assert written["complete"] is False and len(written["readings"]) < 300
            assert _no_partial_files(out)
