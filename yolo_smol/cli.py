"""The ``yolo-smol`` command line: it parses arguments and calls plain functions, nothing more."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from yolo_smol.anchors import AnchorError
from yolo_smol.checkpoint import CheckpointError
from yolo_smol.config import ConfigError
from yolo_smol.data import DataError
from yolo_smol.sources import DataSourceError

__all__ = ["main", "build_parser"]

# Errors a user can cause and fix; they get one line and exit status 2, never a traceback.
USER_ERRORS = (ConfigError, CheckpointError, DataError, DataSourceError, AnchorError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yolo-smol", description="A small YOLOv3 for street house numbers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    summary = commands.add_parser(
        "summary", help="print each layer's output shape, the parameters and MACs per image")
    summary.add_argument("--model_config", default="smol",
                         help="a JSON config file or a built-in name (default: smol)")
    summary.add_argument("--image_size", type=int, default=None,
                         help="input size in pixels (default: the config's image_size)")
    summary.set_defaults(handler=_run_summary)

    data = commands.add_parser(
        "data", help="measure a dataset against real SVHN and preview it with its boxes")
    _add_dataset_arguments(data)
    data.add_argument("--num_images", type=_positive_int, default=2000,
                      help="images to measure (default: 2000)")
    data.add_argument("--preview", default=None, metavar="PNG",
                      help="write a grid of images with their boxes to this file")
    data.set_defaults(handler=_run_data)

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
    anchors.add_argument("--recall_threshold", type=float, default=0.5,
                         help="IoU above which a box counts as recalled (default: 0.5)")
    anchors.add_argument("--model_config", default=None,
                         help="compare with this config's anchors (a file or built-in name)")
    anchors.add_argument("--write_config", default=None, metavar="JSON",
                         help="write a copy of --model_config (default: smol) with the new "
                              "anchors")
    anchors.set_defaults(handler=_run_anchors)
    return parser


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
    parser.add_argument("--split", default="train", help="train (default), test or extra")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic set")


def _run_data(args: argparse.Namespace) -> None:
    from yolo_smol.sources import load_dataset_source
    from yolo_smol.statistics import dataset_statistics, format_statistics_table

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
    from yolo_smol.model import YoloSmol
    from yolo_smol.summary import summarize

    config = load_config(args.model_config)
    if args.image_size is not None:
        config = config.replace(image_size=args.image_size)
    print(summarize(YoloSmol(config)).format())


def _run_anchors(args: argparse.Namespace) -> None:
    import torch

    from yolo_smol.anchors import (
        anchor_fitness,
        box_shapes,
        kmeans_anchors,
        read_box_csv,
        split_anchors,
    )
    from yolo_smol.config import load_config

    # Read the config first: a broken one should fail before minutes of clustering.
    config = None
    if args.model_config or args.write_config:
        config = load_config(args.model_config or "smol")
    if args.boxes:
        shapes, origin = read_box_csv(args.boxes), args.boxes
    else:
        from yolo_smol.sources import load_dataset_source

        dataset = load_dataset_source(args.dataset, args.split, num_images=args.num_images,
                                      seed=args.seed)
        shapes, origin = box_shapes(dataset), f"{args.dataset} ({args.split})"
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
        if args.k != len(config.anchors):
            raise AnchorError(
                f"--write_config: the config has {len(config.anchors)} anchors "
                f"({config.num_anchors_per_scale} per head x {config.num_detection_layers} "
                f"heads), so use --k {len(config.anchors)}")
        per_head = split_anchors(result.anchors, config.num_detection_layers)
        new = config.replace(anchors=[list(anchor) for head in per_head for anchor in head])
        new.save(args.write_config)
        print(f"wrote {args.write_config}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except USER_ERRORS as error:
        print(f"yolo-smol {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
