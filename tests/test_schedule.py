import math

import pytest

from yolo_smol.training.schedule import learning_rate


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


@pytest.mark.parametrize("total, warmup", [(100, 10), (37, 5), (20, 1)])
def test_equals_torchs_warmup_then_cosine_schedulers(total, warmup):
    """The oracle: torch's LinearLR for the warm-up, then CosineAnnealingLR to the floor."""
    import torch

    base, final = 0.3, 0.05
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=base)
    schedulers = torch.optim.lr_scheduler
    warm = schedulers.LinearLR(optimizer, start_factor=1 / warmup, end_factor=1.0,
                               total_iters=max(warmup - 1, 1))
    cosine = schedulers.CosineAnnealingLR(optimizer, T_max=total - warmup - 1,
                                          eta_min=final * base)
    schedule = schedulers.SequentialLR(optimizer, [warm, cosine], milestones=[warmup])
    for step in range(total):
        assert learning_rate(step, total, warmup, base, final) == pytest.approx(
            optimizer.param_groups[0]["lr"], rel=1e-6), step
        optimizer.step()
        schedule.step()
