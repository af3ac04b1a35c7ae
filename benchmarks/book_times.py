"""How long each chapter took to execute in the last ``make book``, and in all.

``make book`` keeps the build's output in ``_build/book.log``. The executor (myst-nb)
writes one line per notebook there, ``<path>.ipynb: Executed notebook in N seconds``
(kernel start included); this prints those times as a table. (The executed notebooks
cannot tell: myst-nb runs them without recording cell timings, so their metadata keeps the
timings of whoever executed the committed copy.)

Run: .venv/bin/python benchmarks/book_times.py [_build/book.log]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

EXECUTED = re.compile(r"([^\s/\\]+)\.ipynb: Executed notebook in ([0-9.]+) seconds")
COLOURS = re.compile(r"\x1b\[[0-9;]*m")  # Sphinx colours its log lines


def chapter_seconds(log: str) -> dict[str, float]:
    """Execution seconds per notebook (by file stem) in a build log; a notebook executed
    twice keeps its last time."""
    return {match.group(1): float(match.group(2))
            for match in EXECUTED.finditer(COLOURS.sub("", log))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", nargs="?", default="_build/book.log")
    path = Path(parser.parse_args().log)
    seconds = chapter_seconds(path.read_text(errors="replace")) if path.is_file() else {}
    if not seconds:
        print(f"book_times.py: no executed chapters in {path}; run make book first",
              file=sys.stderr)
        return 2
    print("chapter                 executed in")
    for chapter, time in sorted(seconds.items()):
        print(f"{chapter:<22}  {time:8.1f} s")
    total = sum(seconds.values())
    print(f"{'all chapters':<22}  {total:8.1f} s ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
