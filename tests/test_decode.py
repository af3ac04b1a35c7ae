import torch

from yolo_smol.detection.decode import MAX_LOG_SCALE, cell_grid, decode_boxes, encode_boxes


def test_encode_then_decode_gives_the_boxes_back():
    generator = torch.Generator().manual_seed(0)
    count, height, width = 500, 8, 8
    boxes = torch.rand(count, 4, generator=generator, dtype=torch.float64)
    boxes[:, 2:] = boxes[:, 2:] * 0.9 + 0.02
    anchors = torch.tensor([[0.15, 0.73], [0.1, 0.46]], dtype=torch.float64)
    which = torch.randint(2, (count,), generator=generator)
    cells, offsets, log_scales = encode_boxes(boxes, anchors[which], height, width)
    assert ((offsets >= 0) & (offsets < 1)).all()
    # Write each box's targets into a raw map at its cell and anchor, then decode.
    raw = torch.zeros(count, 2, height, width, 15, dtype=torch.float64)
    index = (torch.arange(count), which, cells[:, 1], cells[:, 0])
    raw[index + (slice(0, 2),)] = torch.logit(offsets)
    raw[index + (slice(2, 4),)] = log_scales
    decoded = decode_boxes(raw, anchors)[index]  # (count, 4)
    torch.testing.assert_close(decoded, boxes, atol=1e-5, rtol=0)


def test_decode_of_zero_logits_is_the_anchor_at_the_cell_centre():
    raw = torch.zeros(1, 1, 4, 4, 15)
    boxes = decode_boxes(raw, torch.tensor([[0.15, 0.73]]))
    torch.testing.assert_close(boxes[0, 0, 2, 1], torch.tensor([0.375, 0.625, 0.15, 0.73]))


def test_extreme_logits_stay_finite():
    raw = torch.full((1, 1, 2, 2, 15), 1e4)
    boxes = decode_boxes(raw, torch.tensor([[0.1, 0.5]]))
    assert torch.isfinite(boxes).all()
    assert torch.allclose(boxes[..., 2], torch.tensor(0.1 * torch.e ** MAX_LOG_SCALE))


def test_centres_on_the_far_edge_belong_to_the_last_cell():
    cells, offsets, _ = encode_boxes(torch.tensor([[1.0, 1.0, 0.1, 0.1], [0.0, 0.0, 0.1, 0.1]]),
                                     torch.tensor([[0.1, 0.1], [0.1, 0.1]]), 4, 4)
    assert cells.tolist() == [[3, 3], [0, 0]] and offsets.tolist() == [[1, 1], [0, 0]]


def test_cell_grid():
    cols, rows = cell_grid(2, 3)
    assert cols.tolist() == [[0, 1, 2], [0, 1, 2]] and rows.tolist() == [[0, 0, 0], [1, 1, 1]]
