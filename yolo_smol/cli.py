"""The ``yolo-smol`` command line: it parses arguments and calls plain functions, nothing more."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence

from yolo_smol.errors import YoloSmolError

__all__ = ["main", "build_parser"]

# What matplotlib writes without extra software, for --preview.
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


class UsageError(YoloSmolError):
    """A command-line setting that cannot work, found before any work starts."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yolo-smol", description="A small YOLOv3 for street house numbers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_summary_parser, _add_data_parser, _add_anchors_parser, _add_eval_parser,
                _add_train_parser, _add_detect_parser, _add_export_parser):
        add(commands)
    return parser


def _add_summary_parser(commands) -> None:
    summary = commands.add_parser(
        "summary", help="print each layer's output shape, the parameters and MACs per image")
    summary.add_argument("--model_config", default="smol",
                         help="a JSON config file or a built-in name (default: smol)")
    summary.add_argument("--image_size", type=_size, default=None,
                         help="input size in pixels, 64 or WIDTHxHEIGHT such as 128x64 "
                              "(default: the config's image_size)")
    summary.set_defaults(handler=_run_summary)


def _add_data_parser(commands) -> None:
    data = commands.add_parser(
        "data", help="measure a dataset against real SVHN and preview it with its boxes")
    _add_dataset_arguments(data)
    data.add_argument("--num_images", type=_positive_int, default=2000,
                      help="images to measure (default: 2000)")
    data.add_argument("--preview", default=None, metavar="PNG",
                      help="write a grid of images with their boxes to this file")
    data.set_defaults(handler=_run_data)


def _add_anchors_parser(commands) -> None:
    anchors = commands.add_parser(
        "anchors", help="find anchors by k-means with the IoU distance")
    _add_dataset_arguments(anchors)
    anchors.add_argument("--num_images", type=_positive_int, default=None,
                         help="use the first this many images (default: the whole split)")
    anchors.add_argument("--boxes", default=None, metavar="CSV",
                         help="a CSV file of w,h rows (fractions of the image) instead of a "
                              "dataset")
    anchors.add_argument("--k", type=_positive_int, default=2, help="anchors (default: 2)")
    anchors.add_argument("--restarts", type=_positive_int, default=10,
                         help="k-means++ restarts, the best kept (default: 10)")
    anchors.add_argument("--recall_threshold", type=_probability, default=0.5,
                         help="IoU above which a box counts as recalled (default: 0.5)")
    anchors.add_argument("--model_config", default=None,
                         help="compare with this config's anchors (a file or built-in name)")
    anchors.add_argument("--write_config", default=None, metavar="JSON",
                         help="write a copy of --model_config (default: smol) with the new "
                              "anchors")
    anchors.set_defaults(handler=_run_anchors)


def _add_eval_parser(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="score a model: mAP, AP per digit, whole-number accuracy, plots")
    _add_dataset_arguments(evaluate)
    evaluate.set_defaults(split="test")
    evaluate.add_argument("--weights", default=None,
                          help="a checkpoint; without one, an untrained --model_config model "
                               "is scored (near zero)")
    evaluate.add_argument("--model_config", default="smol",
                          help="config of the untrained model when no --weights are given")
    evaluate.add_argument("--num_images", type=_positive_int, default=None,
                          help="score the first this many images (default: the whole split)")
    evaluate.add_argument("--confidence_threshold", type=_probability, default=0.25,
                          help="detection threshold for whole-number accuracy and the "
                               "confusion matrix (default: 0.25)")
    evaluate.add_argument("--map_confidence_threshold", type=_probability, default=0.001,
                          help="lowest score kept for mAP (default: 0.001)")
    _add_nms_and_device_arguments(evaluate)
    evaluate.add_argument("--batch_size", type=_positive_int, default=512)
    evaluate.add_argument("--as_detect", action="store_true",
                          help="also score the photos as yolo-smol detect reads them (every "
                               "look, the whole photo at three sizes): mAP@0.5, mAP@0.5:0.95 "
                               "and the share read exactly; slower")
    evaluate.add_argument("--save_dir", default="runs/eval",
                          help="where metrics.json and the plots go (default: runs/eval)")
    evaluate.set_defaults(handler=_run_eval)


