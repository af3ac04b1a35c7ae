"""The package's shape: folders in the book's order, layering, one error base, lazy imports."""

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import yolo_smol
from yolo_smol.errors import YoloSmolError

PACKAGE = Path(yolo_smol.__file__).parent
# Folder (or top-level module) -> the parts of the package it may import. The ground
# (config, boxes, errors, device, outputs) is below everything; nothing imports the CLI.
# Every file the package writes goes through outputs (written aside, renamed into place).
ALLOWED = {
    "errors": set(),
    "grouped": set(),
    "config": {"errors", "outputs"},
    "boxes": set(),
    "device": set(),
    "outputs": {"errors"},
    "photos": {"errors"},
    "arguments": set(),  # what the command line's flags accept
    "interrupts": set(),  # Ctrl-C between two photos
    "export": {"errors", "model", "outputs"},
    "data": {"errors", "config", "boxes", "grouped", "photos", "data"},
    "anchors": {"errors", "config", "boxes", "outputs", "data", "anchors"},
    "model": {"errors", "config", "boxes", "outputs", "model"},
    "detection": {"errors", "config", "boxes", "grouped", "detection"},
    # Chapter 8's reader: above detection and the model, below training and the CLI.
    "reading": {"errors", "config", "boxes", "grouped", "device", "outputs", "photos", "data",
                "model", "detection", "reading"},
    "training": {"errors", "config", "boxes", "grouped", "device", "outputs", "data", "model",
                 "detection", "training", "visualize", "reading"},
    "visualize": {"boxes", "detection", "data", "outputs"},
    "cli": {"errors", "arguments", "interrupts", "config", "device", "outputs", "data",
            "anchors", "model", "detection", "training", "reading", "photos", "visualize",
            "export"},
    "__main__": {"cli"},
    "__init__": {"errors", "config", "model", "reading"},
}


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_parts(path: Path) -> set[str]:
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name.startswith("yolo_smol."):
                parts.add(name.split(".")[1])
    return parts


def test_every_module_sits_at_most_one_folder_deep():
    modules = [path for path in PACKAGE.rglob("*.py")]
    assert all(len(path.relative_to(PACKAGE).parts) <= 2 for path in modules)
    assert {path.name for path in PACKAGE.iterdir() if path.is_dir()
            and (path / "__init__.py").is_file()} == {
        "data", "anchors", "model", "detection", "training", "reading"}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(
    p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path):
    part = _part(path)
    extra = _imported_parts(path) - ALLOWED[part] - {part}
    assert not extra, f"{path.relative_to(PACKAGE)} ({part}) imports {sorted(extra)}"


def test_the_layer_table_is_not_vacuous():
    # The check above must be able to fail: the training loop imports the model, which the
    # detection folder may not.
    loop = PACKAGE / "training" / "loop.py"
    assert "model" in _imported_parts(loop) and "model" not in ALLOWED["detection"]


def test_the_reader_sits_above_detection_and_the_model_and_nothing_below_imports_it():
    reader = PACKAGE / "reading"
    imported = set().union(*(_imported_parts(path) for path in reader.glob("*.py")))
    assert {"detection", "model"} <= imported  # above them, in fact as in the table
    below = {part for part in ALLOWED["reading"] if part != "reading"}
    assert not [part for part in below if "reading" in ALLOWED[part]]
    importers = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
                       if _part(path) in below and "reading" in _imported_parts(path))
    assert importers == []
    # The check can fail: the detector imports the model, which detection may not.
    assert "model" in _imported_parts(reader / "detector.py") and "model" in below


def test_every_user_error_shares_one_base():
    for module_info in pkgutil.walk_packages([str(PACKAGE)], "yolo_smol."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Exception)
                    and value.__module__ == module.__name__):
                assert issubclass(value, YoloSmolError), value


def test_top_level_names_still_import():
    from yolo_smol import (  # noqa: F401
        CheckpointError,
        ConfigError,
        Detector,
        ModelConfig,
        Reading,
        ReadingOptions,
        YoloSmol,
        builtin_config_names,
        load_config,
        load_model,
        save_model,
        summarize,
    )

    assert set(yolo_smol.__all__) <= set(dir(yolo_smol))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        yolo_smol.nothing  # noqa: B018


def test_importing_the_package_and_building_the_cli_does_not_load_torch():
    # What `yolo-smol --help` does: heavy imports wait for the subcommand that needs them.
    code = ("import sys, yolo_smol, yolo_smol.cli; yolo_smol.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'datasets', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_readme_layout_names_every_module():
    readme = (PACKAGE.parent / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```", 2)[1]
    listed = {line.split()[0] for line in layout.splitlines() if line.strip()}
    modules = {path.name for path in PACKAGE.rglob("*.py")} - {"__init__.py", "__main__.py"}
    folders = {f"{path.name}/" for path in PACKAGE.iterdir()
               if path.is_dir() and (path / "__init__.py").is_file()}
    assert modules | folders <= listed, sorted((modules | folders) - listed)


def test_no_function_runs_past_forty_lines():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 40:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.name} ({length} lines)")
    assert not long, long
