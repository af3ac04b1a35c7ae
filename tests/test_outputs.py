"""Every file is written aside and renamed into place; result folders refuse earlier results."""

import errno
import os

import pytest

from yolo_smol.outputs import (
    OutputError,
    check_result_folder,
    write_atomically,
    write_json,
    write_text,
)


def _leftovers(folder):
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".partial"))


def test_write_text_replaces_the_file_and_leaves_nothing_aside(tmp_path):
    target = tmp_path / "readings.json"
    target.write_text("old")
    write_text(target, "new")
    assert target.read_text() == "new"
    assert _leftovers(tmp_path) == []


def test_write_json_ends_with_a_newline(tmp_path):
    write_json(tmp_path / "metrics.json", {"map": 0.5})
    assert (tmp_path / "metrics.json").read_text() == '{\n  "map": 0.5\n}\n'


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_a_failed_write_keeps_the_old_file_and_says_so_in_one_line(tmp_path, code):
    target = tmp_path / "readings.json"
    target.write_text('{"good": true}\n')

    def fill_the_disk(partial):
        partial.write_bytes(b"x" * 4096)  # a part was written before the disk filled
        raise OSError(code, os.strerror(code))

    with pytest.raises(OutputError) as caught:
        write_atomically(target, fill_the_disk)
    message = str(caught.value)
    assert "\n" not in message and str(target) in message
    assert os.strerror(code).lower() in message
    assert target.read_text() == '{"good": true}\n'
    assert _leftovers(tmp_path) == []


def test_torch_save_on_a_full_disk_is_an_output_error(tmp_path):
    def enforce_fail(partial):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64")

    with pytest.raises(OutputError, match="last.pt"):
        write_atomically(tmp_path / "last.pt", enforce_fail)
    assert list(tmp_path.iterdir()) == []


def test_a_bug_in_the_writer_is_not_hidden(tmp_path):
    def buggy(partial):
        partial.write_text("half")
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        write_atomically(tmp_path / "out.txt", buggy)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_leaves_no_partial_file(tmp_path):
    def interrupted(partial):
        partial.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "out.txt", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_a_result_folder_with_earlier_results_is_refused_unless_told(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(OutputError, match="--exist_ok"):
        check_result_folder(tmp_path, ("metrics.json", "confusion.png"), exist_ok=False)
    assert check_result_folder(tmp_path, ("metrics.json",), exist_ok=True) == tmp_path
    assert check_result_folder(tmp_path / "new", ("metrics.json",), exist_ok=False).is_dir()
