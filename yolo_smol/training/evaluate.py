"""Running a model over a prepared dataset and scoring it: mAP, whole numbers, timings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from yolo_smol.boxes import cxcywh_to_xyxy
from yolo_smol.data.prepare import PreparedData, iterate_batches
from yolo_smol.detection.metrics import (
    DetectionMetrics,
    StackedTruths,
    confusion_matrix,
    mean_average_precision,
    whole_number_accuracy,
)
from yolo_smol.detection.postprocess import Detections, detect
from yolo_smol.device import evaluation_copy
from yolo_smol.errors import YoloSmolError
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.outputs import write_figure, write_json

__all__ = ["EvaluationResult", "EvaluationReport", "EVAL_FILES", "predict_dataset", "evaluate",
           "evaluate_to_dir", "model_to_score", "EvaluationError"]

# What yolo-smol eval writes into its --save_dir: an earlier run's are not replaced unasked.
EVAL_FILES = ("metrics.json", "pr_curves.png", "confusion_matrix.png")


class EvaluationError(YoloSmolError):
    """A model to score that does not fit the settings given beside it."""


@dataclass(frozen=True)
class EvaluationResult:
    """Scores of a model on a dataset, and where the time went.

    Attributes:
        metrics: COCO-style mAP (from detections above ``map_confidence_threshold``).
        whole_number_accuracy: share of images read exactly (detections above
            ``confidence_threshold``).
        confusion: ``(C + 1, C + 1)`` confusion matrix (see :func:`confusion_matrix`).
        seconds: time spent in ``forward``, ``postprocess`` (decode + NMS) and ``metrics``.
    """

    metrics: DetectionMetrics
    whole_number_accuracy: float
    confusion: np.ndarray
    num_images: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.num_images / max(sum(self.seconds.values()), 1e-9)

    def to_dict(self) -> dict:
        return {**self.metrics.to_dict(),
                "whole-number accuracy": round(self.whole_number_accuracy, 6),
                "images": self.num_images,
                "images/s": round(self.images_per_second, 1),
                "seconds": {name: round(value, 3) for name, value in self.seconds.items()},
                "confusion matrix (rows predicted, columns true; last: none)":
                    self.confusion.tolist()}

    def format_table(self) -> str:
        def show(value: float) -> str:
            return "  n/a" if np.isnan(value) else f"{value:.3f}"

        metrics = self.metrics
        lines = [f"images              {self.num_images:,}",
                 f"mAP@0.5             {show(metrics.ap50)}",
                 f"mAP@0.5:0.95        {show(metrics.map)}",
                 f"mAP@0.75            {show(metrics.ap75)}",
                 f"whole-number acc.   {show(self.whole_number_accuracy)}",
                 f"images/s            {self.images_per_second:,.0f}",
                 "AP@0.5:0.95 per digit:",
                 "  " + "  ".join(f"{digit}: {show(ap)}"
                                  for digit, ap in enumerate(metrics.per_class_ap))]
        return "\n".join(lines)


def _truths(data: PreparedData) -> StackedTruths:
    """The true boxes of ``data`` in input pixels, as they are stored: already stacked."""
    height, width = data.images.shape[-2:]
    counts = data.offsets[1:] - data.offsets[:-1]
    image = torch.repeat_interleave(torch.arange(len(counts)), counts)
    to_pixels = torch.tensor([width, height, width, height], dtype=torch.float32)
    return StackedTruths.from_rows(image, cxcywh_to_xyxy(data.boxes_cxcywh) * to_pixels,
                                   data.labels, len(counts))


def predict_dataset(model: YoloSmol, data: PreparedData, batch_size: int = 512,
                    confidence_threshold: float = 0.001, iou_threshold: float = 0.45,
                    device: torch.device | str = "cpu",
                    ) -> tuple[Detections, dict[str, float]]:
    """Detections for every image of ``data`` (input pixels), and the seconds spent."""
    model = evaluation_copy(model, device)  # the caller's model is left as it was
    height, width = data.images.shape[-2:]
    parts: list[Detections] = []
    seconds = {"forward": 0.0, "postprocess": 0.0}
    with torch.no_grad():
        for images, _ in iterate_batches(data, batch_size, shuffle=False):
            start = time.perf_counter()
            outputs = model(images.to(device).float() / 255)
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()  # GPU work is asynchronous: time it where it ends
            middle = time.perf_counter()
            outputs = [output.float() for output in outputs]  # AMP-safe decoding
            parts.append(detect(outputs, model.anchors.to(device), (width, height),
                                confidence_threshold, iou_threshold).cpu())
            seconds["forward"] += middle - start
            seconds["postprocess"] += time.perf_counter() - middle
    start = time.perf_counter()
    detections = Detections.cat(parts)
    seconds["postprocess"] += time.perf_counter() - start
    return detections, seconds


def evaluate(model: YoloSmol, data: PreparedData, confidence_threshold: float = 0.25,
             map_confidence_threshold: float = 0.001, iou_threshold: float = 0.45,
             batch_size: int = 512, device: torch.device | str = "cpu") -> EvaluationResult:
    """Score ``model`` on ``data``.

    mAP uses every detection above ``map_confidence_threshold`` (low, so that the whole
    precision-recall curve is seen); whole-number accuracy and the confusion matrix use
    only those above ``confidence_threshold``, as a user of the detector would.
    """
    detections, seconds = predict_dataset(model, data, batch_size, map_confidence_threshold,
                                          iou_threshold, device)
    start = time.perf_counter()
    truths = _truths(data)
    metrics = mean_average_precision(detections, truths, model.config.num_classes)
    accuracy = whole_number_accuracy(detections, truths, confidence_threshold)
    confusion = confusion_matrix(detections, truths, model.config.num_classes,
                                 confidence_threshold)
    seconds["metrics"] = time.perf_counter() - start
    return EvaluationResult(metrics, accuracy, confusion, len(data), seconds)


def score_as_detect(model: YoloSmol, dataset, device: torch.device | str = "cpu",
                    confidence_threshold: float = 0.25) -> dict[str, float]:
    """``model`` scored on the photos of ``dataset`` (SVHN ``full_numbers`` schema) as
    ``yolo-smol detect`` reads them, with every look of the default ``Detector``: mAP@0.5,
    mAP@0.5:0.95 and the share of photos read exactly, rounded to 6 places."""
    from yolo_smol.reading.detector import Detector
    from yolo_smol.reading.scoring import score_detector, true_digits

    photos = [row["image"].convert("RGB") for row in dataset]
    score = score_detector(Detector(model, device=device), photos, true_digits(dataset),
                           confidence_threshold)
    return {"mAP@0.5": round(score.metrics.ap50, 6), "mAP@0.5:0.95": round(score.metrics.map, 6),
            "read_exactly": round(score.read_exactly, 6)}


@dataclass(frozen=True)
class EvaluationReport:
    """What :func:`evaluate_to_dir` scored and wrote.

    Attributes:
        result: the scores and timings.
        prepare_seconds: time spent decoding and resizing the images.
        files: the files written (:data:`EVAL_FILES`).
        boxes_note: one line saying how many boxes preparing clipped and dropped (None when
            it changed none).
        as_detect: the photos scored as ``yolo-smol detect`` reads them (see
            :func:`score_as_detect`; None when not asked for).
    """

    result: EvaluationResult
    prepare_seconds: float
    files: list[Path]
    boxes_note: str | None = None
    as_detect: dict[str, float] | None = None

    def format(self) -> str:
        """What ``yolo-smol eval`` prints: the note on dropped boxes, the table, the time
        spent preparing, and the figures as ``detect`` reads (each when there is one)."""
        result = self.result
        all_seconds = self.prepare_seconds + sum(result.seconds.values())
        lines = [f"note: {self.boxes_note}"] if self.boxes_note else []
        lines += [result.format_table(),
                  f"(preparing the images took {self.prepare_seconds:.1f} s more; "
                  f"{result.num_images / max(all_seconds, 1e-9):,.0f} images/s in all)"]
        if self.as_detect:
            lines.append(f"as yolo-smol detect reads ({result.num_images} photos, every look): "
                         f"mAP@0.5 {self.as_detect['mAP@0.5']:.3f}  mAP@0.5:0.95 "
                         f"{self.as_detect['mAP@0.5:0.95']:.3f}  read exactly "
                         f"{self.as_detect['read_exactly']:.3f}")
        return "\n".join(lines)


def evaluate_to_dir(model: YoloSmol, dataset, save_dir: str | Path, *,
                    confidence_threshold: float = 0.25,
                    map_confidence_threshold: float = 0.001, iou_threshold: float = 0.45,
                    batch_size: int = 512, device: torch.device | str = "cpu",
                    description: dict | None = None, name: str = "the dataset",
                    as_detect: bool = False) -> EvaluationReport:
    """Everything ``yolo-smol eval`` does after loading: prepare, score, write the report.

    Args:
        dataset: a ``datasets.Dataset`` in SVHN ``full_numbers`` schema.
        save_dir: an existing folder; the :data:`EVAL_FILES` are written into it.
        description: what was scored (weights, dataset, split), stored in metrics.json.
        name: what ``dataset`` is, for the messages (e.g. ``synthetic (test split)``).
        as_detect: also score the photos as ``yolo-smol detect`` reads them (slower); the
            figures go into metrics.json under ``as_detect``.

    Raises:
        DataError: no box of ``dataset`` is left once prepared (all outside their image):
            its scores would be undefined, so nothing is written.
        WriteError: a file could not be written (a full disk).
    """
    from yolo_smol.data.prepare import boxes_note, prepare, require_boxes

    save_dir = Path(save_dir)
    start = time.perf_counter()
    data = require_boxes(prepare(dataset, model.config.image_size), name)
    prepare_seconds = time.perf_counter() - start
    result = evaluate(model, data, confidence_threshold, map_confidence_threshold,
                      iou_threshold, batch_size, device)
    report = {**(description or {}), "model_config": model.config.to_dict(),
              "confidence_threshold": confidence_threshold,
              "map_confidence_threshold": map_confidence_threshold,
              "iou_threshold": iou_threshold, **result.to_dict()}
    if as_detect:
        report["as_detect"] = score_as_detect(model, dataset, device, confidence_threshold)
    files = [write_json(save_dir / "metrics.json", report), *_write_plots(result, save_dir)]
    return EvaluationReport(result, prepare_seconds, files, boxes_note(data, name),
                            report.get("as_detect"))


def _write_plots(result: EvaluationResult, save_dir: Path) -> list[Path]:
    """``pr_curves.png`` and ``confusion_matrix.png``, each written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from yolo_smol.visualize import plot_confusion_matrix, plot_precision_recall

    files = []
    for file_name, plot, values in (
            ("pr_curves.png", plot_precision_recall, result.metrics.precision),
            ("confusion_matrix.png", plot_confusion_matrix, result.confusion)):
        figure = plot(values)
        try:
            files.append(write_figure(save_dir / file_name, figure, dpi=120))
        finally:
            plt.close(figure)  # an open figure keeps its memory until the process ends
    return files


