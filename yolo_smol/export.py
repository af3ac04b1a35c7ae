"""Taking a trained model to other runtimes: ONNX.

The exported graph is the network alone: ``images (B, 3, H, W)`` float in [0, 1] in, the
raw head maps out, ``head0 (B, A, H/s0, W/s0, 5 + C)`` coarsest first, exactly what
``YoloSmol.forward`` returns. The batch is dynamic; the input size is the config's.
Decoding the maps into boxes (chapter 5's ``decode_boxes``), thresholds, NMS and reading
the number are the consumer's job, as in most exported detectors: they are a few lines of
array code in any language, and keeping them out keeps the graph portable. What a consumer
needs for that, the config with its anchors, is stored in the file's metadata
(``yolo_smol_config``, JSON).

Needs the optional extra: ``pip install "yolo-smol[export]"`` (onnx, onnxruntime).
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch

from yolo_smol.errors import YoloSmolError
from yolo_smol.model.yolo import YoloSmol
from yolo_smol.outputs import write_bytes

__all__ = ["ExportError", "FORMATS", "export_onnx"]

FORMATS = ("onnx",)
OPSET = 17


class ExportError(YoloSmolError):
    """An export that cannot be done here (a missing extra, an unknown format)."""


def export_onnx(model: YoloSmol, path: str | Path, opset: int = OPSET) -> Path:
    """Write ``model`` as an ONNX graph with a dynamic batch to ``path``.

    The caller's model is not changed (a CPU copy in eval mode is traced).

    Raises:
        ExportError: the ``onnx`` package (the ``export`` extra) is not installed.
        WriteError: the file could not be written (a full disk, ...); nothing half-written
            is left at ``path``.
    """
    try:
        import onnx
    except ImportError:
        raise ExportError('ONNX export needs the onnx package: pip install "yolo-smol[export]"'
                          ) from None
    import copy

    traced = copy.deepcopy(model).cpu().eval()
    width, height = traced.config.input_size
    example = torch.zeros(1, 3, height, width)
    outputs = [f"head{index}" for index in range(traced.config.num_detection_layers)]
    with warnings.catch_warnings():
        # The tracer notes that forward's input checks are fixed at trace time: they are
        # checks of the shape the graph is built for, so that is what they should be.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        # In memory (the graph is a few hundred kB), so that the file is written once, whole.
        buffer = io.BytesIO()
        torch.onnx.export(traced, (example,), buffer, input_names=["images"],
                          output_names=outputs, opset_version=opset, dynamo=False,
                          dynamic_axes={name: {0: "batch"} for name in ["images", *outputs]})
    graph = onnx.load_from_string(buffer.getvalue())
    for key, value in (("yolo_smol_config", traced.config.to_json()),
                       ("yolo_smol_outputs", json.dumps(
                           {name: "raw (B, A, S_h, S_w, 5 + C): tx, ty, tw, th, objectness, "
                                  "class logits; decode as yolo_smol.detection.decode"
                            for name in outputs}))):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    return write_bytes(path, graph.SerializeToString())
