"""Evaluation speed on 13,068 images (the size of SVHN's test split) at 32 px, smol.json.

Prints the time of each part of ``yolo-smol eval``: preparing the images (decode, resize),
the model's forward pass, decoding + NMS, and the metrics (COCO mAP, whole-number accuracy,
confusion matrix); the whole in images/s; and decoding + NMS + metrics as a share of the
whole (target: at most 25 %), with and without the preparation.

The model is the shipped ``weights/smol.pt`` when present (a trained model's detections
are what eval sees in practice), else an untrained smol model (a worst case: nearly every
prediction passes the 0.001 threshold).

Run: .venv/bin/python benchmarks/eval.py [--images 13068]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import datasets
import torch

from yolo_smol import YoloSmol, load_config, load_model
from yolo_smol.data.prepare import prepare
from yolo_smol.data.sources import load_dataset_source
from yolo_smol.training.evaluate import evaluate

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "smol.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=13_068)
    parser.add_argument("--untrained", action="store_true", help="ignore the shipped weights")
    args = parser.parse_args()
    datasets.disable_progress_bars()
    dataset = load_dataset_source("synthetic", "test", num_images=args.images)
    if WEIGHTS.is_file() and not args.untrained:
        model, which = load_model(WEIGHTS), f"shipped {WEIGHTS.name}"
    else:
        torch.manual_seed(0)
        model, which = YoloSmol(load_config("smol")), "untrained smol"
    start = time.perf_counter()
    data = prepare(dataset, model.config.image_size)
    preparing = time.perf_counter() - start
    result = evaluate(model, data)
    seconds = {"prepare": preparing, **result.seconds}
    whole = sum(seconds.values())
    ours = seconds["postprocess"] + seconds["metrics"]
    print(f"{len(data):,} images at {model.config.image_size} px, {which}, "
          f"{torch.get_num_threads()} threads")
    for name, value in seconds.items():
        print(f"  {name:<12} {value:6.2f} s  {100 * value / whole:5.1f} %")
    print(f"whole: {whole:.2f} s = {len(data) / whole:,.0f} images/s "
          f"(without preparing the images: {len(data) / (whole - preparing):,.0f} images/s)")
    print(f"decoding + NMS + metrics: {100 * ours / whole:.1f} % of the whole (target <= 25 %); "
          f"{100 * ours / (whole - preparing):.1f} % of forward + decoding + NMS + metrics")
    print(f"mAP@0.5 {result.metrics.ap50:.3f}, mAP@0.5:0.95 {result.metrics.map:.3f}, "
          f"whole-number accuracy {result.whole_number_accuracy:.3f}")


if __name__ == "__main__":
    main()