def model_to_score(weights: str | Path | None, model_config: str | None = None,
                   untrained: bool = False) -> tuple[YoloSmol, str]:
    """The model ``yolo-smol eval`` scores, and what it is (for messages and metrics.json).

    Args:
        weights: a checkpoint; None: the shipped detector
            (:func:`yolo_smol.reading.detector.shipped_weights`), as ``detect`` and ``export`` read.
        model_config: with ``untrained``, the config to build (None: ``smol``); with
            weights, if given, the config they must have been trained with.
        untrained: score a freshly initialised model instead (a baseline near zero).

    Raises:
        EvaluationError: ``untrained`` beside ``weights``, or weights whose config is not
            ``model_config``.
        CheckpointError: the weights cannot be read.
    """
    from yolo_smol.config import load_config
    from yolo_smol.model.checkpoint import load_model
    from yolo_smol.reading.detector import shipped_weights

    if untrained:
        if weights is not None:
            raise EvaluationError(f"--untrained scores a fresh model, not --weights {weights}; "
                                  "give one of the two")
        return YoloSmol(load_config(model_config or "smol")), f"untrained {model_config or 'smol'}"
    weights = Path(weights) if weights is not None else shipped_weights()
    model = load_model(weights)
    if model_config is not None and load_config(model_config) != model.config:
        raise EvaluationError(f"--model_config {model_config} is not the config {weights} was "
                              "trained with; leave --model_config out (the checkpoint carries "
                              "its config)")
    return model, str(weights)
