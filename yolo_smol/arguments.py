"""What the command line's flags accept: numbers, sizes, shares, scales, seeds, booleans.

Each parser turns the text typed after a flag into a value, or refuses it with one line
that argparse prints beside the flag's name (``argument --lr: 'fast' is not a number``),
with exit status 2, before any work starts. :func:`add_setting_flags` gives a frozen
settings dataclass (``TrainConfig``) one flag per field, so that no setting can be
forgotten on the command line. Nothing here imports PyTorch: ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import MISSING, fields

__all__ = ["SPLITS", "boolean", "number", "whole", "positive_int", "probability", "size",
           "scales", "end_gap", "seed", "add_setting_flags", "add_dataset_flags",
           "add_exist_ok"]

SPLITS = ("train", "validation", "test", "extra")


def boolean(text: str) -> bool:
    """``--data_augment``, ``--data_augment True`` and ``--data_augment 0`` all work."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    value = whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def probability(text: str) -> float:
    """A share or a threshold: a number from 0 to 1."""
    value = number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} must lie between 0 and 1")
    return value


def size(text: str) -> int | tuple[int, int]:
    """``64`` (a square) or ``128x64`` / ``128,64`` (width and height)."""
    parts = text.lower().replace(",", "x").split("x")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; use 64 or 128x64")
    sides = [whole(part) for part in parts]
    return sides[0] if len(sides) == 1 else (sides[0], sides[1])


def scales(text: str) -> tuple[float, ...]:
    """Multiples of the model's input size, ``0.875,1,1.125``: each above 0."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers (e.g. 0.875,1,1.125)") from None
    if not all(0 < value < math.inf for value in values):
        raise argparse.ArgumentTypeError(f"{text!r}: each scale must be a number above 0")
    return values


def end_gap(text: str) -> float | None:
    """A number, or ``none`` (no end gap); ReadingOptions checks the number."""
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor none") from None


def seed(text: str) -> int:
    value = whole(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{value} must be a whole number from 0 to 2**63 - 1")
    return value


# A field's type names its parser ("int | None" is parsed as an int), unless its metadata
# names another (its "kind").
_PARSERS = {"int": whole, "float": number, "bool": boolean, "str": str, "size": size,
            "scales": scales, "end_gap": end_gap}


def add_setting_flags(parser: argparse.ArgumentParser, settings: type) -> None:
    """One ``--NAME`` flag per field of the dataclass ``settings``, its help the field's
    ``help`` metadata with the default.

    Only the flags typed reach the parsed arguments (``argparse.SUPPRESS``): the rest stay
    the dataclass's defaults (or a resumed run's own values), and the dataclass checks
    every value once, when it is built.
    """
    for setting in fields(settings):
        parse = _PARSERS[setting.metadata.get("kind") or setting.type.split(" | ")[0]]
        default = setting.default if setting.default is not MISSING else None
        extra = {"nargs": "?", "const": True, "metavar": "BOOL"} if parse is boolean else {}
        if parse is scales:  # shown as typed: 0.75,1,1.25
            default = ",".join(f"{scale:g}" for scale in default)
            extra["metavar"] = "S,S,..."
        if setting.metadata.get("choices"):
            extra["choices"] = setting.metadata["choices"]
        text = setting.metadata.get("help", "")
        if "(default:" not in text:  # a help that says its default in words keeps them
            text += f" (default: {default})"
        parser.add_argument(f"--{setting.name}", type=parse, default=argparse.SUPPRESS,
                            help=text, **extra)


def add_dataset_flags(parser: argparse.ArgumentParser, split: str) -> None:
    """--dataset, --split (``split`` by default, as this command's help says) and --seed;
    the command loads data (yolo_smol.data.progress: no bars off a terminal)."""
    parser.add_argument("--dataset", default="synthetic",
                        help="synthetic (default), svhn, or a path: a dataset saved with "
                             "save_to_disk, a parquet file or folder, a JSON-lines file")
    parser.add_argument("--split", default=split, choices=SPLITS,
                        help=f"{', '.join(SPLITS[:-1])} or {SPLITS[-1]} (validation: the "
                             "synthetic set's, or a folder's validation.jsonl; SVHN has none) "
                             f"(default: {split})")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the synthetic set")
    parser.set_defaults(loads_data=True)


def add_exist_ok(parser: argparse.ArgumentParser, what: str) -> None:
    """--exist_ok: ``what`` it lets the command replace; without it, nothing is."""
    parser.add_argument("--exist_ok", action="store_true",
                        help=f"{what} (without it, an earlier result is never replaced)")
