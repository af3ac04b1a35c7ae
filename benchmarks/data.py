"""Data speed: synthetic generation, and the loader against the model's training step.

Prints:
1. synthetic generation in images/s on one core (target: at least 1,000);
2. batches/s served by the loader (index, colour jitter, scale and shift, to float) and
   batches/s of the smol model's bare training step (forward + backward + AdamW on ready
   tensors), both at batch 256 and 32 px in the same run, and their ratio (target: >= 3).

Run: .venv/bin/python benchmarks/data.py [--images 3000] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from yolo_smol import YoloSmol, load_config
from yolo_smol.data.augment import AugmentConfig, augment_batch
from yolo_smol.data.backgrounds import texture_bank
from yolo_smol.data.glyphs import glyph_bank
from yolo_smol.data.prepare import iterate_batches, prepare
from yolo_smol.data.synthetic import make_synthetic


def generation_rate(num_images: int) -> float:
    glyph_bank(), texture_bank()  # one-time set-up, not per image
    start = time.perf_counter()
    make_synthetic(num_images, seed=123)
    return num_images / (time.perf_counter() - start)


def loader_rate(data, batch_size: int, num_batches: int) -> float:
    config = AugmentConfig(prob=0.5)
    generator = torch.Generator().manual_seed(0)
    served = 0
    start = time.perf_counter()
    while served < num_batches:
        for images, targets in iterate_batches(data, batch_size, generator=generator,
                                               drop_last=True):
            images, targets = augment_batch(images, targets, config, generator)
            images = images.float().div_(255)
            served += 1
            if served == num_batches:
                break
    return served / (time.perf_counter() - start)


def model_step_rate(batch_size: int, num_steps: int) -> float:
    torch.manual_seed(0)
    model = YoloSmol(load_config("smol")).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = torch.rand(batch_size, 3, 32, 32)

    def step():
        outputs = model(images)
        # A stand-in for the YOLO loss: touches every output, costs about as little.
        loss = sum(output.square().mean() for output in outputs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up
        step()
    start = time.perf_counter()
    for _ in range(num_steps):
        step()
    return num_steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=256)
    args = parser.parse_args()

    rate = generation_rate(args.images)
    print(f"synthetic generation: {rate:,.0f} images/s on one core "
          f"({args.images:,} images; target >= 1,000)")

    data = prepare(make_synthetic(2048, seed=7), image_size=32)
    loader = loader_rate(data, args.batch_size, num_batches=3 * args.steps)
    step = model_step_rate(args.batch_size, args.steps)
    print(f"loader: {loader:,.1f} batches/s of {args.batch_size} at 32 px "
          "(with augmentation, as floats)")
    print(f"model step (forward + backward + AdamW): {step:,.2f} batches/s "
          f"({torch.get_num_threads()} threads, {os.cpu_count()} cores)")
    print(f"loader / model step: {loader / step:,.1f}x (target >= 3)")


if __name__ == "__main__":
    main()
