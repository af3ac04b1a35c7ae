"""The appendix on real photos: the ablation CSV it is drawn from, and how rows join it.

``benchmarks/results/real.csv`` holds one run of ``benchmarks/real.py`` a row; its columns
``recipe idea kept step baseline seed_group`` place each run in the ablation, and
``book/appendix_real_photos.ipynb`` computes its tables from them. These tests hold the
placing together (a baseline that names no run, a gap in the steps, a seed group of one
draw would each make a table wrong without failing the page) and check that appending a
run keeps every earlier run and its place.
"""

import csv
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CSV = REPO / "benchmarks" / "results" / "real.csv"
PLACE = ("recipe", "idea", "kept", "step", "baseline", "seed_group")


def _runs(path: Path = CSV) -> list[dict]:
    return list(csv.DictReader(path.open(newline="")))


def _name(run: dict) -> str:
    """A run's name, as the appendix and the baselines use it: its label up to the colon."""
    return run["label"].split(":")[0]


@pytest.fixture(scope="module")
def real():
    """benchmarks/real.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("real_benchmark", REPO / "benchmarks" / "real.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_real_py_writes_the_columns_the_csv_has(real):
    with CSV.open(newline="") as file:
        assert tuple(next(csv.reader(file))) == real.COLUMNS


def test_appending_a_run_keeps_every_run_and_its_place(real, tmp_path):
    copy = tmp_path / "real.csv"
    shutil.copy(CSV, copy)
    before = _runs(copy)
    new = {column: "" for column in real.COLUMNS} | {
        "label": "a new run: one change", "recipe": "short", "idea": "one change", "kept": "no",
        "baseline": "E b32 again"}
    real.append_row(copy, new)
    after = _runs(copy)
    # A column real.py has and the file lacked joins it, empty in the earlier rows.
    assert [{column: run[column] for column in before[0]} for run in after[:-1]] == before
    assert all(not run[column] for run in after[:-1] for column in set(run) - set(before[0]))
    assert after[-1] == new and set(PLACE) <= set(after[-1])
    assert not list(tmp_path.glob(".*.partial"))  # written aside, renamed into place


def test_every_run_has_a_unique_name_and_a_recipe():
    runs = _runs()
    names = [_name(run) for run in runs]
    assert len(set(names)) == len(names)
    assert {run["recipe"] for run in runs} <= {"short", "full", "earlier"}
    assert {run["kept"] for run in runs} <= {"yes", "no", ""}


def test_the_main_steps_run_one_to_n_and_end_at_the_shipped_detector():
    steps = sorted((run for run in _runs() if run["step"]), key=lambda run: int(run["step"]))
    assert [int(run["step"]) for run in steps] == list(range(1, len(steps) + 1))
    assert all(run["kept"] == "yes" and run["idea"] for run in steps)
    assert steps[-1]["weights"] == "weights/smol128x64.pt"


def test_every_idea_tried_names_baselines_that_exist():
    runs = _runs()
    names = {_name(run) for run in runs}
    for run in runs:
        if run["kept"]:
            assert run["idea"], _name(run)
        if run["kept"] == "no":
            assert run["baseline"], f"{_name(run)}: an idea not kept needs its baseline"
        for baseline in filter(None, run["baseline"].split("; ")):
            assert baseline in names, f"{_name(run)}: no run named {baseline!r}"


def test_each_seed_group_holds_three_draws_of_one_recipe():
    groups = {}
    for run in _runs():
        if run["seed_group"]:
            groups.setdefault(run["seed_group"], []).append(run)
    assert set(groups) == {"short recipe", "full recipe, one size", "full recipe, three sizes"}
    for members in groups.values():
        assert len(members) == 3
        assert len({(run["recipe"], run["scales"], run["sure_fraction"]) for run in members}) == 1


def test_the_page_says_once_that_the_photos_are_a_development_set():
    notebook = json.loads((REPO / "book" / "appendix_real_photos.ipynb").read_text())
    prose = "".join("".join(cell["source"]) for cell in notebook["cells"]
                    if cell["cell_type"] == "markdown")
    assert prose.count("development set") == 1
    assert "1,000 other real SVHN test photos" in prose and "0.685" in prose and "0.728" in prose
    assert "benchmarks/results/real.csv" in prose
