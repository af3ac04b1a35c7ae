"""The training loop: AdamW, warm-up and cosine decay, EMA, gradient clipping, checkpoints.

``train`` is a plain function over prepared tensors; ``run_training`` adds what a command
line run needs around it (loading and preparing the data, resuming). Everything random is
drawn from generators seeded by ``(seed, epoch)``, so on a CPU a run is exactly
reproducible, and a run stopped and resumed ends with the same weights as one that was not.
"""

from __future__ import annotations

import copy
import csv
import json
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
from yolo_smol.detection.scales import anchors_at, input_sizes
from yolo_smol.model.checkpoint import checkpoint_payload, read_checkpoint, write_checkpoint
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.outputs import writable_folder
from yolo_smol.training.ema import ModelEMA
from yolo_smol.training.evaluate import evaluate
from yolo_smol.training.run_folder import check_new_run, holding_run_lock
from yolo_smol.training.schedule import learning_rate
from yolo_smol.training.settings import TrainConfig, TrainConfigError

__all__ = ["TrainConfig", "TrainConfigError", "TrainResult", "train", "run_training",
           "parameter_groups"]

LOSS_TERMS = ("box", "objectness", "class", "total")
CSV_COLUMNS = ("epoch", "lr", *LOSS_TERMS, "images_per_s", "seconds", "map50", "map",
               "whole_number_accuracy")


