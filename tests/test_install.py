"""The package as users install it: the wheel's contents, and a read outside the repository.

The wheel is built once per session (about 10 s). The clean environment is a new virtual
environment outside the repository with the wheel installed into it; its dependencies
(PyTorch and the rest, gigabytes) come from this environment's site-packages by a path
entry, which does not carry this checkout's editable install along, so ``yolo_smol`` there
is the wheel's.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.sample_configs import REPO

EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    # The build happens in a copy: building writes build/ and *.egg-info beside the sources.
    source = folder / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "_build", "runs", "build", "*.egg-info", "__pycache__", ".*cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(folder), str(source)], check=True)
    return next(folder.glob("yolo_smol-*.whl"))


def _clean_environment(wheel: Path, environment: Path) -> Path:
    """A new virtual environment with the wheel installed; its dependencies come from this
    environment's site-packages by a path entry (see the module's docstring)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(environment)],
                   check=True)
    python = environment / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--quiet", str(wheel)], check=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                           "'purelib'))"], check=True, capture_output=True, text=True)
    (Path(site.stdout.strip()) / "dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n")
    return environment


def test_the_wheel_holds_the_weights_configs_and_model_cards(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("smol128x64", "smol"):
        assert f"yolo_smol/weights/{name}.pt" in names
        assert f"yolo_smol/weights/{name}.json" in names  # the model card
    for name in ("smol", "smol64", "smol128x64"):
        assert f"yolo_smol/configs/{name}.json" in names
    assert "yolo_smol/reading/detector.py" in names and "yolo_smol/photos.py" in names
    assert not any(name.startswith(("tests/", "book/", "examples/")) for name in names)


def test_a_clean_environment_reads_an_example_photo_outside_the_repository(wheel, tmp_path):
    environment = _clean_environment(wheel, tmp_path / "clean")
    python = environment / "bin" / "python"
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(EXAMPLES / "house_1.jpg", work / "door.jpg")
    where = subprocess.run([str(python), "-c", "import yolo_smol; print(yolo_smol.__file__)"],
                           cwd=work, check=True, capture_output=True, text=True)
    assert where.stdout.startswith(str(environment))  # the wheel's copy, not this checkout
    read = subprocess.run([str(environment / "bin" / "yolo-smol"), "detect", "--image_path",
                           "door.jpg", "--save_dir", "out"], cwd=work, capture_output=True,
                          text=True)
    assert read.returncode == 0, read.stderr
    expected = json.loads((EXAMPLES / "numbers.json").read_text())["numbers"]["house_1.jpg"]
    assert f"door.jpg: {expected}" in read.stdout
    api = subprocess.run([str(python), "-c", "from yolo_smol import Detector; "
                          "print(Detector.from_pretrained(device='cpu')('door.jpg').number)"],
                         cwd=work, check=True, capture_output=True, text=True)
    assert api.stdout.strip() == expected


def test_the_examples_are_read_as_recorded():
    from yolo_smol import Detector

    recorded = json.loads((EXAMPLES / "numbers.json").read_text())
    numbers, misread = recorded["numbers"], recorded["misread_by_the_shipped_detector"]
    detector = Detector.from_pretrained(device="cpu")
    names = sorted(numbers)
    readings = detector([EXAMPLES / name for name in names])
    for name, reading in zip(names, readings, strict=True):
        assert reading.number == misread.get(name, numbers[name]), name
    assert len(misread) <= 1  # the examples show right readings, with one hard case


@pytest.mark.slow  # about a minute: a whole chapter
def test_a_chapter_runs_from_the_wheel_outside_the_repository(wheel, tmp_path):
    """The NMS/mAP chapter (it loads the shipped detector) as a learner outside a clone runs
    it: the package installed from the wheel into a clean environment, no repository
    files at hand. Its code cells run in order as one script (matplotlib without a screen)."""
    import nbformat

    environment = _clean_environment(wheel, tmp_path / "clean")
    python = environment / "bin" / "python"
    chapter = nbformat.read(REPO / "book" / "07_nms_map.ipynb", as_version=4)
    script = "\n\n".join(cell.source for cell in chapter.cells if cell.cell_type == "code")
    work = tmp_path / "learner"
    work.mkdir()
    (work / "chapter.py").write_text(script)
    run = subprocess.run([str(python), "chapter.py"], cwd=work, capture_output=True, text=True,
                         env={**os.environ, "MPLBACKEND": "Agg",
                              "HF_DATASETS_CACHE": str(tmp_path / "cache")}, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "COCOeval: mAP@0.5:0.95" in run.stdout
