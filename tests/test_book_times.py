"""benchmarks/book_times.py: per-chapter execution times from make book's log."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("book_times", REPO / "benchmarks" / "book_times.py")
book_times = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_times)

LOG = """\x1b[01mreading sources... \x1b[39;49;00m[ 25%] \x1b[35mbook/01_data\x1b[39;49;00m
/tmp/clone/book/01_data.ipynb: Executing notebook using local CWD [mystnb]
/tmp/clone/book/01_data.ipynb: Executed notebook in 21.08 seconds [mystnb]
/tmp/clone/book/06_training.ipynb: Executed notebook in 178.14 seconds [mystnb]
"""


def test_each_chapters_time_is_read_from_the_log_colours_and_all():
    assert book_times.chapter_seconds(LOG) == {"01_data": 21.08, "06_training": 178.14}
    assert book_times.chapter_seconds("no notebooks were executed") == {}


def test_the_table_and_a_clear_message_without_a_log(tmp_path, capsys, monkeypatch):
    (tmp_path / "book.log").write_text(LOG)
    monkeypatch.setattr("sys.argv", ["book_times.py", str(tmp_path / "book.log")])
    assert book_times.main() == 0
    output = capsys.readouterr().out
    assert "01_data" in output and "178.1 s" in output and "199.2 s (3.3 min)" in output
    monkeypatch.setattr("sys.argv", ["book_times.py", str(tmp_path / "missing.log")])
    assert book_times.main() == 2
    assert "run make book first" in capsys.readouterr().err
