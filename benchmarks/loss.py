"""Loss speed: target building + loss against the model's forward + backward, and the
vectorised assignment against a loop over boxes as the seed's build_targets did.

Prints, all measured in one run on one batch of 256 synthetic images at 32 px:
1. the model's forward + backward time, and target building + loss (forward and its share
   of the backward) as a fraction of it (target: at most 10 %);
2. assignment time, vectorised and looping over boxes, their ratio (target: >= 50x), after
   asserting that both give the same targets.

Run: .venv/bin/python benchmarks/loss.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import time

import datasets
import torch

from yolo_smol import YoloSmol, load_config
from yolo_smol.data.prepare import prepare
from yolo_smol.data.synthetic import make_synthetic
from yolo_smol.detection.assign import assign_targets, assign_targets_reference
from yolo_smol.detection.loss import yolo_loss


def timed(function, repeats: int) -> float:
    function()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=256)
    args = parser.parse_args()
    datasets.disable_progress_bars()

    data = prepare(make_synthetic(args.batch_size, seed=11), image_size=32)
    images, targets = data.batch(torch.arange(args.batch_size))
    images = images.float() / 255
    torch.manual_seed(0)
    model = YoloSmol(load_config("smol")).train()
    grids = [(size, size) for size in model.config.grid_sizes]

    def bare_step():  # forward + backward with a loss that costs nothing
        model.zero_grad(set_to_none=True)
        sum(output.sum() for output in model(images)).backward()

    def yolo_step():  # the same with target building and the YOLO loss
        model.zero_grad(set_to_none=True)
        yolo_loss(model(images), targets, model.anchors)["total"].backward()

    outputs = [output.detach().requires_grad_(True) for output in model(images)]

    def loss_alone():  # target building + loss + the loss's own backward, on fixed outputs
        for output in outputs:
            output.grad = None
        yolo_loss(outputs, targets, model.anchors)["total"].backward()

    bare, with_loss = timed(bare_step, args.repeats), timed(yolo_step, args.repeats)
    alone = timed(loss_alone, args.repeats)
    print(f"batch {args.batch_size} at 32 px, {len(targets)} boxes, "
          f"{torch.get_num_threads()} threads")
    print(f"model forward + backward: {1000 * bare:.1f} ms")
    print(f"target building + loss (forward and backward) alone: {1000 * alone:.1f} ms = "
          f"{100 * alone / bare:.1f} % of the model's forward + backward (target <= 10 %)")
    print(f"  (whole step with the YOLO loss: {1000 * with_loss:.1f} ms, "
          f"{100 * (with_loss - bare) / bare:+.1f} % over the bare step)")

    fast = assign_targets(targets, model.anchors, grids)
    slow = assign_targets_reference(targets, model.anchors, grids)
    for field in ("head", "image", "anchor", "row", "col", "labels", "target_index"):
        assert torch.equal(getattr(fast, field), getattr(slow, field)), field
    torch.testing.assert_close(fast.offsets, slow.offsets)
    torch.testing.assert_close(fast.log_scales, slow.log_scales)
    vectorised = timed(lambda: assign_targets(targets, model.anchors, grids), args.repeats)
    looped = timed(lambda: assign_targets_reference(targets, model.anchors, grids), 3)
    print(f"assignment, vectorised: {1000 * vectorised:.2f} ms; looping over boxes: "
          f"{1000 * looped:.1f} ms; same targets; {looped / vectorised:.0f}x faster "
          "(target >= 50x)")


if __name__ == "__main__":
    main()