def _add_detect_parser(commands) -> None:
    detect = commands.add_parser(
        "detect", help="read the house numbers in photos; annotated copies go to --save_dir")
    detect.add_argument("--image_path", required=True,
                        help="a photo, or a folder of photos (png, jpg, ...)")
    detect.add_argument("--weights", default=None,
                        help="a checkpoint (default: the shipped smol128x64 detector)")
    detect.add_argument("--model_config", default=None,
                        help="optional: the config the weights must have been trained with "
                             "(checkpoints carry their own config)")
    detect.add_argument("--confidence_threshold", type=_probability, default=0.25,
                        help="keep digits scoring at least this (default: 0.25)")
    _add_nms_and_device_arguments(detect)
    detect.add_argument("--scales", type=_scales, default=argparse.SUPPRESS, metavar="S,S,...",
                        help="read the whole photo at these multiples of the model's input "
                             "size and average the digits' scores; 1 reads at one size, about "
                             "3 times as fast (default: the detector's, 0.875,1,1.125)")
    detect.add_argument("--second_look", type=_boolean, default=True, metavar="BOOL",
                        help="read each photo again in a crop framed around the digits "
                             "found, as SVHN frames its numbers (default: True)")
    detect.add_argument("--search", type=_boolean, default=True, metavar="BOOL",
                        help="where the whole photo shows no digits, look for them in "
                             "windows zoomed in 2 and 3 times (default: True)")
    detect.add_argument("--sure_fraction", type=_probability, default=argparse.SUPPRESS,
                        help="read only the digits scoring at least this fraction of the "
                             "photo's best digit; 0 reads every one (default: the "
                             "detector's, 0.4)")
    detect.add_argument("--max_end_gap", type=_end_gap, default=argparse.SUPPRESS,
                        metavar="GAP", help="drop a digit at either end set apart from its "
                        "neighbour by more than GAP digit heights; none keeps them (default: "
                        "the detector's, 0.4)")
    detect.add_argument("--save_dir", default="runs/detect",
                        help="where the annotated photos and readings.json go "
                             "(default: runs/detect)")
    detect.set_defaults(handler=_run_detect)


def _add_export_parser(commands) -> None:
    export = commands.add_parser(
        "export", help="write a trained model for other runtimes (ONNX: the raw head outputs)")
    export.add_argument("--weights", default=None,
                        help="a checkpoint (default: the shipped smol128x64 detector)")
    export.add_argument("--format", default="onnx", choices=("onnx",),
                        help="onnx (needs: pip install \"yolo-smol[export]\")")
    export.add_argument("--output", default="yolo_smol.onnx",
                        help="the file to write (default: yolo_smol.onnx)")
    export.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> None:
    from yolo_smol.outputs import writable_file

    output = writable_file(args.output, "--output", (f".{args.format}",))  # before the work
    from yolo_smol.export import export_onnx
    from yolo_smol.model.checkpoint import load_model
    from yolo_smol.predict import SHIPPED_WEIGHTS

    weights = args.weights or SHIPPED_WEIGHTS
    export_onnx(load_model(weights), output)
    print(f"wrote {output} (from {weights}): input images (B, 3, H, W) in [0, 1], outputs "
          "the raw head maps; decoding and NMS are the consumer's (see yolo_smol.export)")


def _add_nms_and_device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--iou_threshold", type=_probability, default=0.45,
                        help="NMS IoU threshold (default: 0.45)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")


def _run_detect(args: argparse.Namespace) -> None:
    from yolo_smol.device import choose_device
    from yolo_smol.predict import ImageError, detect_images

    # The scales' and reading rules' flags are absent unless given: the Detector's defaults.
    given = {name: getattr(args, name) for name in ("scales", "sure_fraction", "max_end_gap")
             if name in vars(args)}
    report = detect_images(args.image_path, args.save_dir, args.weights, args.model_config,
                           args.confidence_threshold, _device(args.device, choose_device),
                           iou_threshold=args.iou_threshold, second_look=args.second_look,
                           search=args.search, **given)
    for message in report.unreadable:
        print(f"yolo-smol detect: skipped {message}", file=sys.stderr)
    for path, reading in report.readings:
        print(f"{path}: {reading.number or '(no digits found)'}")
    print(f"wrote {len(report.readings)} annotated photo(s) and readings.json to "
          f"{report.readings_json.parent}")
    if report.unreadable:
        total = len(report.readings) + len(report.unreadable)
        raise ImageError(f"{len(report.unreadable)} of {total} photo(s) could not be read "
                         "(listed above and in readings.json)")


