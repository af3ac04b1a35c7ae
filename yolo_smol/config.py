"""Model configuration: frozen dataclasses loaded from, validated against and saved to JSON.

A config is the single description of a model. It travels inside every checkpoint, so a
set of weights can always be rebuilt without guessing how it was made. Every rule below
reports the JSON path of the offending field and how to fix it, because a user editing a
config by hand deserves better than a shape error deep inside ``torch.nn.Conv2d``.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from yolo_smol.errors import YoloSmolError

__all__ = [
    "ConfigError",
    "DownsampleConfig",
    "ResidualBlockConfig",
    "LayerConfig",
    "ModelConfig",
    "builtin_config_names",
    "input_size",
    "load_config",
]


class ConfigError(YoloSmolError):
    """A config that cannot describe a model; the message names the field and the fix."""


@dataclass(frozen=True)
class DownsampleConfig:
    """A 3x3 convolution with stride 2 (+ BatchNorm + LeakyReLU): halves the resolution."""

    in_channels: int
    out_channels: int
    type: str = "Downsample"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "in_channels": self.in_channels,
                "out_channels": self.out_channels}


@dataclass(frozen=True)
class ResidualBlockConfig:
    """``num_blocks`` Darknet residual units that keep ``channels`` and the resolution."""

    num_blocks: int
    channels: int
    type: str = "ResidualBlock"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "num_blocks": self.num_blocks, "channels": self.channels}


LayerConfig = DownsampleConfig | ResidualBlockConfig


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a :class:`yolo_smol.model.yolo.YoloSmol`.

    ``anchors`` are ``(width, height)`` as fractions of the image, largest first: the first
    ``num_anchors_per_scale`` belong to the coarsest head, the next to the one after it.
    Build one with :func:`load_config`, which validates; the constructor itself does not.
    """

    num_classes: int
    image_size: int | tuple[int, int]
    backbone_layers: tuple[LayerConfig, ...]
    anchors: tuple[tuple[float, float], ...]
    num_anchors_per_scale: int
    num_detection_layers: int

    @property
    def num_downsamples(self) -> int:
        return sum(isinstance(layer, DownsampleConfig) for layer in self.backbone_layers)

    @property
    def strides(self) -> tuple[int, ...]:
        """Stride of each head in input pixels, coarsest head first (e.g. ``(8, 4)``)."""
        deepest = self.num_downsamples
        return tuple(2 ** (deepest - i) for i in range(self.num_detection_layers))

    @property
    def input_size(self) -> tuple[int, int]:
        """The model input's ``(width, height)`` in pixels.

        ``image_size`` is one number for a square input (the book's models) or
        ``[width, height]``: house-number photos are about 2.2 times as wide as tall, and a
        fully convolutional network reads a wide input as easily as a square one.
        """
        return input_size(self.image_size)

    @property
    def grid_sizes(self) -> tuple[int, ...]:
        """Grid size S of each head, coarsest first (e.g. ``(4, 8)`` at 32 px); square
        inputs only (see :attr:`grid_shapes`)."""
        if not isinstance(self.image_size, int):
            raise ValueError("grid_sizes is for square inputs; use grid_shapes")
        return tuple(self.image_size // stride for stride in self.strides)

    @property
    def grid_shapes(self) -> tuple[tuple[int, int], ...]:
        """``(S_h, S_w)`` of each head's grid, coarsest first."""
        width, height = self.input_size
        return tuple((height // stride, width // stride) for stride in self.strides)

    @property
    def anchors_per_head(self) -> tuple[tuple[tuple[float, float], ...], ...]:
        """The anchors split over the heads: ``[head][anchor] = (w_frac, h_frac)``."""
        count = self.num_anchors_per_scale
        return tuple(self.anchors[i * count:(i + 1) * count]
                     for i in range(self.num_detection_layers))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, keys in the order of ``configs/smol.json``."""
        return {
            "num_classes": self.num_classes,
            "image_size": (self.image_size if isinstance(self.image_size, int)
                           else list(self.image_size)),
            "backbone_layers": [layer.to_dict() for layer in self.backbone_layers],
            "anchors": [list(anchor) for anchor in self.anchors],
            "num_anchors_per_scale": self.num_anchors_per_scale,
            "num_detection_layers": self.num_detection_layers,
        }

    def to_json(self) -> str:
        """The JSON text, laid out like ``configs/smol.json``: one layer a line."""
        data = self.to_dict()
        layers = ",\n".join(f"    {json.dumps(layer)}" for layer in data["backbone_layers"])
        return (f'{{\n  "num_classes": {data["num_classes"]},\n'
                f'  "image_size": {data["image_size"]},\n'
                f'  "backbone_layers": [\n{layers}\n  ],\n'
                f'  "anchors": {json.dumps(data["anchors"])},\n'
                f'  "num_anchors_per_scale": {data["num_anchors_per_scale"]},\n'
                f'  "num_detection_layers": {data["num_detection_layers"]}\n}}\n')

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path``, atomically: a full disk leaves the file that
        was there as it was (:class:`yolo_smol.outputs.WriteError`)."""
        from yolo_smol.outputs import write_text

        write_text(path, self.to_json())

    def replace(self, **changes: Any) -> ModelConfig:
        """A validated copy with some fields changed, e.g. ``config.replace(image_size=64)``."""
        return load_config({**self.to_dict(), **changes})


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------

# Upper bounds, far above any sensible small detector: they turn a typo (an extra zero or
# three) into a message instead of minutes of allocating and a crash.
LIMITS = {"image side": 2048, "channels": 4096, "classes": 1000, "residual units": 64,
          "backbone layers": 64, "anchors": 16, "heads": 8}
MAX_BACKBONE_PARAMETERS = 100_000_000  # Darknet-53, YOLOv3's own backbone, has 40 million

_TOP_LEVEL_KEYS = ("num_classes", "image_size", "backbone_layers", "anchors",
                   "num_anchors_per_scale", "num_detection_layers")
_LAYER_KEYS = {"Downsample": ("type", "in_channels", "out_channels"),
               "ResidualBlock": ("type", "num_blocks", "channels")}


def builtin_config_names() -> list[str]:
    """Names of the configs shipped inside the package (usable without a checkout)."""
    folder = resources.files("yolo_smol") / "configs"
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".json"))


def load_config(source: str | Path | Mapping[str, Any] | ModelConfig) -> ModelConfig:
    """Load and validate a model config.

    Args:
        source: a path to a JSON file, the name of a built-in config (``"smol"``), a dict
            in the JSON form, or a :class:`ModelConfig` (returned unchanged).

    Raises:
        ConfigError: naming the JSON path of the first problem found and how to fix it.
    """
    if isinstance(source, ModelConfig):
        return source
    if isinstance(source, Mapping):
        return _parse(source, origin="config")
    text, origin = _read_source(source)
    try:
        raw = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{origin}: not valid JSON: {error.msg} at line {error.lineno}, "
                          f"column {error.colno}; fix the JSON syntax there") from None
    except RecursionError:
        raise ConfigError(f"{origin}: nested too deeply to be a model config; see "
                          "configs/smol.json for the shape") from None
    except ConfigError as error:
        raise ConfigError(f"{origin}: {error}") from None
    return _parse(raw, origin=origin)


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys without a word; in a config that is a typo
    # whose first value silently does nothing.
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigError(f"{key}: given twice in one object; keep one")
        seen[key] = value
    return seen


