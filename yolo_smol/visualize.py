"""Pictures of images with their boxes: the grids the book and the CLI show."""

from __future__ import annotations

from pathlib import Path

import datasets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from yolo_smol.outputs import write_figure

__all__ = ["plot_dataset_grid"]


def plot_dataset_grid(dataset: datasets.Dataset, num_images: int = 24, columns: int = 6,
                      path: str | Path | None = None) -> Figure:
    """The first ``num_images`` rows with their boxes (xywh pixels) and labels.

    Saved to ``path`` when given (format from the suffix), atomically: a full disk leaves
    no half-written image (:func:`yolo_smol.outputs.write_figure`).
    """
    count = min(num_images, len(dataset))
    rows = max(1, -(-count // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 1.5 * rows),
                                squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, dataset.select(range(count)), strict=False):
        ax.imshow(row["image"])
        for left, top, width, height in row["digits"]["bbox"]:
            # Pixel (0, 0) covers [-0.5, 0.5] in imshow's coordinates.
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False,
                                   edgecolor="lime", linewidth=1))
        ax.set_title("".join(str(label) for _, label in sorted(
            zip(row["digits"]["bbox"], row["digits"]["label"], strict=True))), fontsize=12)
    figure.tight_layout()
    if path is not None:
        write_figure(path, figure, dpi=100)
    return figure


def plot_precision_recall(precision, title: str = "precision-recall at IoU 0.5") -> Figure:
    """One curve per class: the interpolated precision at the 101 recall points (IoU 0.5).

    Args:
        precision: ``(I, R, C)`` from :class:`yolo_smol.detection.metrics.DetectionMetrics`.
    """
    from yolo_smol.detection.metrics import RECALL_THRESHOLDS

    figure, ax = plt.subplots(figsize=(6, 4.5))
    for label in range(precision.shape[2]):
        curve = precision[0, :, label]
        if (curve > -1).all():
            ax.plot(RECALL_THRESHOLDS, curve, label=f"{label}: AP50 {curve.mean():.2f}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    figure.tight_layout()
    return figure


def plot_confusion_matrix(matrix, title: str = "confusion matrix") -> Figure:
    """The ``(C + 1, C + 1)`` counts, normalised per true class (column)."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=0, keepdims=True), 1)
    size = counts.shape[0]
    names = [str(label) for label in range(size - 1)] + ["none"]
    figure, ax = plt.subplots(figsize=(6, 5.2))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(size), names)
    ax.set_yticks(range(size), names)
    ax.set(xlabel="true digit (none: a false detection)",
           ylabel="detected digit (none: missed)", title=title)
    for row in range(size):
        for col in range(size):
            if counts[row, col]:
                ax.text(col, row, f"{int(counts[row, col])}", ha="center", va="center",
                        fontsize=6, color="white" if shares[row, col] > 0.5 else "black")
    figure.colorbar(image, ax=ax, fraction=0.046)
    figure.tight_layout()
    return figure


def save_training_curves(history: list[dict], path: str | Path,
                         scored: str = "validation split") -> None:
    """Loss terms, learning rate, and mAP / whole-number accuracy (on the split ``scored``
    names) against epochs."""
    figure, (losses, rate, scores) = plt.subplots(1, 3, figsize=(14, 3.6))
    epochs = [row["epoch"] for row in history]
    for name in ("box", "objectness", "class", "total"):
        losses.plot(epochs, [row[name] for row in history], label=name)
    losses.set(xlabel="epoch", ylabel="loss per image", yscale="log", title="training loss")
    losses.legend(fontsize=8)
    rate.plot(epochs, [row["lr"] for row in history])
    rate.set(xlabel="epoch", ylabel="learning rate (end of epoch)", title="learning rate")
    evaluated = [row for row in history if "map" in row]
    for key, label in (("map50", "mAP@0.5"), ("map", "mAP@0.5:0.95"),
                       ("whole_number_accuracy", "whole-number accuracy")):
        scores.plot([row["epoch"] for row in evaluated], [row[key] for row in evaluated],
                    marker="o", label=label)
    scores.set(xlabel="epoch", ylim=(0, 1), title=scored)
    scores.legend(fontsize=8)
    figure.tight_layout()
    _save_and_close(figure, path)


def plot_detections(images, detections, truths=None, columns: int = 6) -> Figure:
    """Images ``(B, 3, H, W)`` uint8 with their detections (red) and true boxes (green).

    Each title is the number read from the detections, and the true number after a slash
    when ``truths`` are given.
    """
    from yolo_smol.detection.metrics import read_number

    count = len(images)
    rows = max(1, -(-count // columns))
    # Six columns and 12 pt titles: legible at the width of a book page.
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 1.6 * rows),
                                squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for index, ax in enumerate(axes.flat[:count]):
        ax.imshow(images[index].permute(1, 2, 0).numpy())
        found = detections[index]
        title = read_number(found.boxes_xyxy, found.labels) or "-"
        if truths is not None:
            truth = truths[index]
            true_number = read_number(truth.boxes_xyxy, truth.labels)
            for x0, y0, x1, y1 in truth.boxes_xyxy.tolist():
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                       edgecolor="lime", linewidth=0.8))
            title += f" / {true_number}"
            ax.set_title(title, fontsize=12, color="black" if title.split(" / ")[0]
                         == true_number else "red")
        else:
            ax.set_title(title, fontsize=12)
        for x0, y0, x1, y1 in found.boxes_xyxy.tolist():
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                   edgecolor="red", linewidth=0.8, linestyle="--"))
    figure.tight_layout()
    return figure


def save_detection_grid(model, data, path: str | Path, confidence_threshold: float = 0.25,
                        device="cpu", count: int = 24) -> None:
    """Detections of ``model`` on the first ``count`` images of prepared ``data``, as read
    (above the threshold, one digit per place)."""
    import torch

    from yolo_smol.boxes import cxcywh_to_xyxy
    from yolo_smol.detection.metrics import GroundTruth
    from yolo_smol.detection.postprocess import detect, one_digit_per_place

    count = min(count, len(data))
    images, _ = data.batch(torch.arange(count))
    height, width = images.shape[-2:]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        outputs = model(images.to(device).float() / 255)
    model.train(was_training)
    found = one_digit_per_place(detect([output.float().cpu() for output in outputs],
                                       model.anchors.cpu(), (width, height),
                                       confidence_threshold),
                                confidence_threshold)
    truths = []
    for index in range(count):
        _, boxes, labels = data[index]
        to_pixels = torch.tensor([width, height, width, height], dtype=torch.float32)
        truths.append(GroundTruth(cxcywh_to_xyxy(boxes) * to_pixels, labels))
    _save_and_close(plot_detections(images, found, truths), path)


def _save_and_close(figure: Figure, path: str | Path) -> None:
    """Save ``figure`` atomically, and close it even when the disk is full (an open figure
    holds its memory until the process ends)."""
    try:
        write_figure(path, figure, dpi=100)
    finally:
        plt.close(figure)
