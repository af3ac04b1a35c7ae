"""What a training run is at any moment, and what ``last.pt`` keeps of it to resume from.

The model and its moving average, the optimizer and the gradient scaler, the epochs and
steps done, the best epoch so far (by mAP@0.5:0.95 on the validation split) and the log.
Everything else a run needs is drawn from its settings, so a resumed run goes on exactly
as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import asdict

import torch

from yolo_smol.config import ModelConfig
from yolo_smol.model.checkpoint import checkpoint_payload
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.training.ema import ModelEMA
from yolo_smol.training.settings import TrainConfig

__all__ = ["RunState", "parameter_groups"]


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


class RunState:
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
        self.best_map = -1.0  # on the validation split; -1: no epoch scored yet
        self.best_epoch: int | None = None  # the epoch best.pt holds
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
                      "best_epoch": self.best_epoch, "history": self.history})

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
        # Runs saved before best_epoch was kept: the best scored epoch of their log.
        self.best_epoch = training.get("best_epoch", max(
            (row for row in self.history if "map" in row), key=lambda row: row["map"],
            default={}).get("epoch"))
