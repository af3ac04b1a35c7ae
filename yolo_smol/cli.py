"""The ``yolo-smol`` command line: it parses arguments and calls plain functions, nothing more."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from yolo_smol.checkpoint import CheckpointError
from yolo_smol.config import ConfigError
from yolo_smol.data import DataError
from yolo_smol.sources import DataSourceError

__all__ = ["main", "build_parser"]

# Errors a user can cause and fix; they get one line and exit status 2, never a traceback.
USER_ERRORS = (ConfigError, CheckpointError, DataError, DataSourceError)


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
