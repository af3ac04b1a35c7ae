import pytest

from tests.fixtures_data import make_dataset, png_bytes
from yolo_smol.data.statistics import dataset_statistics, format_statistics_table


def test_figures_of_a_hand_made_dataset():
    # One 100x50 image with two 10x40 digits 4 px apart, one 60x30 image with one digit.
    dataset = make_dataset([(png_bytes(100, 50), [[10, 5, 10, 40], [24, 5, 10, 40]], [1, 2]),
                            (png_bytes(60, 30), [[20, 3, 12, 24]], [2])])
    stats = dataset_statistics(dataset)
    assert stats.num_images == 2
    assert stats.percentiles["image width px"][2] == pytest.approx(80)
    assert stats.percentiles["gap / digit height"] == pytest.approx((0.1,) * 5)
    assert stats.percentiles["box height / image height"][2] == pytest.approx(0.8)
    assert stats.percentiles["box width / height"][0] == pytest.approx(0.25)
    assert stats.digits_per_image[1] == 0.5 and stats.digits_per_image[2] == 0.5
    assert stats.digit_share[2] == pytest.approx(2 / 3) and stats.overlap_share == 0.0
    table = format_statistics_table(stats, name="mine")
    assert "mine" in table and "real SVHN" in table and "(measured on 2 images)" in table
