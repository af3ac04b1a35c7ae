"""The training loop: AdamW, warm-up and cosine decay, EMA, gradient clipping, checkpoints.

``train`` is a plain function over prepared tensors; ``run_training`` adds what a command
line run needs around it (loading and preparing the data, resuming). Everything random is
drawn from generators seeded by ``(seed, epoch)``, so on a CPU a run is exactly
reproducible, and a run stopped and resumed ends with the same weights as one that was not.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

# Plain text bars, also in notebooks: widget bars need a live frontend, and executing a
# notebook headless (nbclient, nbval) can stall on them.
from tqdm import tqdm

from yolo_smol.config import ModelConfig, load_config
from yolo_smol.data.augment import AugmentConfig, augment_batch
from yolo_smol.data.prepare import PreparedData, iterate_batches
from yolo_smol.detection.loss import LossConfig, yolo_loss
from yolo_smol.model.checkpoint import read_checkpoint, write_checkpoint
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.outputs import writable_folder, write_json
from yolo_smol.reading.looks import anchors_at, input_sizes
from yolo_smol.training.run_folder import check_new_run, holding_run_lock
from yolo_smol.training.run_log import (
    LOSS_TERMS,
    EpochNotSavedError,
    save_epoch,
    score_best_on_test,
    score_epoch,
)
from yolo_smol.training.schedule import learning_rate
from yolo_smol.training.settings import TrainConfig, TrainConfigError
from yolo_smol.training.splits import load_run_data
from yolo_smol.training.state import RunState, parameter_groups

__all__ = ["TrainConfig", "TrainConfigError", "TrainResult", "EpochNotSavedError", "train",
           "run_training", "parameter_groups"]


@dataclass(frozen=True)
class TrainResult:
    """What a run leaves: the model to use (EMA weights if enabled) and the per-epoch log.

    Attributes:
        best_map: the best mAP@0.5:0.95 on the validation split (-1: no epoch was scored).
        best_epoch: the epoch best.pt holds (None: no epoch was scored).
        test_scores: best.pt's ``test_map50``, ``test_map`` and
            ``test_whole_number_accuracy``, scored once at the end (None: no test split).
    """

    model: YoloSmol
    history: list[dict]
    best_map: float
    save_dir: Path
    best_epoch: int | None = None
    test_scores: dict[str, float] | None = None

    def summary(self) -> str:
        """The last line ``yolo-smol train`` prints: best.pt's mAP@0.5:0.95 on the split
        that chose it, and on the test split it was then scored on once."""
        if self.best_map < 0:
            return f"done: no epoch was scored; weights in {self.save_dir}"
        text = f"done: best mAP@0.5:0.95 {self.best_map:.4f} on the validation split"
        if self.best_epoch is not None:
            text += f" (best.pt, epoch {self.best_epoch})"
        if self.test_scores:
            text += f", {self.test_scores['test_map']:.4f} on the test split"
        return f"{text}; weights in {self.save_dir}"


def _train_epoch(run: RunState, data: PreparedData, config: TrainConfig,
                 loss_config: LossConfig, device: torch.device, total_steps: int) -> dict:
    run.model.train()
    # Shuffling and augmentation depend on (seed, epoch) only: a resumed run redraws them.
    generator = torch.Generator().manual_seed(config.seed * 100_003 + run.epoch)
    augment = AugmentConfig(prob=config.augment_prob)
    warmup = round(config.warmup_epochs * run.steps_per_epoch)
    sums = dict.fromkeys(LOSS_TERMS, 0.0)
    seen, start = 0, time.perf_counter()
    # Only on a terminal (disable=None): in a notebook or a log file every refresh would be
    # one more line; there the one summary line per epoch says it all. At most one refresh
    # a second.
    sizes = input_sizes(run.model.config, config.train_scales)
    bar = tqdm(total=run.steps_per_epoch, desc=f"epoch {run.epoch + 1}/{config.num_epochs}",
               leave=False, dynamic_ncols=True, mininterval=1.0, disable=None)
    for images, targets in iterate_batches(data, config.batch_size, generator=generator,
                                           drop_last=True):
        if config.data_augment:
            images, targets = augment_batch(images, targets, augment, generator)
        # Multi-scale training draws each batch's size (no draw with one size, so that a
        # run at the model's size alone draws the same batches as before the setting).
        size = sizes[int(torch.randint(len(sizes), (1,), generator=generator))
                     ] if len(sizes) > 1 else sizes[0]
        rate = learning_rate(run.step, total_steps, warmup, config.lr,
                             config.final_lr_fraction)
        loss = _train_step(run, images, targets, rate, loss_config, config.grad_clip, device,
                           size)
        run.step += 1
        seen += len(images)
        for name in LOSS_TERMS:
            sums[name] += loss[name].item() * len(images)
        bar.set_postfix({name[:3]: f"{sums[name] / seen:.3f}" for name in LOSS_TERMS}
                        | {"img/s": f"{seen / (time.perf_counter() - start):.0f}"},
                        refresh=False)
        bar.update()
    bar.close()
    seconds = time.perf_counter() - start
    return {"lr": rate if seen else config.lr, **{name: sums[name] / max(seen, 1)
                                                   for name in LOSS_TERMS},
            "images_per_s": seen / max(seconds, 1e-9), "seconds": seconds}


def _train_step(run: RunState, images: torch.Tensor, targets: torch.Tensor, rate: float,
                loss_config: LossConfig, grad_clip: float, device: torch.device,
                size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """One optimiser step on ``images (B, 3, H, W)`` uint8 and ``targets (T, 6)`` at
    learning rate ``rate``, the images resized to ``size`` ``(width, height)``; the EMA
    follows. Returns the loss terms."""
    inputs = images.to(device, non_blocking=True).float().div_(255)
    anchors = run.model.anchors
    trained_size = run.model.config.input_size
    if size != trained_size:
        # The targets are fractions of the image: they hold at any size. The anchors keep
        # their pixel size, as the Detector reads other sizes (yolo_smol.reading.looks).
        inputs = torch.nn.functional.interpolate(inputs, size=(size[1], size[0]),
                                                 mode="bilinear", antialias=True)
        anchors = anchors_at(anchors, trained_size, size)
    inputs = inputs.contiguous(memory_format=torch.channels_last)  # as the model
    for group in run.optimizer.param_groups:
        group["lr"] = rate
    with torch.autocast(device.type, enabled=device.type == "cuda"):
        outputs = run.model(inputs)
    loss = yolo_loss([output.float() for output in outputs], targets.to(device), anchors,
                     loss_config)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss["total"]).backward()
    run.scaler.unscale_(run.optimizer)
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    if run.ema is not None:
        run.ema.update(run.model)
    return loss


def train(model_config: ModelConfig, config: TrainConfig, train_data: PreparedData,
          validation_data: PreparedData | None = None, resume_from: dict | None = None,
          initial_weights: dict[str, torch.Tensor] | None = None, *,
          test_data: PreparedData | None = None) -> TrainResult:
    """Train a model and write everything a run leaves into ``config.save_dir``.

    Args:
        model_config: the model to build (``config.image_size`` must already be applied).
        config: validated training settings.
        train_data, validation_data, test_data: prepared at the model's image size.
            ``validation_data`` is scored every ``eval_every`` epochs and after the last, and
            the epoch it scores best is saved as best.pt; ``test_data`` is scored once, at
            the end, with best.pt (see :mod:`yolo_smol.training.run_log`).
        resume_from: a checkpoint dict to continue from (see :func:`run_training`).
        initial_weights: a state dict to start from instead of random weights (fine-tuning;
            see ``init`` in :class:`TrainConfig`).

    Raises:
        KeyboardInterrupt: after writing ``last.pt``, so that ``--resume`` can continue.
        EpochNotSavedError: a checkpoint or the log could not be written (a full disk).
    """
    device = config.device_to_use()
    save_dir = Path(config.save_dir)
    run = _start_run(model_config, config, train_data, device, resume_from, initial_weights)
    _run_epochs(run, model_config, config, train_data, validation_data, device, save_dir)
    test_scores = (score_best_on_test(run, test_data, model_config, config, device, save_dir)
                   if test_data is not None else None)
    # Handed back in the usual layout: the same numbers as the model load_model gives.
    model = run.inference_model().to(memory_format=torch.contiguous_format)
    return TrainResult(model, run.history, run.best_map, save_dir, run.best_epoch, test_scores)


def _run_epochs(run: RunState, model_config: ModelConfig, config: TrainConfig,
                train_data: PreparedData, validation_data: PreparedData | None,
                device: torch.device, save_dir: Path) -> None:
    """Train, score and save epoch after epoch up to ``num_epochs``; stopped by Ctrl-C or
    an error, say what last.pt holds and how to resume."""
    total_steps = run.steps_per_epoch * config.num_epochs
    loss_config = _loss_config(config)
    try:
        while run.epoch < config.num_epochs:
            row = {"epoch": run.epoch + 1, **_train_epoch(run, train_data, config,
                                                          loss_config, device, total_steps)}
            run.epoch += 1
            if validation_data is not None and (run.epoch % config.eval_every == 0
                                                or run.epoch == config.num_epochs):
                row |= score_epoch(run, validation_data, config, device, save_dir)
            save_epoch(run, row, model_config, config, save_dir)
    except KeyboardInterrupt:
        _say_how_to_resume(run, save_dir, "interrupted", "")
        raise
    except EpochNotSavedError:
        raise  # its one line says what last.pt holds and how to go on
    except Exception:
        _say_how_to_resume(run, save_dir, "stopped by an error", "after fixing it, ")
        raise


def _loss_config(config: TrainConfig) -> LossConfig:
    """The loss a run trains with: the paper's, with the choices its settings make."""
    return LossConfig(box_loss=config.box_loss,
                      anchor_iou_threshold=config.anchor_iou_threshold)


