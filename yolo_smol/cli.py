"""The ``yolo-smol`` command line: it parses arguments and calls plain functions, nothing more."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from yolo_smol.checkpoint import CheckpointError
from yolo_smol.config import ConfigError

__all__ = ["main", "build_parser"]

# Errors a user can cause and fix; they get one line and exit status 2, never a traceback.
USER_ERRORS = (ConfigError, CheckpointError)


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
    return parser


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
