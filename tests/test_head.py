import torch

from yolo_smol.model.head import DetectionHead, UpsamplePath


def test_head_layout_is_anchor_major_then_grid_then_outputs():
    head = DetectionHead(in_channels=64, width=32, num_anchors=2, num_classes=10).eval()
    route, raw = head(torch.randn(3, 64, 4, 4))
    assert route.shape == (3, 32, 4, 4)
    assert raw.shape == (3, 2, 4, 4, 15)
    # The same numbers as the final conv's output, channel a * 15 + k -> raw[:, a, ..., k].
    flat = head.predict(route)  # (B, A * (5 + C), S, S)
    torch.testing.assert_close(raw[:, 1, 2, 3, 7], flat[:, 1 * 15 + 7, 2, 3])
    torch.testing.assert_close(raw[:, 0, 0, 1, 4], flat[:, 4, 0, 1])


def test_final_layer_is_a_1x1_conv_with_bias():
    head = DetectionHead(in_channels=48, width=16, num_anchors=1, num_classes=10)
    final = head.predict[-1]
    assert final.kernel_size == (1, 1) and final.out_channels == 15 and final.bias is not None


def test_upsample_path_halves_channels_and_doubles_resolution():
    path = UpsamplePath(32)
    out = path(torch.randn(2, 32, 4, 4))
    assert out.shape == (2, 16, 8, 8)
    # Nearest upsampling: each 2x2 block repeats one value.
    assert torch.equal(out[:, :, 0::2, 0::2], out[:, :, 1::2, 1::2])
