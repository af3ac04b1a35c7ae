"""A model card for shipped weights: how they were made and how well they do."""

from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path

import torch

from yolo_smol.config import load_config
from yolo_smol.data.svhn import SPLIT_SIZES
from yolo_smol.model.checkpoint import checkpoint_payload, read_checkpoint, write_checkpoint
from yolo_smol.outputs import write_bytes, write_json

__all__ = ["write_model_card", "rescore_real_photos"]


def write_model_card(run_dir: str | Path, weights_path: str | Path, command: str,
                     seconds: float, real_photos: str | Path | None = None) -> dict:
    """Copy ``run_dir/best.pt`` to ``weights_path`` (weights only) and write its card.

    The card (``weights_path`` with ``.json``) holds the command that trained the weights,
    the data, the epochs, the wall time, the machine, the validation figures that chose
    best.pt's epoch and the test figures of the weights (scored afresh on the whole test
    split); the run's ``metrics.csv`` is copied beside it, for the training chapter's
    curves. Given
    ``real_photos`` (a JSON-lines set of real photos with boxes, for measuring only), the
    card also holds the weights' figures on them and the command that measures them.
    """
    run_dir, weights_path = Path(run_dir), Path(weights_path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    best = read_checkpoint(run_dir / "best.pt")
    # Inference weights and configs only: the optimizer state would triple the file.
    write_checkpoint(checkpoint_payload(load_config(best["model_config"]), best["model"],
                                        train_config=best["train_config"]), weights_path)
    train_config = best["train_config"]
    card = {"weights": weights_path.name, "command": command,
            "model_config": best["model_config"],
            **_recipe(train_config, seconds, best.get("training", {})),
            **_test_figures(_score(weights_path, train_config), train_config)}
    if real_photos is not None:
        card["real_photos"] = _score_real(weights_path, Path(real_photos))
    write_json(weights_path.with_suffix(".json"), card)
    write_bytes(weights_path.with_suffix(".metrics.csv"), (run_dir / "metrics.csv").read_bytes())
    return card


def rescore_real_photos(weights_path: str | Path, real_photos: str | Path) -> dict:
    """Measure shipped weights on ``real_photos`` again and rewrite that part of their card.

    For a change to how the ``Detector`` reads (not to the weights): the card's recipe and
    its figures on the generated test split stay as training left them.
    """
    weights_path = Path(weights_path)
    card_path = weights_path.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["real_photos"] = _score_real(weights_path, Path(real_photos))
    write_json(card_path, card)
    return card


def _recipe(train_config: dict, seconds: float, training: dict) -> dict:
    """What the card says of how the weights were made: data, settings, time, machine, and
    the epoch chosen, with its figures on the validation split that chose it (``training``:
    best.pt's training state)."""
    epoch = training.get("epoch")
    row = next((row for row in training.get("history", []) if row["epoch"] == epoch), {})
    return {
        "data": {"dataset": train_config["dataset"], "train_images": train_config["num_train"]
                 or f"all ({SPLIT_SIZES['train']:,})",
                 "validation_images": train_config.get("num_validation")
                 or train_config["num_test"] or "all",
                 "test_images": train_config["num_test"] or f"all ({SPLIT_SIZES['test']:,})",
                 "seed": train_config["seed"]},
        "training": {key: train_config[key] for key in (
            "num_epochs", "batch_size", "lr", "weight_decay", "data_augment", "augment_prob",
            "ema", "box_loss")},
        "wall_time_minutes": round(seconds / 60, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, CPU only",
        "epoch_of_these_weights": epoch,
        "chosen_on": "the validation split: best.pt, the epoch of its highest mAP@0.5:0.95",
        "validation_metrics": {"mAP@0.5": round(row.get("map50", float("nan")), 4),
                               "mAP@0.5:0.95": round(row.get("map", float("nan")), 4),
                               "whole_number_accuracy": round(
                                   row.get("whole_number_accuracy", float("nan")), 4)},
    }


def _test_figures(final, train_config: dict) -> dict:
    """The card's figures on the generated test split (an ``EvaluationResult``)."""
    return {
        "test_split": f"{train_config['dataset']} test, {final.num_images:,} images",
        "test_metrics": {"mAP@0.5": round(final.metrics.ap50, 4),
                         "mAP@0.5:0.95": round(final.metrics.map, 4),
                         "whole_number_accuracy": round(final.whole_number_accuracy, 4),
                         "AP@0.5:0.95 per digit": [round(ap, 4) for ap in
                                                   final.metrics.per_class_ap]},
    }


def _score(weights_path: Path, train_config: dict):
    """The shipped weights scored afresh on the whole test split, as ``yolo-smol eval``."""
    from yolo_smol.data.prepare import prepare
    from yolo_smol.data.sources import load_dataset_source
    from yolo_smol.model.checkpoint import load_model
    from yolo_smol.training.evaluate import evaluate
    from yolo_smol.training.loop import TrainConfig

    settings = TrainConfig.from_dict(train_config)
    model = load_model(weights_path)
    test = load_dataset_source(settings.dataset, "test", seed=settings.seed)
    return evaluate(model, prepare(test, model.config.image_size),
                    settings.confidence_threshold)


def _score_real(weights_path: Path, real_photos: Path) -> dict:
    """The weights on real photos (never trained on), as ``benchmarks/real.py`` scores them:
    the network with one look (as ``yolo-smol eval``), and the ``Detector`` as
    ``yolo-smol detect`` reads, both at the confidence threshold they were trained with."""
    from yolo_smol.data.prepare import prepare
    from yolo_smol.data.sources import load_dataset_source
    from yolo_smol.model.checkpoint import load_model
    from yolo_smol.reading.detector import Detector
    from yolo_smol.reading.scoring import score_detector, true_digits
    from yolo_smol.training.evaluate import evaluate

    model = load_model(weights_path)
    train_config = read_checkpoint(weights_path).get("train_config") or {}
    confidence_threshold = train_config.get("confidence_threshold", 0.25)
    rows = load_dataset_source(real_photos, "test")
    result = evaluate(model, prepare(rows, model.config.image_size), confidence_threshold)
    detector = Detector(model, device="cpu")  # as yolo-smol detect reads by default
    read = score_detector(detector, [row["image"].convert("RGB") for row in rows],
                          true_digits(rows), confidence_threshold)
    return {"photos": f"{real_photos.parent.name}/{real_photos.name}, "
                      f"{result.num_images} real SVHN test-split photos",
            # Recipes were chosen on these photos: figures on them are optimistic.
            "set": "development",
            "measured_by": f"python benchmarks/real.py --weights {weights_path.as_posix()}",
            "mAP@0.5": round(result.metrics.ap50, 4), "mAP@0.5:0.95": round(result.metrics.map, 4),
            "whole_number_accuracy": round(result.whole_number_accuracy, 4),
            # The options as readings.json records them, so the card says how it was read.
            "detector": {"options": _as_json(dataclasses.asdict(detector.options)),
                         "read_exactly": round(read.read_exactly, 4),
                         "mAP@0.5 (all looks)": round(read.metrics.ap50, 4),
                         "mAP@0.5:0.95 (all looks)": round(read.metrics.map, 4)}}


def _as_json(options: dict) -> dict:
    """``options`` with tuples as lists, as they read back from JSON."""
    return {name: list(value) if isinstance(value, tuple) else value
            for name, value in options.items()}


def main() -> None:
    """``python -m yolo_smol.training.model_card RUN_DIR WEIGHTS --command ... --seconds ...``."""
    import argparse

    parser = argparse.ArgumentParser(description=write_model_card.__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?")
    parser.add_argument("weights")
    parser.add_argument("--command")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--real_photos", default=None,
                        help="a JSON-lines set of real photos to measure the weights on, if "
                             "present")
    parser.add_argument("--rescore", action="store_true",
                        help="only measure WEIGHTS on --real_photos again, as the Detector "
                             "now reads, and rewrite that part of its card")
    args = parser.parse_args()
    real = args.real_photos if args.real_photos and Path(args.real_photos).is_file() else None
    if args.rescore:
        if real is None:
            parser.error(f"--rescore needs --real_photos, a file; got {args.real_photos!r}")
        print(json.dumps(rescore_real_photos(args.weights, real)["real_photos"]))
        return
    if args.run_dir is None or args.command is None or args.seconds is None:
        parser.error("give RUN_DIR WEIGHTS --command ... --seconds ... (or --rescore WEIGHTS "
                     "--real_photos ...)")
    card = write_model_card(args.run_dir, args.weights, args.command, args.seconds, real)
    print(json.dumps(card["test_metrics"]))


if __name__ == "__main__":
    main()
