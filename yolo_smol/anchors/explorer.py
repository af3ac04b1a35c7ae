"""An ipywidgets explorer for anchors: pick k, the sample and the restarts, see the clusters.

Runs in Jupyter and Colab. :func:`plot_anchor_summary` draws the same panels as a
plain figure, which is what the static HTML book shows for the default setting.
"""

from __future__ import annotations

import io
import json

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from yolo_smol.anchors.kmeans import AnchorResult, kmeans_anchors

__all__ = ["plot_anchor_summary", "config_snippet", "mean_iou_curve", "explore_anchors"]


def mean_iou_curve(boxes_wh: torch.Tensor, max_k: int = 9, restarts: int = 3,
                   seed: int = 0) -> dict[int, float]:
    """Mean best IoU of the k-means anchors for k = 1 .. ``max_k`` on ``boxes_wh (N, 2)``."""
    distinct = torch.unique(boxes_wh, dim=0).shape[0]
    return {k: kmeans_anchors(boxes_wh, k, restarts=restarts, seed=seed).mean_iou
            for k in range(1, min(max_k, distinct) + 1)}


def config_snippet(anchors_wh: torch.Tensor) -> str:
    """The ``"anchors"`` entry of a model config, largest first, rounded to 3 decimals."""
    rounded = [[round(float(w), 3), round(float(h), 3)] for w, h in anchors_wh]
    return f'"anchors": {json.dumps(rounded)}'


def plot_anchor_summary(boxes_wh: torch.Tensor, result: AnchorResult,
                        curve: dict[int, float] | None = None) -> Figure:
    """Three panels (the shapes coloured by anchor, the anchors on a unit image, mean IoU
    against k) and the config snippet beneath.

    Args:
        boxes_wh: ``(N, 2)`` box shapes as fractions of the image.
        result: the clustering of ``boxes_wh`` to show.
        curve: mean IoU per k, as from :func:`mean_iou_curve` (the third panel).
    """
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    colours = plt.get_cmap("tab10")
    scatter, unit, trend = axes
    for cluster, (width, height) in enumerate(result.anchors.tolist()):
        members = boxes_wh[result.assignment == cluster]
        scatter.scatter(members[:, 0], members[:, 1], s=3, alpha=0.3, color=colours(cluster))
        scatter.scatter([width], [height], marker="X", s=120, color=colours(cluster),
                        edgecolor="black", zorder=3)
        unit.add_patch(Rectangle((0.5 - width / 2, 0.5 - height / 2), width, height,
                                 fill=False, lw=2, color=colours(cluster)))
    scatter.set(xlabel="box width / image width", ylabel="box height / image height",
                title=f"{len(boxes_wh):,} box shapes and k={len(result.anchors)} anchors (X)")
    unit.set(xlim=(0, 1), ylim=(1, 0), aspect="equal",
             title=f"anchors on a unit image\nmean IoU {result.mean_iou:.3f}, "
                   f"recall@{result.recall_threshold} {result.recall:.3f}")
    if curve:
        trend.plot(list(curve), list(curve.values()), marker="o")
        trend.axvline(len(result.anchors), color="grey", ls="--")
    trend.set(xlabel="k (number of anchors)", ylabel="mean best IoU", title="mean IoU against k")
    figure.text(0.01, -0.02, config_snippet(result.anchors), family="monospace", fontsize=9)
    figure.tight_layout()
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def explore_anchors(boxes_wh: torch.Tensor, k: int = 2, sample_size: int = 2000,
                    restarts: int = 3, seed: int = 0):
    """An interactive explorer: sliders for k (1 to 9), the sample size and the restarts.

    Returns an ``ipywidgets`` box to display; moving a slider re-runs k-means on the
    first ``sample_size`` boxes of a fixed shuffle and redraws. The picture is an image
    widget holding a PNG, so it shows the same in Jupyter, Colab, and saved widget state.
    """
    import ipywidgets as widgets

    order = torch.randperm(len(boxes_wh), generator=torch.Generator().manual_seed(seed))
    shuffled = boxes_wh[order]
    k_slider = widgets.IntSlider(value=k, min=1, max=9, description="k")
    sample_slider = widgets.IntSlider(value=min(sample_size, len(boxes_wh)), min=min(
        100, len(boxes_wh)), max=len(boxes_wh), step=100, description="boxes")
    restarts_slider = widgets.IntSlider(value=restarts, min=1, max=20, description="restarts")
    picture = widgets.Image(format="png")
    snippet = widgets.Label()
    curves: dict[tuple[int, int], dict[int, float]] = {}

    def update(_change=None) -> None:
        sample = shuffled[:sample_slider.value]
        key = (sample_slider.value, restarts_slider.value)
        if key not in curves:  # the curve is the slow part; k alone does not change it
            curves[key] = mean_iou_curve(sample, restarts=restarts_slider.value, seed=seed)
        result = kmeans_anchors(sample, k_slider.value, restarts=restarts_slider.value,
                                seed=seed)
        picture.value = _png(plot_anchor_summary(sample, result, curves[key]))
        snippet.value = config_snippet(result.anchors)

    for slider in (k_slider, sample_slider, restarts_slider):
        slider.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([k_slider, sample_slider, restarts_slider]), picture,
                         snippet])
