import math

import pytest

from yolo_smol.schedule import learning_rate


def test_warmup_rises_linearly_to_the_peak():
    rates = [learning_rate(step, 100, 10, 1.0) for step in range(10)]
    assert rates == pytest.approx([(step + 1) / 10 for step in range(10)])


def test_cosine_falls_from_the_peak_to_the_floor():
    assert learning_rate(10, 100, 10, 2.0, final_fraction=0.05) == pytest.approx(2.0)
    assert learning_rate(99, 100, 10, 2.0, final_fraction=0.05) == pytest.approx(0.1)
    middle = learning_rate(10 + 89 // 2, 100, 10, 2.0, final_fraction=0.05)
    assert middle == pytest.approx(0.1 + 1.9 * 0.5 * (1 + math.cos(math.pi * (44 / 89))))
    rates = [learning_rate(step, 100, 10, 2.0) for step in range(10, 100)]
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:], strict=False))


def test_no_warmup():
    assert learning_rate(0, 10, 0, 1.0) == pytest.approx(1.0)