def _boolean(text: str) -> bool:
    """``--data_augment``, ``--data_augment True`` and ``--data_augment 0`` all work."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _size(text: str) -> int | tuple[int, int]:
    """``64`` (a square) or ``128x64`` / ``128,64`` (width and height)."""
    parts = text.lower().replace(",", "x").split("x")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; use 64 or 128x64")
    sides = [_whole(part) for part in parts]
    return sides[0] if len(sides) == 1 else (sides[0], sides[1])


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _add_train_parser(commands) -> None:
    from dataclasses import MISSING, fields

    from yolo_smol.training.settings import TrainConfig

    train = commands.add_parser("train", help="train a model; checkpoints, metrics and plots "
                                              "go to --save_dir")
    train.add_argument("--model_config", default=argparse.SUPPRESS,
                       help="a JSON config file or a built-in name (default: smol)")
    train.add_argument("--resume", default=None, metavar="SAVE_DIR",
                       help="continue the run saved in SAVE_DIR with its own settings; a "
                            "flag given beside it changes that setting")
    train.add_argument("--exist_ok", action="store_true",
                       help="start a new run in a --save_dir that holds one, replacing it "
                            "(without it, such a folder is refused)")
    # One flag per TrainConfig field, so that a new setting cannot be forgotten here. Only
    # the flags the user types reach the settings (SUPPRESS): the rest are TrainConfig's
    # defaults, or a resumed run's own values. TrainConfig checks every value once.
    parsers = {"int": _whole, "float": _number, "bool": _boolean, "str": str, "size": _size,
               "scales": _scales}
    for setting in fields(TrainConfig):
        # "int | None" is parsed as an int; a setting may name another parser (its kind).
        parse = parsers[setting.metadata.get("kind") or setting.type.split(" | ")[0]]
        default = setting.default if setting.default is not MISSING else None
        extra = {"nargs": "?", "const": True} if parse is _boolean else {}
        if parse is _scales:  # shown as typed: 0.75,1,1.25
            default = ",".join(f"{scale:g}" for scale in default)
            extra["metavar"] = "S,S,..."
        if setting.metadata.get("choices"):
            extra["choices"] = setting.metadata["choices"]
        train.add_argument(f"--{setting.name}", type=parse, default=argparse.SUPPRESS,
                           help=f"{setting.metadata.get('help', '')} (default: {default})",
                           **extra)
    train.add_argument("--no_ema", dest="ema", action="store_false", default=argparse.SUPPRESS,
                       help="the same as --ema False")
    train.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> None:
    from dataclasses import fields

    from yolo_smol.config import load_config
    from yolo_smol.training.loop import run_training
    from yolo_smol.training.settings import TrainConfig

    chosen = {setting.name: getattr(args, setting.name) for setting in fields(TrainConfig)
              if hasattr(args, setting.name)}
    model_config = getattr(args, "model_config", None)
    if args.resume:
        result = run_training(model_config, chosen, resume=args.resume)
    else:
        # Both checked before any data is loaded: a typo costs seconds, not minutes. Without
        # --model_config the model is smol, or the --init checkpoint's.
        result = run_training(load_config(model_config) if model_config else None,
                              TrainConfig(**chosen), exist_ok=args.exist_ok)
    print(f"done: best mAP@0.5:0.95 {result.best_map:.4f}; weights in {result.save_dir}")


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} must lie between 0 and 1")
    return value


def _scales(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers (e.g. 0.875,1,1.125)") from None
    if not all(0 < value < math.inf for value in values):
        raise argparse.ArgumentTypeError(f"{text!r}: each scale must be a number above 0")
    return values


def _end_gap(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor none") from None
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"{value} must be at least 0 (or none)")
    return value


def _run_eval(args: argparse.Namespace) -> None:
    from yolo_smol.config import load_config
    from yolo_smol.data.sources import load_dataset_source
    from yolo_smol.device import choose_device
    from yolo_smol.model.checkpoint import load_model
    from yolo_smol.model.yolo import YoloSmol
    from yolo_smol.training.evaluate import evaluate_to_dir

    save_dir = _writable_folder(args.save_dir)
    device = _device(args.device, choose_device)
    if args.weights:
        model = load_model(args.weights)
    else:
        model = YoloSmol(load_config(args.model_config))
        print(f"no --weights given: scoring an untrained {args.model_config} model "
              "(expect scores near zero)")
    dataset = load_dataset_source(args.dataset, args.split, num_images=args.num_images,
                                  seed=args.seed)
    report = evaluate_to_dir(
        model, dataset, save_dir, confidence_threshold=args.confidence_threshold,
        map_confidence_threshold=args.map_confidence_threshold,
        iou_threshold=args.iou_threshold, batch_size=args.batch_size, device=device,
        description={"weights": args.weights, "dataset": str(args.dataset),
                     "split": args.split})
    result = report.result
    print(result.format_table())
    print(f"(preparing the images took {report.prepare_seconds:.1f} s more; "
          f"{result.num_images / (report.prepare_seconds + sum(result.seconds.values())):,.0f}"
          " images/s in all)")
    if args.as_detect:
        _score_as_detect(model, dataset, device, args.confidence_threshold, report.files[0])
    print(f"wrote {', '.join(str(path) for path in report.files)}")


def _score_as_detect(model, dataset, device, confidence_threshold: float, metrics_json) -> None:
    """Score the photos as ``yolo-smol detect`` reads them; print and record the figures."""
    from yolo_smol.training.evaluate import score_as_detect

    figures = score_as_detect(model, dataset, device, confidence_threshold)
    print(f"as yolo-smol detect reads ({len(dataset)} photos, every look): mAP@0.5 "
          f"{figures['mAP@0.5']:.3f}  mAP@0.5:0.95 {figures['mAP@0.5:0.95']:.3f}  "
          f"read exactly {figures['read_exactly']:.3f}")
    report = json.loads(metrics_json.read_text())
    report["as_detect"] = figures
    metrics_json.write_text(json.dumps(report, indent=2) + "\n")


def _writable_folder(path: str):
    from yolo_smol.outputs import writable_folder

    return writable_folder(path, "--save_dir")


def _device(name: str, choose):
    try:
        return choose(name)
    except ValueError as error:
        raise UsageError(f"--device: {error}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="synthetic",
                        help="synthetic (default), svhn, or a path: a dataset saved with "
                             "save_to_disk, a parquet file or folder, a JSON-lines file")
    parser.add_argument("--split", default="train", choices=("train", "test", "extra"),
                        help="train (default), test or extra")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the synthetic set")


def _seed(text: str) -> int:
    value = _whole(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{value} must be a whole number from 0 to 2**63 - 1")
    return value


def _run_data(args: argparse.Namespace) -> None:
    from yolo_smol.data.sources import load_dataset_source
    from yolo_smol.data.statistics import dataset_statistics, format_statistics_table
    from yolo_smol.outputs import writable_file

    if args.preview:  # checked first: a bad path must not cost the measuring
        writable_file(args.preview, "--preview", FIGURE_SUFFIXES)
    dataset = load_dataset_source(args.dataset, args.split, num_images=args.num_images,
                                  seed=args.seed)
    print(format_statistics_table(dataset_statistics(dataset, args.num_images),
                                  name=str(args.dataset)))
    if args.preview:
        from yolo_smol.visualize import plot_dataset_grid

        plot_dataset_grid(dataset, path=args.preview)
        print(f"wrote {args.preview}")


def _run_summary(args: argparse.Namespace) -> None:
    from yolo_smol.config import load_config
    from yolo_smol.model.summary import summarize
    from yolo_smol.model.yolo import YoloSmol

    config = load_config(args.model_config)
    if args.image_size is not None:
        config = config.replace(image_size=args.image_size)
    print(summarize(YoloSmol(config)).format())


def _run_anchors(args: argparse.Namespace) -> None:
    import torch

    from yolo_smol.anchors.kmeans import anchor_fitness, kmeans_anchors, refit_config
    from yolo_smol.config import load_config
    from yolo_smol.outputs import writable_file

    # Read the config and check where it goes first: neither should fail after minutes of
    # clustering.
    config = None
    if args.model_config or args.write_config:
        config = load_config(args.model_config or "smol")
    if args.write_config:
        writable_file(args.write_config, "--write_config", (".json",))
    shapes, origin = _box_shapes(args)
    result = kmeans_anchors(shapes, args.k, restarts=args.restarts, seed=args.seed,
                            recall_threshold=args.recall_threshold)
    print(f"{len(shapes):,} boxes from {origin}; k={args.k}, {args.restarts} restarts")
    print(f"anchors (w, h), largest first: "
          f"{[[round(w, 3), round(h, 3)] for w, h in result.anchors.tolist()]}")
    print(f"  mean IoU {result.mean_iou:.4f}   best possible recall "
          f"(IoU > {args.recall_threshold}) {result.recall:.4f}")
    if config is not None and args.model_config:
        mean_iou, recall = anchor_fitness(shapes, torch.tensor(config.anchors),
                                          args.recall_threshold)
        print(f"anchors of {args.model_config}: {[list(a) for a in config.anchors]}")
        print(f"  mean IoU {mean_iou:.4f}   best possible recall {recall:.4f}")
    if args.write_config:
        refit_config(config, result.anchors).save(args.write_config)
        print(f"wrote {args.write_config}")


def _box_shapes(args: argparse.Namespace):
    """``(N, 2)`` box shapes from ``--boxes`` or the dataset, and where they came from."""
    from yolo_smol.anchors.kmeans import box_shapes, read_box_csv

    if args.boxes:
        return read_box_csv(args.boxes), args.boxes
    from yolo_smol.data.sources import load_dataset_source

    dataset = load_dataset_source(args.dataset, args.split, num_images=args.num_images,
                                  seed=args.seed)
    return box_shapes(dataset), f"{args.dataset} ({args.split})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
        sys.stdout.flush()  # here, where a reader that went away is caught below
    except YoloSmolError as error:
        print(f"yolo-smol {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"yolo-smol {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`yolo-smol detect ... | head`): not an error
        # of ours. Point stdout at nothing, so that flushing it at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
