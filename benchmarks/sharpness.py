"""How sharp photos look to the model, by photo height: real photos against generated ones.

Each photo is squashed to the shipped detector's 128 x 64 input (``squash``, as the model
sees it), and scored by the mean absolute difference between neighbouring pixels along its
rows (grey levels 0-255): blur, low resolution and flat walls lower it, crisp edges and fine
texture raise it. Prints the median per photo-height bin for the real photos of
``--dataset`` (by default the SVHN development photos beside the repository, for measuring
only) and for ``--num_generated`` images of the synthetic test split, so that a generator
change can be checked against real photos figure by figure, never image by image.

Run: .venv/bin/python benchmarks/sharpness.py [--dataset PATH] [--num_generated 1000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from yolo_smol import load_config
from yolo_smol.config import input_size
from yolo_smol.data.prepare import squash
from yolo_smol.data.sources import load_dataset_source

REPO = Path(__file__).resolve().parent.parent
DEV_SET = REPO.parent / "shared" / "svhn_real_dev" / "annotations.jsonl"
HEIGHT_BINS = (0, 40, 64, 100, 150)  # px; 64 is the generator's largest drawing
INPUT_SIZE = input_size(load_config("smol128x64").image_size)  # the shipped detector's


def sharpness(image: Image.Image) -> float:
    """Mean absolute difference of neighbouring pixels along the rows of ``image``
    squashed to the model's input, in grey levels."""
    grey = np.asarray(squash(image.convert("L"), INPUT_SIZE), dtype=np.float32)
    return float(np.abs(np.diff(grey, axis=1)).mean())


def by_height(dataset: datasets.Dataset) -> list[list[float]]:
    """The sharpness of each photo, in one list per bin of ``HEIGHT_BINS``."""
    bins: list[list[float]] = [[] for _ in HEIGHT_BINS]
    for image in dataset["image"]:
        bins[int(np.searchsorted(HEIGHT_BINS, image.height, side="right")) - 1].append(
            sharpness(image))
    return bins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=str(DEV_SET),
                        help="a JSON-lines file of real photos (default: %(default)s)")
    parser.add_argument("--num_generated", type=int, default=1000)
    args = parser.parse_args()
    if not Path(args.dataset).is_file():
        sys.exit(f"{args.dataset} is not there: give --dataset, a JSON-lines file of photos")
    real = by_height(load_dataset_source(args.dataset))
    generated = by_height(load_dataset_source("synthetic", "test",
                                              num_images=args.num_generated))
    print(f"median sharpness at the {INPUT_SIZE[0]} x {INPUT_SIZE[1]} input "
          "(mean |difference| of neighbouring pixels, grey levels), by photo height")
    print(f"{'height':>12} {'real':>12} {'generated':>14}")
    edges = [*HEIGHT_BINS[1:], None]
    for low, high, ours, theirs in zip(HEIGHT_BINS, edges, real, generated, strict=True):
        span = f"{low}-{high} px" if high else f">={low} px"
        cells = [f"{np.median(values):.2f} ({len(values)})" if values else "-"
                 for values in (ours, theirs)]
        print(f"{span:>12} {cells[0]:>12} {cells[1]:>14}")


if __name__ == "__main__":
    main()
