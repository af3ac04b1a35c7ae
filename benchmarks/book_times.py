"""How long each chapter took to execute, from the executed notebooks' own cell timings.

Jupyter records, in every executed code cell's metadata, when the kernel started and
finished it (``execution``: ``iopub.execute_input`` and ``shell.execute_reply``). This
prints, per chapter, the time from its first cell's start to its last cell's end (kernel
start-up excluded), and the total. ``make book`` runs it on the notebooks it has just
executed (``_build/jupyter_execute/book``).

Run: .venv/bin/python benchmarks/book_times.py [FOLDER]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path


def execution_seconds(notebook: Path) -> float | None:
    """Seconds from the first code cell's start to the last one's end; None when the
    notebook holds no timings (it was not executed, or not by Jupyter)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    times = [cell.get("metadata", {}).get("execution", {}) for cell in cells
             if cell["cell_type"] == "code"]
    starts = [t["iopub.execute_input"] for t in times if "iopub.execute_input" in t]
    ends = [t["shell.execute_reply"] for t in times if "shell.execute_reply" in t]
    if not starts or not ends:
        return None
    first, last = (datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                   for stamp in (min(starts), max(ends)))
    return (last - first).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="_build/jupyter_execute/book")
    folder = Path(parser.parse_args().folder)
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        print(f"book_times.py: no executed notebooks in {folder}; run make book first",
              file=sys.stderr)
        return 2
    total = 0.0
    print("chapter                 executed in")
    for notebook in notebooks:
        seconds = execution_seconds(notebook)
        total += seconds or 0.0
        shown = "no timings" if seconds is None else f"{seconds:8.1f} s"
        print(f"{notebook.stem:<22}  {shown}")
    print(f"{'all chapters':<22}  {total:8.1f} s ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