@dataclass(frozen=True)
class TrainResult:
    """What a run leaves: the model to use (EMA weights if enabled) and the per-epoch log."""

    model: YoloSmol
    history: list[dict]
    best_map: float
    save_dir: Path


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on conv weights only, none on BatchNorm and biases.

    Decaying a BatchNorm scale or a bias towards zero only fights the normalisation; the
    usual practice (and YOLOv5's) exempts them.
    """
    decayed, exempt = [], []
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            is_conv_weight = name == "weight" and isinstance(module, torch.nn.Conv2d)
            (decayed if is_conv_weight else exempt).append(parameter)
    return [{"params": decayed, "weight_decay": weight_decay},
            {"params": exempt, "weight_decay": 0.0}]


class _Run:
    """The mutable state of one training run, saved to and restored from checkpoints."""

    def __init__(self, model_config: ModelConfig, config: TrainConfig,
                 steps_per_epoch: int, device: torch.device,
                 initial_weights: dict[str, torch.Tensor] | None = None):
        # The initial weights come from the seed alone, drawn in a fork of the global
        # generator, so that training neither depends on nor changes the caller's state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = YoloSmol(model_config)
        if initial_weights is not None:
            model.load_state_dict(initial_weights)
        # channels_last (NHWC): oneDNN's and cuDNN's convolutions, forward and backward,
        # run faster on it; on this project's CPU the whole training step gains 20-35 %
        # (benchmarks/train.py prints both layouts).
        self.model = model.to(device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, config.weight_decay),
                                           lr=config.lr)
        self.ema = ModelEMA(self.model, config.ema_decay) if config.ema else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
        self.epoch = 0  # epochs completed
        self.saved_epoch = 0  # the epoch last.pt holds
        self.step = 0  # optimizer steps taken
        self.best_map = -1.0
        self.history: list[dict] = []
        self.steps_per_epoch = steps_per_epoch

    def inference_model(self) -> YoloSmol:
        return self.ema.model if self.ema is not None else self.model

    def state(self, model_config: ModelConfig, config: TrainConfig) -> dict:
        return checkpoint_payload(
            model_config, self.inference_model().state_dict(), train_config=asdict(config),
            training={"model": self.model.state_dict(),
                      "optimizer": self.optimizer.state_dict(),
                      "ema": self.ema.state_dict() if self.ema else None,
                      "scaler": self.scaler.state_dict(), "epoch": self.epoch,
                      "step": self.step, "best_map": self.best_map,
                      "history": self.history})

    def restore(self, payload: dict) -> None:
        training = payload["training"]
        self.model.load_state_dict(training["model"])
        self.optimizer.load_state_dict(training["optimizer"])
        if self.ema is not None and training["ema"] is not None:
            self.ema.load_state_dict(training["ema"])
        self.scaler.load_state_dict(training["scaler"])
        self.epoch, self.step = training["epoch"], training["step"]
        self.saved_epoch = self.epoch
        self.best_map, self.history = training["best_map"], list(training["history"])


def _train_epoch(run: _Run, data: PreparedData, config: TrainConfig, loss_config: LossConfig,
                 device: torch.device, total_steps: int) -> dict:
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


def _train_step(run: _Run, images: torch.Tensor, targets: torch.Tensor, rate: float,
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
        # their pixel size, as the Detector reads other sizes (yolo_smol.detection.scales).
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
          test_data: PreparedData | None = None, resume_from: dict | None = None,
          initial_weights: dict[str, torch.Tensor] | None = None) -> TrainResult:
    """Train a model and write everything a run leaves into ``config.save_dir``.

    Args:
        model_config: the model to build (``config.image_size`` must already be applied).
        config: validated training settings.
        train_data, test_data: prepared at the model's image size; ``test_data`` is scored
            every ``eval_every`` epochs and after the last.
        resume_from: a checkpoint dict to continue from (see :func:`run_training`).
        initial_weights: a state dict to start from instead of random weights (fine-tuning;
            see ``init`` in :class:`TrainConfig`).

    Raises:
        KeyboardInterrupt: after writing ``last.pt``, so that ``--resume`` can continue.
    """
    device = config.device_to_use()
    save_dir = Path(config.save_dir)
    run = _start_run(model_config, config, train_data, device, resume_from, initial_weights)
    total_steps = run.steps_per_epoch * config.num_epochs
    loss_config = _loss_config(config)
    try:
        while run.epoch < config.num_epochs:
            row = {"epoch": run.epoch + 1, **_train_epoch(run, train_data, config,
                                                          loss_config, device, total_steps)}
            run.epoch += 1
            if test_data is not None and (run.epoch % config.eval_every == 0
                                          or run.epoch == config.num_epochs):
                row |= _evaluate(run, test_data, config, device, save_dir)
            _finish_epoch(run, row, model_config, config, save_dir)
    except KeyboardInterrupt:
        _say_how_to_resume(run, save_dir, "interrupted", "")
        raise
    except Exception:
        _say_how_to_resume(run, save_dir, "stopped by an error", "after fixing it, ")
        raise
    # Handed back in the usual layout: the same numbers as the model load_model gives.
    model = run.inference_model().to(memory_format=torch.contiguous_format)
    return TrainResult(model, run.history, run.best_map, save_dir)


def _loss_config(config: TrainConfig) -> LossConfig:
    """The loss a run trains with: the paper's, with the choices its settings make."""
    return LossConfig(box_loss=config.box_loss,
                      anchor_iou_threshold=config.anchor_iou_threshold)


def _say_how_to_resume(run: _Run, save_dir: Path, what: str, first: str) -> None:
    # last.pt holds the last epoch saved; the one in progress is lost.
    tqdm.write(f"{what} in epoch {run.epoch + 1}: {save_dir / 'last.pt'} holds epoch "
               f"{run.saved_epoch}; {first}continue with --resume {save_dir}")


def _start_run(model_config: ModelConfig, config: TrainConfig, train_data: PreparedData,
               device: torch.device, resume_from: dict | None,
               initial_weights: dict[str, torch.Tensor] | None) -> _Run:
    """The run's state, restored when resuming, and its folder with config.json and a first
    last.pt (so that a stop in the first epoch can resume from the start)."""
    save_dir = Path(config.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    steps_per_epoch = len(train_data) // config.batch_size
    if steps_per_epoch == 0:
        raise TrainConfigError(f"--batch_size {config.batch_size} is larger than the "
                               f"{len(train_data)} training images; lower it")
    run = _Run(model_config, config, steps_per_epoch, device, initial_weights)
    if resume_from is not None:
        run.restore(resume_from)
    (save_dir / "config.json").write_text(json.dumps(
        {"model_config": model_config.to_dict(), "train_config": asdict(config)}, indent=2))
    if resume_from is None:
        write_checkpoint(run.state(model_config, config), save_dir / "last.pt")
    return run


def _finish_epoch(run: _Run, row: dict, model_config: ModelConfig, config: TrainConfig,
                  save_dir: Path) -> None:
    """Log the epoch, save last.pt (first, so that what the log says is saved), every
    ``checkpoint_epoch``-th epoch and the best one so far."""
    run.history.append(row)
    state = run.state(model_config, config)
    write_checkpoint(state, save_dir / "last.pt")
    run.saved_epoch = run.epoch
    _report(row, config)
    _write_log(run.history, save_dir)
    if run.epoch % config.checkpoint_epoch == 0:
        write_checkpoint(state, save_dir / f"epoch_{run.epoch:03d}.pt")
    if row.get("map", -1.0) > run.best_map:
        run.best_map = row["map"]
        write_checkpoint(run.state(model_config, config), save_dir / "best.pt")


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


def _one_file_for_both(train_source: str, test_source: str) -> bool:
    """Whether one annotation file (which has no splits) serves as train and test."""
    path = Path(test_source)
    return train_source == test_source and path.is_file() and path.suffix in (".jsonl",
                                                                               ".json",
                                                                               ".parquet")


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


def _evaluate(run: _Run, test_data: PreparedData, config: TrainConfig,
              device: torch.device, save_dir: Path) -> dict:
    from yolo_smol.visualize import save_detection_grid

    # A copy in the usual layout: scored exactly as the saved weights will be when loaded.
    model = copy.deepcopy(run.inference_model()).to(memory_format=torch.contiguous_format)
    result = evaluate(model, test_data, config.confidence_threshold, device=device)
    save_detection_grid(model, test_data, save_dir / f"detections_epoch_{run.epoch:03d}.png",
                        config.confidence_threshold, device)
    run.model.train()
    return {"map50": result.metrics.ap50, "map": result.metrics.map,
            "whole_number_accuracy": result.whole_number_accuracy}


def _report(row: dict, config: TrainConfig) -> None:
    text = (f"epoch {row['epoch']}/{config.num_epochs}  loss {row['total']:.3f} (box "
            f"{row['box']:.3f}, obj {row['objectness']:.3f}, cls {row['class']:.3f})  "
            f"lr {row['lr']:.2e}  {row['images_per_s']:.0f} img/s")
    if "map" in row:
        text += (f"  mAP@0.5 {row['map50']:.3f}  mAP@0.5:0.95 {row['map']:.3f}  "
                 f"whole-number {row['whole_number_accuracy']:.3f}")
    tqdm.write(text)


def _write_log(history: list[dict], save_dir: Path) -> None:
    with (save_dir / "metrics.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in history:
            writer.writerow({key: (f"{value:.6g}" if isinstance(value, float) else value)
                             for key, value in row.items()})
    from yolo_smol.visualize import save_training_curves

    save_training_curves(history, save_dir / "training_curves.png")


def run_training(model_config: ModelConfig | str | None,
                 config: TrainConfig | Mapping[str, Any],
                 resume: str | Path | None = None, exist_ok: bool = False) -> TrainResult:
    """Everything ``yolo-smol train`` does: check, load and prepare data, train.

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
        train_data, test_data = _training_data(config, model_config)
        return train(model_config, config, train_data, test_data, payload, initial_weights)


def _training_data(config: TrainConfig, model_config: ModelConfig,
                   ) -> tuple[PreparedData, PreparedData]:
    """The train and test splits the settings name, prepared at the model's input size."""
    from yolo_smol.data.prepare import prepare
    from yolo_smol.data.sources import load_dataset_source

    train_set = load_dataset_source(config.dataset, "train", config.num_train, config.seed)
    # (load_dataset_source refuses a source without boxes: there is something to learn.)
    test_source = config.test_dataset or config.dataset
    test_set = load_dataset_source(test_source, "test", config.num_test, config.seed)
    tqdm.write(f"training on {len(train_set):,} images of {config.dataset} (train split), "
               f"scoring on {len(test_set):,} images of {test_source} (test split)")
    if _one_file_for_both(config.dataset, test_source):
        tqdm.write(f"note: {test_source} is one file, so the scored images are the training "
                   "images; give --test_dataset, or a folder with train.jsonl and test.jsonl")
    train_data = prepare(train_set, model_config.image_size, config.workers)
    test_data = prepare(test_set, model_config.image_size, config.workers)
    for name, data in (("train", train_data), ("test", test_data)):
        if data.num_clipped or data.num_dropped:  # reported once per split, not per image
            tqdm.write(f"{name} split: {data.num_clipped} boxes clipped to their image, "
                       f"{data.num_dropped} smaller than a pixel dropped")
    return train_data, test_data
