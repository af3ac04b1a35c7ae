"""ONNX export: the file runs in onnxruntime and gives PyTorch's outputs."""

import json

import numpy as np
import pytest
import torch

from yolo_smol.cli import main
from yolo_smol.reading.detector import SHIPPED_WEIGHTS

onnxruntime = pytest.importorskip(
    "onnxruntime", reason='the export extra is not installed: pip install "yolo-smol[export]"')
onnx = pytest.importorskip("onnx", reason="the export extra is not installed")


def test_the_exported_detector_runs_in_onnxruntime_as_in_pytorch(tmp_path, capsys):
    from yolo_smol import load_model

    output = tmp_path / "detector.onnx"
    assert main(["export", "--weights", str(SHIPPED_WEIGHTS), "--format", "onnx",
                 "--output", str(output)]) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    model = load_model(SHIPPED_WEIGHTS)
    session = onnxruntime.InferenceSession(str(output))
    width, height = model.config.input_size
    for batch in (1, 5):  # the batch is dynamic
        images = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(batch))
        found = session.run(None, {"images": images.numpy()})
        with torch.no_grad():
            expected = model(images)
        assert len(found) == len(expected) == 2
        for ours, theirs in zip(found, expected, strict=True):
            assert ours.shape == tuple(theirs.shape)
            np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-4, rtol=0)
    metadata = {entry.key: entry.value for entry in onnx.load(str(output)).metadata_props}
    assert json.loads(metadata["yolo_smol_config"]) == model.config.to_dict()


def test_export_refuses_an_output_it_cannot_write_before_exporting(tmp_path, capsys):
    assert main(["export", "--output", str(tmp_path / "detector.pt")]) == 2
    assert "unknown extension '.pt'; end the name with one of .onnx" in capsys.readouterr().err
