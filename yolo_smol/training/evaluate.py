"""Running a model over a prepared dataset and scoring it: mAP, whole numbers, timings."""

from __future__ import annotations

import json
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
from yolo_smol.model.yolo import YoloSmol

__all__ = ["EvaluationResult", "EvaluationReport", "predict_dataset", "evaluate",
           "evaluate_to_dir"]


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
    from yolo_smol.predict import Detector
    from yolo_smol.scoring import score_detector, true_digits

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
        files: the files written (``metrics.json``, ``pr_curves.png``,
            ``confusion_matrix.png``).
    """

    result: EvaluationResult
    prepare_seconds: float
    files: list[Path]


def evaluate_to_dir(model: YoloSmol, dataset, save_dir: str | Path, *,
                    confidence_threshold: float = 0.25,
                    map_confidence_threshold: float = 0.001, iou_threshold: float = 0.45,
                    batch_size: int = 512, device: torch.device | str = "cpu",
                    description: dict | None = None) -> EvaluationReport:
    """Everything ``yolo-smol eval`` does after loading: prepare, score, write the report.

    Args:
        dataset: a ``datasets.Dataset`` in SVHN ``full_numbers`` schema.
        save_dir: an existing folder; ``metrics.json``, ``pr_curves.png`` and
            ``confusion_matrix.png`` are written into it.
        description: what was scored (weights, dataset, split), stored in metrics.json.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from yolo_smol.data.prepare import prepare
    from yolo_smol.visualize import plot_confusion_matrix, plot_precision_recall

    save_dir = Path(save_dir)
    start = time.perf_counter()
    data = prepare(dataset, model.config.image_size)
    prepare_seconds = time.perf_counter() - start
    result = evaluate(model, data, confidence_threshold, map_confidence_threshold,
                      iou_threshold, batch_size, device)
    report = {**(description or {}), "model_config": model.config.to_dict(),
              "confidence_threshold": confidence_threshold,
              "map_confidence_threshold": map_confidence_threshold,
              "iou_threshold": iou_threshold, **result.to_dict()}
    files = [save_dir / "metrics.json"]
    files[0].write_text(json.dumps(report, indent=2) + "\n")
    for name, figure in (("pr_curves.png", plot_precision_recall(result.metrics.precision)),
                         ("confusion_matrix.png", plot_confusion_matrix(result.confusion))):
        figure.savefig(save_dir / name, dpi=120)
        plt.close(figure)
        files.append(save_dir / name)
    return EvaluationReport(result, prepare_seconds, files)
