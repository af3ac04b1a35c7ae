"""How fast the shipped detector reads photos: one photo end to end, and a batch.

Prints, for ``weights/smol128x64.pt`` on this machine's CPU threads:

- one photo, end to end after warm-up (squash, forward, decode, NMS, one digit per place,
  reading): the median and 90th percentile over ``--repeats`` calls of ``read_numbers``;
- the same photos read in batches of ``--batch``: images/s, and that figure as a ratio of
  the bare forward pass on the same, already squashed, batch (measured in the same run).

Run: .venv/bin/python benchmarks/detect.py [--repeats 200] [--batch 256]
"""

from __future__ import annotations

import argparse
import statistics
import time

import datasets
import torch

from yolo_smol import load_model
from yolo_smol.data.sources import load_dataset_source
from yolo_smol.predict import SHIPPED_WEIGHTS, read_numbers, to_model_input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    datasets.disable_progress_bars()
    model = load_model(SHIPPED_WEIGHTS)
    rows = load_dataset_source("synthetic", "test", num_images=args.batch)
    photos = [row["image"].convert("RGB") for row in rows]
    for photo in photos[:20]:  # warm-up: first calls allocate and pick kernels
        read_numbers(model, [photo])
    single = []
    for index in range(args.repeats):
        start = time.perf_counter()
        read_numbers(model, [photos[index % len(photos)]])
        single.append(time.perf_counter() - start)
    single.sort()
    print(f"{SHIPPED_WEIGHTS.name}, input {model.config.input_size[0]} x "
          f"{model.config.input_size[1]}, {torch.get_num_threads()} threads")
    print(f"one photo end to end: median {1000 * statistics.median(single):.2f} ms, "
          f"90th percentile {1000 * single[int(0.9 * len(single))]:.2f} ms "
          f"({args.repeats} calls)")
    read_numbers(model, photos, batch_size=args.batch)  # warm-up at this batch size
    start = time.perf_counter()
    read_numbers(model, photos, batch_size=args.batch)
    batched = time.perf_counter() - start
    inputs = to_model_input(photos, model.config.image_size)
    with torch.no_grad():
        model(inputs)
        start = time.perf_counter()
        model(inputs)
        forward = time.perf_counter() - start
    print(f"batch of {len(photos)}: {len(photos) / batched:,.0f} images/s end to end; "
          f"bare forward {len(photos) / forward:,.0f} images/s; ratio "
          f"{forward / batched:.2f}")


if __name__ == "__main__":
    main()