def _read_source(source: str | Path) -> tuple[str, str]:
    path = Path(source)
    if path.is_file():
        try:
            return path.read_bytes().decode("utf-8"), str(path)
        except UnicodeDecodeError as error:
            raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}); save the config "
                              "as UTF-8 JSON") from None
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give the path of a JSON config file")
    name = str(source)
    if name in builtin_config_names():
        file = resources.files("yolo_smol") / "configs" / f"{name}.json"
        return file.read_text(), f"{name} (built-in)"
    raise ConfigError(f"{source}: no such config file, and not a built-in config name; give "
                      f"the path of a JSON file or one of: {', '.join(builtin_config_names())}")


def _parse(raw: Any, origin: str) -> ModelConfig:
    try:
        config = _build(raw)
        _check_consistency(config)
        _check_size(config)
    except ConfigError as error:
        raise ConfigError(f"{origin}: {error}") from None
    return config


def _build(raw: Any) -> ModelConfig:
    fields = _check_keys(raw, "", _TOP_LEVEL_KEYS, "the top level")
    layers_raw = fields["backbone_layers"]
    if not isinstance(layers_raw, list) or not layers_raw:
        raise ConfigError("backbone_layers: must be a non-empty list of layer objects")
    if len(layers_raw) > LIMITS["backbone layers"]:
        raise ConfigError(f"backbone_layers: {len(layers_raw)} layers; at most "
                          f"{LIMITS['backbone layers']}")
    anchors_raw = fields["anchors"]
    if not isinstance(anchors_raw, list) or not anchors_raw:
        raise ConfigError("anchors: must be a non-empty list of [width, height] pairs")
    return ModelConfig(
        num_classes=_positive_int(fields["num_classes"], "num_classes", LIMITS["classes"]),
        image_size=_image_size(fields["image_size"]),
        backbone_layers=tuple(_build_layer(layer, i) for i, layer in enumerate(layers_raw)),
        anchors=tuple(_build_anchor(anchor, i) for i, anchor in enumerate(anchors_raw)),
        num_anchors_per_scale=_positive_int(fields["num_anchors_per_scale"],
                                            "num_anchors_per_scale", LIMITS["anchors"]),
        num_detection_layers=_positive_int(fields["num_detection_layers"],
                                           "num_detection_layers", LIMITS["heads"]),
    )


