import ipywidgets
import matplotlib
import torch

from yolo_smol.anchors.explorer import (
    config_snippet,
    explore_anchors,
    mean_iou_curve,
    plot_anchor_summary,
)
from yolo_smol.anchors.kmeans import kmeans_anchors

matplotlib.use("Agg")


def _boxes():
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(500, 2, generator=generator) * torch.tensor([0.2, 0.8])).clamp(min=0.02)


def test_curve_rises_with_k():
    curve = mean_iou_curve(_boxes(), max_k=5, restarts=2)
    assert list(curve) == [1, 2, 3, 4, 5]
    values = list(curve.values())
    assert all(later >= earlier - 1e-6 for earlier, later in zip(values, values[1:], strict=False))


def test_snippet_is_the_config_entry():
    assert config_snippet(torch.tensor([[0.1512, 0.7333], [0.1, 0.46]])) == (
        '"anchors": [[0.151, 0.733], [0.1, 0.46]]')


def test_summary_figure_has_the_panels():
    boxes = _boxes()
    result = kmeans_anchors(boxes, 3, restarts=2)
    figure = plot_anchor_summary(boxes, result, mean_iou_curve(boxes, max_k=4, restarts=1))
    assert len(figure.axes) == 3
    assert len(figure.axes[1].patches) == 3  # one rectangle per anchor


def test_explorer_builds_and_reacts_to_the_sliders():
    explorer = explore_anchors(_boxes(), k=2, sample_size=300, restarts=1)
    assert isinstance(explorer, ipywidgets.VBox)
    k_slider, sample_slider, restarts_slider = explorer.children[0].children
    assert (k_slider.min, k_slider.max, k_slider.value) == (1, 9, 2)
    picture, snippet = explorer.children[1:]
    before = picture.value
    assert before[:4] == b"\x89PNG" and snippet.value.count("[") == 3  # 2 anchors
    k_slider.value = 4  # re-runs k-means and redraws
    assert picture.value[:4] == b"\x89PNG" and picture.value != before
    assert snippet.value.count("[") == 5
