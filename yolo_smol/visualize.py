"""Pictures of images with their boxes: the grids the book and the CLI show."""

from __future__ import annotations

from pathlib import Path

import datasets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = ["plot_dataset_grid"]


def plot_dataset_grid(dataset: datasets.Dataset, num_images: int = 24, columns: int = 6,
                      path: str | Path | None = None) -> Figure:
    """The first ``num_images`` rows with their boxes (xywh pixels) and labels.

    Saved to ``path`` when given (format from the suffix).
    """
    count = min(num_images, len(dataset))
    rows = max(1, -(-count // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 1.3 * rows),
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
            zip(row["digits"]["bbox"], row["digits"]["label"], strict=True))), fontsize=8)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def plot_precision_recall(precision, title: str = "precision-recall at IoU 0.5") -> Figure:
    """One curve per class: the interpolated precision at the 101 recall points (IoU 0.5).

    Args:
        precision: ``(T, R, C)`` from :class:`yolo_smol.metrics.DetectionMetrics`.
    """
    from yolo_smol.metrics import RECALL_THRESHOLDS

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
