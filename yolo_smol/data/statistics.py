"""Box and image statistics of a dataset, side by side with the published SVHN figures
(:mod:`yolo_smol.data.svhn`)."""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np

from yolo_smol.data import svhn
from yolo_smol.data.schema import read_image_size

__all__ = ["SVHN_FIGURES", "SVHN_DIGIT_COUNTS", "SVHN_DIGITS_PER_IMAGE", "DatasetStatistics",
           "dataset_statistics", "format_statistics_table"]

# The published figures, under the names this module has always given them.
SVHN_FIGURES = svhn.FIGURES
SVHN_DIGIT_COUNTS = svhn.DIGIT_COUNTS
SVHN_DIGITS_PER_IMAGE = svhn.DIGITS_PER_IMAGE
SVHN_OVERLAP_SHARE = svhn.OVERLAP_SHARE
PERCENTILES = svhn.PERCENTILES


@dataclass(frozen=True)
class DatasetStatistics:
    """Percentiles (5, 25, 50, 75, 95) of each figure, and the discrete distributions."""

    num_images: int
    percentiles: dict[str, tuple[float, ...]]
    digits_per_image: dict[int, float]
    digit_share: tuple[float, ...]
    overlap_share: float


def dataset_statistics(dataset: datasets.Dataset, max_images: int | None = 5000,
                       ) -> DatasetStatistics:
    """Measure the figures of :data:`SVHN_FIGURES` on (the first ``max_images`` of) a dataset."""
    if max_images is not None and len(dataset) > max_images:
        dataset = dataset.select(range(max_images))
    raw = dataset.cast_column("image", datasets.Image(decode=False))  # sizes from headers
    measured = _measure(raw)
    widths, heights = np.array(measured["width"], float), np.array(measured["height"], float)
    figures = {
        "image width px": widths,
        "image height px": heights,
        "image width / height": widths / np.maximum(heights, 1),
        "box width / image width": np.array(measured["box width"]),
        "box height / image height": np.array(measured["box height"]),
        "box width / height": np.array(measured["box aspect"]),
        "gap / digit height": np.array(measured["gap"]),
    }
    percentiles = {name: tuple(float(v) for v in np.percentile(values, PERCENTILES))
                   if values.size else (float("nan"),) * 5 for name, values in figures.items()}
    counts = np.bincount(np.array(measured["digits"], int), minlength=6)
    share = counts / max(1, len(measured["digits"]))
    per_image = {k: float(share[k]) for k in range(1, 5)} | {5: float(share[5:].sum())}
    digit_counts = np.bincount(np.array(measured["label"], int), minlength=10)
    overlaps = measured["overlap"]
    return DatasetStatistics(
        num_images=len(raw), percentiles=percentiles, digits_per_image=per_image,
        digit_share=tuple(float(c) for c in digit_counts / max(1, digit_counts.sum())),
        overlap_share=float(np.mean(overlaps)) if overlaps else float("nan"))


def _measure(raw: datasets.Dataset) -> dict[str, list[float]]:
    """Every image's size and digit count, and every box's and neighbour pair's figures
    (sizes as fractions of the image, gaps as fractions of the pair's mean height)."""
    measured: dict[str, list[float]] = {key: [] for key in (
        "width", "height", "digits", "label", "box width", "box height", "box aspect", "gap",
        "overlap")}
    for row in raw:
        width, height = read_image_size(row["image"])
        bboxes = sorted(row["digits"]["bbox"], key=lambda box: box[0])  # left to right
        measured["width"].append(width)
        measured["height"].append(height)
        measured["digits"].append(len(bboxes))
        measured["label"].extend(row["digits"]["label"])
        for _left, _top, w, h in bboxes:
            measured["box width"].append(w / width)
            measured["box height"].append(h / height)
            if h > 0:
                measured["box aspect"].append(w / h)
        for first, second in zip(bboxes, bboxes[1:], strict=False):
            gap = second[0] - (first[0] + first[2])
            measured["gap"].append(gap / max(1, (first[3] + second[3]) / 2))
            measured["overlap"].append(gap < 0)
    return measured


def format_statistics_table(stats: DatasetStatistics, name: str = "synthetic") -> str:
    """A plain-text table: each figure's percentiles for ``stats`` and for real SVHN."""
    lines = [f"{'figure (percentiles 5/25/50/75/95)':<36} {name:<34} real SVHN (train)",
             "-" * 106]
    for figure, reference in SVHN_FIGURES.items():
        ours = "/".join(_short(v) for v in stats.percentiles[figure])
        lines.append(f"{figure:<36} {ours:<34} {'/'.join(_short(v) for v in reference)}")
    ours = " ".join(f"{k}:{100 * v:.0f}%" for k, v in stats.digits_per_image.items())
    real = " ".join(f"{k}:{100 * v:.0f}%" for k, v in SVHN_DIGITS_PER_IMAGE.items())
    lines.append(f"{'digits per image (5 = 5 or more)':<36} {ours:<34} {real}")
    svhn_share = np.array(SVHN_DIGIT_COUNTS) / sum(SVHN_DIGIT_COUNTS)
    lines.append(f"{'digit share % (0..9)':<36} "
                 f"{' '.join(f'{100 * v:.0f}' for v in stats.digit_share):<34} "
                 f"{' '.join(f'{100 * v:.0f}' for v in svhn_share)}")
    lines.append(f"{'neighbours overlapping':<36} {100 * stats.overlap_share:.0f}%"
                 f"{'':<31} {100 * SVHN_OVERLAP_SHARE:.0f}%")
    lines.append(f"(measured on {stats.num_images:,} images)")
    return "\n".join(lines)


def _short(value: float) -> str:
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.2f}"
