"""benchmarks/book_times.py: per-chapter execution times from the notebooks' cell timings."""

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("book_times", REPO / "benchmarks" / "book_times.py")
book_times = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_times)


def _notebook(path: Path, timings: list[tuple[str, str] | None]) -> Path:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# a chapter"}]
    for timing in timings:
        metadata = {} if timing is None else {"execution": {
            "iopub.execute_input": timing[0], "shell.execute_reply": timing[1]}}
        cells.append({"cell_type": "code", "metadata": metadata, "source": "", "outputs": []})
    path.write_text(json.dumps({"cells": cells}))
    return path


def test_a_chapter_takes_from_its_first_cell_start_to_its_last_cell_end(tmp_path):
    notebook = _notebook(tmp_path / "01.ipynb", [
        ("2026-11-29T10:00:00.000000Z", "2026-11-29T10:00:02.500000Z"),
        None,  # a cell that was not run adds nothing
        ("2026-11-29T10:00:03.000000Z", "2026-11-29T10:01:04.250000Z")])
    assert book_times.execution_seconds(notebook) == 64.25


def test_a_notebook_without_timings_says_so(tmp_path, capsys, monkeypatch):
    _notebook(tmp_path / "02.ipynb", [None])
    assert book_times.execution_seconds(tmp_path / "02.ipynb") is None
    monkeypatch.setattr("sys.argv", ["book_times.py", str(tmp_path)])
    assert book_times.main() == 0
    output = capsys.readouterr().out
    assert "02" in output and "no timings" in output
    monkeypatch.setattr("sys.argv", ["book_times.py", str(tmp_path / "empty")])
    assert book_times.main() == 2
