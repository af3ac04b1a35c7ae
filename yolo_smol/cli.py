"""The ``yolo-smol`` command line: it parses arguments and calls plain functions, nothing more."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext

from yolo_smol import arguments
from yolo_smol.data.progress import bars_only_on_a_terminal
from yolo_smol.errors import YoloSmolError
from yolo_smol.interrupts import interrupts_between_photos

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
    summary.add_argument("--image_size", type=arguments.size, default=None,
                         help="input size in pixels, 64 or WIDTHxHEIGHT such as 128x64 "
                              "(default: the config's image_size)")
    summary.set_defaults(handler=_run_summary)


def _add_data_parser(commands) -> None:
    data = commands.add_parser(
        "data", help="measure a dataset against real SVHN and preview it with its boxes")
    arguments.add_dataset_flags(data, split="train")
    data.add_argument("--num_images", type=arguments.positive_int, default=2000,
                      help="images to measure (default: 2000)")
    data.add_argument("--preview", default=None, metavar="PNG",
                      help="write a grid of images with their boxes to this file")
    arguments.add_exist_ok(data, "replace an existing --preview file")
    data.set_defaults(handler=_run_data)


def _add_anchors_parser(commands) -> None:
    anchors = commands.add_parser(
        "anchors", help="find anchors by k-means with the IoU distance")
    arguments.add_dataset_flags(anchors, split="train")
    anchors.add_argument("--num_images", type=arguments.positive_int, default=None,
                         help="use the first this many images (default: the whole split)")
    anchors.add_argument("--boxes", default=None, metavar="CSV",
                         help="a CSV file of w,h rows (fractions of the image) instead of a "
                              "dataset")
    anchors.add_argument("--k", type=arguments.positive_int, default=2, help="anchors (default: 2)")
    anchors.add_argument("--restarts", type=arguments.positive_int, default=10,
                         help="k-means++ restarts, the best kept (default: 10)")
    anchors.add_argument("--recall_threshold", type=arguments.probability, default=0.5,
                         help="IoU above which a box counts as recalled (default: 0.5)")
    anchors.add_argument("--model_config", default=None,
                         help="compare with this config's anchors (a file or built-in name)")
    anchors.add_argument("--write_config", default=None, metavar="JSON",
                         help="write a copy of --model_config (default: smol) with the new "
                              "anchors")
    arguments.add_exist_ok(anchors, "replace an existing --write_config file")
    anchors.set_defaults(handler=_run_anchors)


def _add_eval_parser(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="score a model: mAP, AP per digit, whole-number accuracy, plots")
    arguments.add_dataset_flags(evaluate, split="test")
    evaluate.add_argument("--weights", default=None,
                          help="a checkpoint (default: the shipped smol128x64 detector)")
    evaluate.add_argument("--untrained", action="store_true",
                          help="score a freshly initialised --model_config model instead of "
                               "weights: a baseline, near zero")
    evaluate.add_argument("--model_config", default=None,
                          help="with --untrained, the model to build (default: smol); with "
                               "weights, optional: the config they were trained with")
    evaluate.add_argument("--num_images", type=arguments.positive_int, default=None,
                          help="score the first this many images (default: the whole split)")
    evaluate.add_argument("--confidence_threshold", type=arguments.probability, default=0.25,
                          help="detection threshold for whole-number accuracy and the "
                               "confusion matrix (default: 0.25)")
    evaluate.add_argument("--map_confidence_threshold",
                          type=arguments.probability, default=0.001,
                          help="lowest score kept for mAP (default: 0.001)")
    _add_nms_and_device_arguments(evaluate)
    evaluate.add_argument("--batch_size", type=arguments.positive_int, default=512)
    evaluate.add_argument("--as_detect", action="store_true",
                          help="also score the photos as yolo-smol detect reads them (every "
                               "look, the whole photo at three sizes): mAP@0.5, mAP@0.5:0.95 "
                               "and the share read exactly; slower")
    evaluate.add_argument("--save_dir", default="runs/eval",
                          help="where metrics.json and the plots go (default: runs/eval)")
    arguments.add_exist_ok(evaluate, "replace the metrics.json and plots an earlier eval left "
                                     "in --save_dir")
    evaluate.set_defaults(handler=_run_eval)


def _add_detect_parser(commands) -> None:
    from yolo_smol.reading.options import ReadingOptions

    detect = commands.add_parser(
        "detect", help="read the house numbers in photos; annotated copies go to --save_dir")
    detect.add_argument("--image_path", required=True,
                        help="a photo, or a folder of photos (png, jpg, ...); annotated copies "
                             "(*.detected.png) in it are not read")
    detect.add_argument("--weights", default=None,
                        help="a checkpoint (default: the shipped smol128x64 detector)")
    detect.add_argument("--model_config", default=None,
                        help="optional: the config the weights must have been trained with "
                             "(checkpoints carry their own config)")
    detect.add_argument("--confidence_threshold", type=arguments.probability, default=0.25,
                        help="keep digits scoring at least this (default: 0.25)")
    detect.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    # One flag per ReadingOptions field, as train has one per TrainConfig field; the
    # options check every value once, when they are built.
    arguments.add_setting_flags(detect, ReadingOptions)
    detect.add_argument("--save_dir", default="runs/detect",
                        help="where the annotated photos and readings.json go "
                             "(default: runs/detect)")
    detect.add_argument("--exist_ok", action="store_true",
                        help="replace the readings and annotated copies of an earlier run in "
                             "--save_dir (without it, such a folder is refused)")
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
    arguments.add_exist_ok(export, "replace an existing --output file")
    export.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> None:
    from yolo_smol.outputs import check_new_file

    # Before the work, and never over an earlier export unasked.
    output = check_new_file(args.output, "--output", (f".{args.format}",), args.exist_ok)
    from yolo_smol.export import export_onnx
    from yolo_smol.model.checkpoint import load_model
    from yolo_smol.reading.detector import shipped_weights

    weights = args.weights or shipped_weights()
    export_onnx(load_model(weights), output)
    print(f"wrote {output} (from {weights}): input images (B, 3, H, W) in [0, 1], outputs "
          "the raw head maps; decoding and NMS are the consumer's (see yolo_smol.export)")


def _add_nms_and_device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--iou_threshold", type=arguments.probability, default=0.45,
                        help="NMS IoU threshold (default: 0.45)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")


def _run_detect(args: argparse.Namespace) -> None:
    from dataclasses import fields

    from yolo_smol.reading.options import ReadingOptions

    # Checked before PyTorch is even imported: a typo costs no time.
    options = ReadingOptions(**{option.name: getattr(args, option.name)
                                for option in fields(ReadingOptions) if hasattr(args, option.name)})
    with interrupts_between_photos() as stop_if_interrupted:
        from yolo_smol.device import choose_device
        from yolo_smol.photos import ImageError
        from yolo_smol.reading.report import ANNOTATED_SUFFIX, detect_images

        def on_photo(path, outcome) -> None:  # each photo as soon as it is written
            if isinstance(outcome, str):
                print(f"yolo-smol detect: skipped {outcome}", file=sys.stderr)
            else:
                print(f"{path}: {outcome.number or '(no digits found)'}")
            stop_if_interrupted()

        report = detect_images(args.image_path, args.save_dir, args.weights, args.model_config,
                               args.confidence_threshold, _device(args.device, choose_device),
                               options, args.exist_ok, on_photo)
    if report.left_out:
        print(f"yolo-smol detect: left out {report.left_out} annotated cop"
              f"{'y' if report.left_out == 1 else 'ies'} (*{ANNOTATED_SUFFIX}) found among "
              "the photos", file=sys.stderr)
    print(f"wrote {len(report.readings)} annotated photo(s) and readings.json to "
          f"{report.readings_json.parent}")
    if report.unreadable:
        total = len(report.readings) + len(report.unreadable)
        raise ImageError(f"{len(report.unreadable)} of {total} photo(s) could not be read "
                         "(listed above and in readings.json)")


def _add_train_parser(commands) -> None:
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
    # One flag per TrainConfig field, so that a new setting cannot be forgotten here.
    arguments.add_setting_flags(train, TrainConfig)
    train.add_argument("--no_ema", dest="ema", action="store_false", default=argparse.SUPPRESS,
                       help="the same as --ema False")
    train.set_defaults(handler=_run_train, loads_data=True)


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
    print(result.summary())


def _run_eval(args: argparse.Namespace) -> None:
    from yolo_smol.device import choose_device
    from yolo_smol.outputs import check_result_folder
    from yolo_smol.training.evaluate import EVAL_FILES, evaluate_to_dir, model_to_score

    # Checked before any work: the folder (never an earlier eval's results unasked), the
    # device and the model.
    save_dir = check_result_folder(args.save_dir, EVAL_FILES, args.exist_ok)
    device = _device(args.device, choose_device)
    model, weights = model_to_score(args.weights, args.model_config, args.untrained)
    if args.untrained:
        print(f"--untrained: scoring an {weights} model (expect scores near zero)")
    dataset, name = _load_dataset(args)
    report = evaluate_to_dir(
        model, dataset, save_dir, confidence_threshold=args.confidence_threshold,
        map_confidence_threshold=args.map_confidence_threshold,
        iou_threshold=args.iou_threshold, batch_size=args.batch_size, device=device,
        description={"weights": weights, "dataset": str(args.dataset), "split": args.split},
        name=name, as_detect=args.as_detect)
    print(report.format())
    print(f"wrote {', '.join(str(path) for path in report.files)}")


def _load_dataset(args: argparse.Namespace):
    """The first ``--num_images`` of ``--dataset``'s ``--split``, and its name for messages.

    Says how long it took: generating a synthetic split takes a while, and without a
    terminal there is no bar to show it (yolo_smol.data.progress)."""
    from yolo_smol.data.sources import load_dataset_source

    start = time.perf_counter()
    dataset = load_dataset_source(args.dataset, args.split, num_images=args.num_images,
                                  seed=args.seed)
    name = f"{args.dataset} ({args.split} split)"
    print(f"loaded {len(dataset):,} images of {name} in {time.perf_counter() - start:.1f} s")
    return dataset, name


def _device(name: str, choose):
    try:
        return choose(name)
    except ValueError as error:
        raise UsageError(f"--device: {error}") from None


def _run_data(args: argparse.Namespace) -> None:
    from yolo_smol.data.statistics import dataset_statistics, format_statistics_table
    from yolo_smol.outputs import check_new_file

    if args.preview:  # checked first: a bad path must not cost the measuring
        check_new_file(args.preview, "--preview", FIGURE_SUFFIXES, args.exist_ok)
    dataset, _ = _load_dataset(args)
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
    from yolo_smol.outputs import check_new_file

    # Read the config and check where it goes first: neither should fail after minutes of
    # clustering (and --write_config never replaces a file, --model_config's own among
    # them, unless told to).
    config = None
    if args.model_config or args.write_config:
        config = load_config(args.model_config or "smol")
    if args.write_config:
        check_new_file(args.write_config, "--write_config", (".json",), args.exist_ok)
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
    dataset, _ = _load_dataset(args)
    return box_shapes(dataset), f"{args.dataset} ({args.split})"


def main(argv: Sequence[str] | None = None) -> int:
    try:  # Ctrl-C while the flags are read is an interrupt too, not a traceback
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("yolo-smol: interrupted", file=sys.stderr)
        return 130
    # Data commands piped to a file print one line per stage, not hundreds of \r updates.
    quiet = bars_only_on_a_terminal() if getattr(args, "loads_data", False) else nullcontext()
    try:
        with quiet:
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
