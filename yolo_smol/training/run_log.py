"""What a run records as it goes: scores, the log, and the checkpoints.

After every epoch: last.pt (first, so that what the log says is saved), the line printed,
``metrics.csv`` and ``training_curves.png``, every ``checkpoint_epoch``-th checkpoint, and
best.pt when the epoch scores the best mAP@0.5:0.95 on the validation split so far. Every
choice is made on the validation split; the test split is scored once, at the end, with
best.pt, and its figures stand in best.pt's row of ``metrics.csv``.

A history row holds the epoch's ``lr``, loss terms, ``images_per_s`` and ``seconds``; the
validation scores as ``map50``, ``map`` and ``whole_number_accuracy``; and, in best.pt's
row once the run ends, the test scores as ``test_map50``, ``test_map`` and
``test_whole_number_accuracy``. ``metrics.csv`` names the validation columns ``val_*``.
"""

from __future__ import annotations

import copy
import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import torch

# Plain text lines, also in notebooks (see loop.py).
from tqdm import tqdm

from yolo_smol.config import ModelConfig
from yolo_smol.data.prepare import PreparedData
from yolo_smol.model.checkpoint import read_checkpoint, write_checkpoint
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.outputs import OutputError, WriteError, write_text
from yolo_smol.training.evaluate import evaluate
from yolo_smol.training.settings import TrainConfig

if TYPE_CHECKING:
    from yolo_smol.training.state import RunState

__all__ = ["LOSS_TERMS", "SCORES", "CSV_COLUMNS", "EpochNotSavedError", "score_epoch",
           "save_epoch", "score_best_on_test", "write_log"]

LOSS_TERMS = ("box", "objectness", "class", "total")
SCORES = ("map50", "map", "whole_number_accuracy")
CSV_COLUMNS = ("epoch", "lr", *LOSS_TERMS, "images_per_s", "seconds",
               *(f"val_{name}" for name in SCORES), *(f"test_{name}" for name in SCORES))


class EpochNotSavedError(OutputError):
    """An epoch trained but not saved (a full disk): says what last.pt holds, and how to go
    on."""


def _scores(model: YoloSmol, data: PreparedData, config: TrainConfig,
            device: torch.device, prefix: str = "") -> dict[str, float]:
    result = evaluate(model, data, config.confidence_threshold, device=device)
    return {f"{prefix}map50": result.metrics.ap50, f"{prefix}map": result.metrics.map,
            f"{prefix}whole_number_accuracy": result.whole_number_accuracy}


def score_epoch(run: RunState, validation: PreparedData, config: TrainConfig,
                device: torch.device, save_dir: Path) -> dict[str, float]:
    """The run's inference model scored on the validation split (``map50``, ``map``,
    ``whole_number_accuracy``); a grid of its detections is saved beside."""
    from yolo_smol.visualize import save_detection_grid

    # A copy in the usual layout: scored exactly as the saved weights will be when loaded.
    model = copy.deepcopy(run.inference_model()).to(memory_format=torch.contiguous_format)
    scores = _scores(model, validation, config, device)
    save_detection_grid(model, validation,
                        save_dir / f"detections_epoch_{run.epoch:03d}.png",
                        config.confidence_threshold, device)
    run.model.train()
    return scores


def save_epoch(run: RunState, row: dict, model_config: ModelConfig, config: TrainConfig,
               save_dir: Path) -> None:
    """Log the epoch, save last.pt (first, so that what the log says is saved), every
    ``checkpoint_epoch``-th epoch and the best one so far (on the validation split).

    Raises:
        EpochNotSavedError: a file could not be written (a full disk): one line naming it,
            the epoch, and the epoch last.pt still holds.
    """
    run.history.append(row)
    try:
        state = run.state(model_config, config)
        write_checkpoint(state, save_dir / "last.pt")
        run.saved_epoch = run.epoch
        tqdm.write(_report(row, config))
        write_log(run.history, save_dir)
        if run.epoch % config.checkpoint_epoch == 0:
            write_checkpoint(state, save_dir / f"epoch_{run.epoch:03d}.pt")
        if row.get("map", -1.0) > run.best_map:
            run.best_map, run.best_epoch = row["map"], run.epoch
            write_checkpoint(run.state(model_config, config), save_dir / "best.pt")
    except WriteError as error:
        raise EpochNotSavedError(
            f"epoch {run.epoch} is trained but could not be saved: {error.path} could not be "
            f"written ({error.reason}); {save_dir / 'last.pt'} holds epoch {run.saved_epoch}. "
            f"Free some space, then continue with --resume {save_dir}") from None


def score_best_on_test(run: RunState, test: PreparedData, model_config: ModelConfig,
                       config: TrainConfig, device: torch.device, save_dir: Path,
                       ) -> dict[str, float]:
    """best.pt (the last epoch's weights when no epoch was scored) scored once on the test
    split; the scores go into that epoch's row of the log (``test_*``) and are printed."""
    best = save_dir / "best.pt"
    model = YoloSmol(model_config)
    if run.best_epoch is not None and best.is_file():
        model.load_state_dict(read_checkpoint(best)["model"])
        epoch, weights = run.best_epoch, "best.pt"
    else:
        model.load_state_dict(run.inference_model().state_dict())
        epoch, weights = run.epoch, "the last epoch's weights"
    scores = _scores(model.eval(), test, config, device, prefix="test_")
    for row in run.history:  # only best.pt's row holds test scores
        for key in scores:
            row.pop(key, None)
        if row["epoch"] == epoch:
            row.update(scores)
    try:
        write_log(run.history, save_dir)
    except WriteError as error:
        raise EpochNotSavedError(f"the test scores could not be logged: {error}") from None
    tqdm.write(f"test split, scored once with {weights} (epoch {epoch}): mAP@0.5 "
               f"{scores['test_map50']:.3f}  mAP@0.5:0.95 {scores['test_map']:.3f}  "
               f"whole-number {scores['test_whole_number_accuracy']:.3f}")
    return scores


def _report(row: dict, config: TrainConfig) -> str:
    text = (f"epoch {row['epoch']}/{config.num_epochs}  loss {row['total']:.3f} (box "
            f"{row['box']:.3f}, obj {row['objectness']:.3f}, cls {row['class']:.3f})  "
            f"lr {row['lr']:.2e}  {row['images_per_s']:.0f} img/s")
    if "map" in row:
        text += (f"  validation: mAP@0.5 {row['map50']:.3f}  mAP@0.5:0.95 {row['map']:.3f}  "
                 f"whole-number {row['whole_number_accuracy']:.3f}")
    return text


def write_log(history: list[dict], save_dir: Path) -> None:
    """``metrics.csv`` (one row per epoch; the columns say which split each score is of)
    and ``training_curves.png``, both written atomically."""
    from yolo_smol.visualize import save_training_curves

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in history:
        named = {(f"val_{key}" if key in SCORES else key): value for key, value in row.items()}
        writer.writerow({key: (f"{value:.6g}" if isinstance(value, float) else value)
                         for key, value in named.items()})
    write_text(save_dir / "metrics.csv", text.getvalue())
    save_training_curves(history, save_dir / "training_curves.png")
