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