def _say_how_to_resume(run: RunState, save_dir: Path, what: str, first: str) -> None:
    # last.pt holds the last epoch saved; the one in progress (or trained and not yet
    # saved) is lost.
    when = (f"after training epoch {run.epoch}" if run.epoch > run.saved_epoch
            else f"in epoch {run.epoch + 1}")
    tqdm.write(f"{what} {when}: {save_dir / 'last.pt'} holds epoch {run.saved_epoch}; "
               f"{first}continue with --resume {save_dir}")


def _start_run(model_config: ModelConfig, config: TrainConfig, train_data: PreparedData,
               device: torch.device, resume_from: dict | None,
               initial_weights: dict[str, torch.Tensor] | None) -> RunState:
    """The run's state, restored when resuming, and its folder with config.json and a first
    last.pt (so that a stop in the first epoch can resume from the start)."""
    save_dir = Path(config.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    steps_per_epoch = len(train_data) // config.batch_size
    if steps_per_epoch == 0:
        raise TrainConfigError(f"--batch_size {config.batch_size} is larger than the "
                               f"{len(train_data)} training images; lower it")
    run = RunState(model_config, config, steps_per_epoch, device, initial_weights)
    if resume_from is not None:
        run.restore(resume_from)
    write_json(save_dir / "config.json", {"model_config": model_config.to_dict(),
                                          "train_config": asdict(config)})
    if resume_from is None:
        write_checkpoint(run.state(model_config, config), save_dir / "last.pt")
    return run


def _initial_weights(path: str, model_config: ModelConfig | str | None,
                     ) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The config and inference weights of the checkpoint a fine-tuning run starts from.

    A ``model_config`` given beside it must be the checkpoint's (apart from its
    ``image_size``, which ``--image_size`` may change: the network is fully convolutional).
    """
    payload = read_checkpoint(path)
    saved = load_config(payload["model_config"])
    if model_config is not None:
        given = load_config(model_config).to_dict()
        differing = [key for key, value in saved.to_dict().items()
                     if key != "image_size" and given.get(key) != value]
        if differing:
            raise TrainConfigError(f"--init {path}: its model config differs from "
                                   f"--model_config in {', '.join(differing)}; leave "
                                   "--model_config out (the checkpoint carries its config)")
        saved = saved.replace(image_size=given["image_size"])
    return saved, payload["model"]


def _resumed(resume: str | Path, model_config: ModelConfig | str | None,
             changes: TrainConfig | Mapping[str, Any]) -> tuple[dict, ModelConfig, TrainConfig]:
    """The checkpoint, model config and settings of the run to continue."""
    path = Path(resume)
    payload = read_checkpoint(path / "last.pt" if path.is_dir() else path)
    if "training" not in payload:
        raise TrainConfigError(f"--resume {resume}: holds weights only, no training state; "
                               "resume from a save_dir of yolo-smol train")
    if model_config is not None:
        raise TrainConfigError(f"--resume {resume}: a resumed run keeps the model config it "
                               "was started with; leave --model_config out")
    if isinstance(changes, TrainConfig):
        changes = {key: value for key, value in asdict(changes).items()
                   if value != getattr(TrainConfig, key)}  # only what differs from defaults
    saved = TrainConfig.from_dict(payload["train_config"])
    if changes.get("image_size", saved.image_size) != saved.image_size:
        raise TrainConfigError(f"--resume {resume}: the run was trained at image_size "
                               f"{saved.image_size}; leave --image_size out")
    folder = path if path.is_dir() else path.parent
    config = replace(saved, **{**changes, "save_dir": str(folder)})
    return payload, load_config(payload["model_config"]), config


def run_training(model_config: ModelConfig | str | None,
                 config: TrainConfig | Mapping[str, Any],
                 resume: str | Path | None = None, exist_ok: bool = False) -> TrainResult:
    """Everything ``yolo-smol train`` does: check, load and prepare the train, validation and
    test splits (:func:`yolo_smol.training.splits.load_run_data`), train.

    Args:
        model_config: the model to train (a config, a file or a built-in name; ``None``
            means ``smol``). Must be ``None`` when resuming: the run keeps its own.
        config: the training settings, or a mapping of only the settings the user chose
            (the rest are the defaults, or, when resuming, the run's own).
        resume: a run folder (or a checkpoint in one) to continue. Every setting comes from
            the run unless ``config`` names it, so a resumed run ends with the weights an
            uninterrupted run would have.
        exist_ok: start a new run in a ``save_dir`` that holds one, replacing it.

    Raises:
        RunFolderError: ``save_dir`` holds a run (and neither ``resume`` nor ``exist_ok``
            was given), or another process is training into it.
    """
    payload = initial_weights = None
    if resume is None:
        config = config if isinstance(config, TrainConfig) else TrainConfig(**config)
        if config.init is not None:
            model_config, initial_weights = _initial_weights(config.init, model_config)
        model_config = load_config(model_config or "smol")
        folder = check_new_run(config.save_dir, exist_ok)  # before any data is loaded
    else:
        payload, model_config, config = _resumed(resume, model_config, config)
        folder = writable_folder(config.save_dir)
    if config.image_size is not None and config.image_size != model_config.image_size:
        model_config = model_config.replace(image_size=config.image_size)
    with holding_run_lock(folder):
        data = load_run_data(config, model_config)
        return train(model_config, config, data.train, data.validation, payload,
                     initial_weights, test_data=data.test)