def _build_layer(raw: Any, index: int) -> LayerConfig:
    where = f"backbone_layers[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be an object such as "
                          '{"type": "Downsample", "in_channels": 3, "out_channels": 16}')
    layer_type = raw.get("type")
    if layer_type not in _LAYER_KEYS:
        hint = _closest(str(layer_type), list(_LAYER_KEYS))
        raise ConfigError(f"{where}.type: unknown layer type {layer_type!r}{hint}; "
                          f"use one of: {', '.join(_LAYER_KEYS)}")
    fields = _check_keys(raw, f"{where}.", _LAYER_KEYS[layer_type], f"a {layer_type} layer")
    if layer_type == "Downsample":
        return DownsampleConfig(
            in_channels=_positive_int(fields["in_channels"], f"{where}.in_channels",
                                      LIMITS["channels"]),
            out_channels=_positive_int(fields["out_channels"], f"{where}.out_channels",
                                       LIMITS["channels"]))
    channels = _positive_int(fields["channels"], f"{where}.channels", LIMITS["channels"])
    if channels % 2:
        raise ConfigError(f"{where}.channels: {channels} must be even, because each "
                          "residual unit squeezes to half the channels with a 1x1 conv")
    return ResidualBlockConfig(
        num_blocks=_positive_int(fields["num_blocks"], f"{where}.num_blocks",
                                 LIMITS["residual units"]),
        channels=channels)


def _build_anchor(raw: Any, index: int) -> tuple[float, float]:
    where = f"anchors[{index}]"
    if (not isinstance(raw, list) or len(raw) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)):
        raise ConfigError(f"{where}: {_show(raw)} must be a pair of numbers "
                          "[width, height], as fractions of the image")
    width, height = float(raw[0]), float(raw[1])
    for value in (width, height):
        if not (math.isfinite(value) and 0.0 < value <= 1.0):
            raise ConfigError(f"{where}: {_show(raw)} must lie in (0, 1]: anchors are "
                              "fractions of the image size, not pixels (divide by image_size)")
    return (width, height)


