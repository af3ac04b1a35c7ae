import pytest
import torch
import torchvision
from torchvision.ops import box_convert

from yolo_smol.boxes import (
    clip_xyxy,
    cxcywh_to_xyxy,
    pairwise_iou,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)


@pytest.fixture
def boxes_xyxy():
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(200, 2, 2, generator=generator) * 100
    return torch.cat([corners.min(1).values, corners.max(1).values], dim=1)  # (200, 4)


@pytest.mark.parametrize("ours, source, target", [
    (xyxy_to_xywh, "xyxy", "xywh"), (xyxy_to_cxcywh, "xyxy", "cxcywh")])
def test_from_xyxy_matches_torchvision(boxes_xyxy, ours, source, target):
    torch.testing.assert_close(ours(boxes_xyxy), box_convert(boxes_xyxy, source, target))


@pytest.mark.parametrize("ours, fmt", [(xywh_to_xyxy, "xywh"), (cxcywh_to_xyxy, "cxcywh")])
def test_to_xyxy_matches_torchvision(boxes_xyxy, ours, fmt):
    converted = box_convert(boxes_xyxy, "xyxy", fmt)
    torch.testing.assert_close(ours(converted), box_convert(converted, fmt, "xyxy"))
    torch.testing.assert_close(ours(converted), boxes_xyxy, atol=1e-4, rtol=0)


def test_conversions_keep_leading_dimensions():
    boxes = torch.rand(3, 5, 4)
    assert cxcywh_to_xyxy(boxes).shape == (3, 5, 4)


def test_clip():
    boxes = torch.tensor([[-5.0, 2.0, 50.0, 120.0], [10.0, 10.0, 20.0, 20.0]])
    assert clip_xyxy(boxes, 40, 100).tolist() == [[0, 2, 40, 100], [10, 10, 20, 20]]


def test_pairwise_iou_matches_torchvision_and_batches():
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(3, 20, 2, generator=generator) * 40
    boxes = torch.cat([corners, corners + torch.rand(3, 20, 2, generator=generator) * 15], -1)
    boxes[0, 3, 2:] = boxes[0, 3, :2]  # a zero-area box
    ours = pairwise_iou(boxes, boxes[:, :7])  # (3, 20, 7)
    for index in range(3):
        expected = torchvision.ops.box_iou(boxes[index], boxes[index, :7])
        torch.testing.assert_close(ours[index], expected.nan_to_num(0.0))
    assert (ours[0, 3] == 0).all() and (ours[0, :, 3] == 0).all()
