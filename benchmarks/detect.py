"""How fast the shipped detector starts and reads photos.

Prints, for the shipped smol128x64 detector on this machine's CPU threads:

- start-up: the wall time of ``yolo-smol --help``, and of ``yolo-smol detect`` on one
  photo from a cold start (a new process each time; the median of ``--starts`` runs), with
  that of a new Python that only imports PyTorch, the floor under the second;
- one photo, end to end after warm-up (squash, forward, decode, NMS, one digit per place,
  reading): the median and 90th percentile over ``--repeats`` calls of the ``Detector``,
  with one look at the model's own input size and at its three sizes, and as
  ``yolo-smol detect`` reads (the whole photo at three sizes, the search where it shows no
  digit, then the second look), also with ``--scales 1``;
- ``--photos`` photos read in one call, in the detector's batches: images/s, and that
  figure as a ratio of the bare forward pass on the same, already squashed, photos
  (measured in the same run).

Run: .venv/bin/python benchmarks/detect.py [--repeats 200] [--photos 256] [--starts 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import datasets
import torch

from yolo_smol import Detector, ReadingOptions
from yolo_smol.data.sources import load_dataset_source
from yolo_smol.reading.detector import SHIPPED_WEIGHTS
from yolo_smol.reading.looks import to_model_input

SCALES = ReadingOptions().scales

COMMAND = Path(sys.executable).parent / "yolo-smol"


def start_up(starts: int, photo: Path) -> None:
    """The wall time of new ``yolo-smol`` processes: --help, and detect on one photo."""
    def median_wall(arguments: list[str], command: list[str] | None = None) -> float:
        command = [str(COMMAND)] if command is None else command
        times = []
        for _ in range(starts):
            start = time.perf_counter()
            subprocess.run([*command, *arguments], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    with tempfile.TemporaryDirectory() as folder:
        help_s = median_wall(["--help"])
        detect_s = median_wall(["detect", "--image_path", str(photo), "--save_dir", folder])
    # The floor under any command that runs the model: a new Python importing PyTorch.
    torch_s = median_wall([sys.executable, "-c", "import torch"], command=[])
    print(f"start-up: yolo-smol --help {help_s:.2f} s; yolo-smol detect on one photo "
          f"{detect_s:.2f} s; python -c 'import torch' alone {torch_s:.2f} s (medians of "
          f"{starts} new processes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--photos", type=int, default=256)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    datasets.disable_progress_bars()
    examples = Path(__file__).resolve().parent.parent / "examples"
    start_up(args.starts, examples / "house_1.jpg")
    rows = load_dataset_source("synthetic", "test", num_images=args.photos)
    photos = [row["image"].convert("RGB") for row in rows]
    one_look = {"second_look": False, "search": False, "scales": (1.0,)}
    for name, options in (("one look at one size", one_look),
                          ("one look at the default three sizes", {**one_look, "scales": SCALES}),
                          ("the default at one size (--scales 1)", {"scales": (1.0,)}),
                          ("the default (the whole photo at three sizes, the search where "
                           "nothing is found, then the second look)", {})):
        detector = Detector.from_pretrained(device="cpu", **options)
        print(f"{SHIPPED_WEIGHTS.name}, input {detector.model.config.input_size[0]} x "
              f"{detector.model.config.input_size[1]}, {torch.get_num_threads()} threads, "
              f"{name}:")
        measure(detector, photos, args.repeats)


def measure(detector: Detector, photos: list, repeats: int) -> None:
    """One photo at a time (median, 90th percentile), and all of them against the
    bare forward pass on it."""
    for photo in photos[:20]:  # warm-up: first calls allocate and pick kernels
        detector(photo)
    single = []
    for index in range(repeats):
        start = time.perf_counter()
        detector(photos[index % len(photos)])
        single.append(time.perf_counter() - start)
    single.sort()
    print(f"  one photo end to end: median {1000 * statistics.median(single):.2f} ms, "
          f"90th percentile {1000 * single[int(0.9 * len(single))]:.2f} ms ({repeats} calls)")
    detector(photos)  # warm-up
    inputs = to_model_input(photos, detector.model.config.image_size)
    chunks = inputs.split(detector.options.batch_size)
    batched, whole, in_batches = [], [], []
    for _ in range(5):  # alternated, so that all three see the same machine; medians
        start = time.perf_counter()
        detector(photos)
        batched.append(time.perf_counter() - start)
        with torch.inference_mode():  # as the detector runs the model
            start = time.perf_counter()
            detector.model(inputs)
            whole.append(time.perf_counter() - start)
            start = time.perf_counter()
            for chunk in chunks:
                detector.model(chunk)
            in_batches.append(time.perf_counter() - start)
    # The baseline is the faster bare forward pass: all photos at once, or the detector's
    # batches; the detector's own model (BatchNorms folded) in both.
    batched, forward = statistics.median(batched), min(map(statistics.median,
                                                           (whole, in_batches)))
    print(f"  {len(photos)} photos in batches of {detector.options.batch_size}: "
          f"{len(photos) / batched:,.0f} images/s end to end; bare forward "
          f"{len(photos) / forward:,.0f} images/s (the faster of one batch of {len(photos)} "
          f"and batches of {detector.options.batch_size}); ratio {forward / batched:.2f}")


if __name__ == "__main__":
    main()
