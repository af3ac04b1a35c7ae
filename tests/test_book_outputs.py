"""The chapters' committed outputs hold on any CPU: no figure printed past its precision.

The same sums taken in another order (another thread count, another vendor's CPU) move a
float's fifth or sixth significant digit. nbval compares the committed outputs exactly, so a
chapter that prints or glues a raw float's repr passes where it was executed and fails
elsewhere. Figures are printed at the precision the text uses; this test finds any that are
not, without executing anything.
"""

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
# Six or more digits after the point: a figure printed past the three or four the text uses.
OVER_PRECISE = re.compile(r"(?<![\w.])\d+\.\d{6,}(?![\w.])")


def _text_outputs(cell: dict) -> list[str]:
    """The text a cell's outputs show or glue (streams, text/plain and glue records)."""
    texts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            texts.append("".join(output["text"]))
        for mime, value in output.get("data", {}).items():
            if mime.endswith("text/plain") or mime == "text/markdown":
                texts.append("".join(value))
    return texts


def over_precise_figures(notebook: dict) -> list[tuple[int, str]]:
    """``(cell index, figure)`` for every figure printed with six or more decimals."""
    return [(index, match) for index, cell in enumerate(notebook["cells"])
            if cell["cell_type"] == "code"
            for text in _text_outputs(cell) for match in OVER_PRECISE.findall(text)]


def test_the_check_finds_a_raw_repr_and_passes_rounded_figures():
    def cell(*texts):
        return {"cell_type": "code", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": list(texts)},
            {"output_type": "display_data", "data": {
                "application/papermill.record/text/plain": "0.9032539173099391"}}]}

    found = over_precise_figures({"cells": [cell("mAP 0.836, loss 1.2345\n")]})
    assert found == [(0, "0.9032539173099391")]
    found = over_precise_figures({"cells": [cell("COCOeval 0.521102 (version 1.2.3)\n")]})
    assert (0, "0.521102") in found and all(figure != "1.2.3" for _, figure in found)


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.ipynb")), ids=lambda path: path.stem)
def test_no_chapter_prints_a_figure_past_its_precision(path):
    figures = over_precise_figures(json.loads(path.read_text()))
    assert not figures, (f"{path.name} prints figures past the precision the text uses "
                         f"(cell, figure): {figures[:5]}; format them (f'{{x:.3f}}')")