def _check_consistency(config: ModelConfig) -> None:
    """Rules that relate fields to each other, each reported at the field to change."""
    layers = config.backbone_layers
    if not isinstance(layers[0], DownsampleConfig):
        raise ConfigError(f"backbone_layers[0].type: {layers[0].type!r} must be 'Downsample': "
                          "the backbone starts by reading the image with a strided conv")
    if layers[0].in_channels != 3:
        raise ConfigError(f"backbone_layers[0].in_channels: {layers[0].in_channels} must be 3, "
                          "the RGB channels of the input image")
    channels = 3
    for index, layer in enumerate(layers):
        field = "in_channels" if isinstance(layer, DownsampleConfig) else "channels"
        given = getattr(layer, field)
        if given != channels:
            raise ConfigError(
                f"backbone_layers[{index}].{field}: {given} does not match the {channels} "
                f"output channels of backbone_layers[{index - 1}]")
        channels = layer.out_channels if isinstance(layer, DownsampleConfig) else layer.channels

    expected_anchors = config.num_anchors_per_scale * config.num_detection_layers
    if len(config.anchors) != expected_anchors:
        raise ConfigError(
            f"anchors: has {len(config.anchors)} anchors, but num_anchors_per_scale "
            f"({config.num_anchors_per_scale}) x num_detection_layers "
            f"({config.num_detection_layers}) needs {expected_anchors}; add or remove anchors")
    if config.num_detection_layers > config.num_downsamples:
        raise ConfigError(
            f"num_detection_layers: {config.num_detection_layers} is more than the "
            f"{config.num_downsamples} Downsample layers; each head needs its own resolution, "
            "so lower it or add Downsample layers")
    total_stride = 2 ** config.num_downsamples
    for side in dict.fromkeys(config.input_size):
        if side % total_stride:
            lower = max(total_stride, side // total_stride * total_stride)
            raise ConfigError(
                f"image_size: {side} is not divisible by the backbone's total stride "
                f"{total_stride} (2 to the power of {config.num_downsamples} Downsample "
                f"layers); use a multiple of {total_stride}, such as {lower} or "
                f"{lower + total_stride}")


def _check_size(config: ModelConfig) -> None:
    """Refuse a backbone over ``MAX_BACKBONE_PARAMETERS``, counted from the config alone,
    before anything is allocated (each field may be within its bound while together they
    are not: 64 residual units of 4,096 channels are 5 billion weights)."""
    weights = 0
    for layer in config.backbone_layers:
        if isinstance(layer, DownsampleConfig):
            weights += 9 * layer.in_channels * layer.out_channels  # one 3x3 conv
        else:  # each unit: a 1x1 conv to half the channels and a 3x3 conv back
            weights += layer.num_blocks * 5 * layer.channels ** 2
    if weights > MAX_BACKBONE_PARAMETERS:
        raise ConfigError(f"backbone_layers: about {weights:,} weights, more than the "
                          f"{MAX_BACKBONE_PARAMETERS:,} this package builds; use fewer "
                          "channels or residual units")


def _check_keys(raw: Any, prefix: str, expected: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: must be a JSON object, "
                          f"not {type(raw).__name__}")
    for key in raw:
        if key not in expected:
            hint = _closest(key, [name for name in expected if name not in raw])
            raise ConfigError(f"{prefix}{key}: unknown key in {what}{hint}; "
                              f"the keys are: {', '.join(expected)}")
    for key in expected:
        if key not in raw:
            raise ConfigError(f"{prefix}{key}: missing; {what} needs all of: "
                              f"{', '.join(expected)}")
    return dict(raw)


def input_size(image_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``(width, height)`` of an ``image_size``: one side of a square, or width and height."""
    if isinstance(image_size, int):
        return image_size, image_size
    width, height = image_size
    return int(width), int(height)


def _image_size(value: Any) -> int | tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ConfigError(f"image_size: {_show(value)} must be one number (a square) or "
                              "[width, height]")
        width, height = (_positive_int(side, "image_size", LIMITS["image side"])
                         for side in value)
        return width if width == height else (width, height)
    return _positive_int(value, "image_size", LIMITS["image side"])


def _positive_int(value: Any, where: str, most: int) -> int:
    # bool is an int in Python; `true` in a config is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: {_show(value)} must be a whole number "
                          f"(got {type(value).__name__})")
    if value < 1:
        raise ConfigError(f"{where}: {value} must be at least 1")
    if value > most:
        raise ConfigError(f"{where}: {_show(value)} is more than the {most:,} this package "
                          "builds (a model that size would not fit in memory, or train in "
                          "any useful time); use a smaller value")
    return value


def _closest(word: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _show(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
