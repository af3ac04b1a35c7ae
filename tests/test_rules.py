"""The reading's rules: one line, left to right, merging and softening across classes."""

import pytest
import torch


def test_digits_off_the_numbers_row_or_size_are_left_out_of_the_reading():
    from yolo_smol.reading.rules import on_one_line

    row = [[10.0, 10, 20, 40], [22.0, 11, 32, 41], [34.0, 9, 44, 39]]  # three digits, 30 px
    boxes = torch.tensor(row + [[50.0, 60, 60, 90],    # a digit's size, but below the row
                                [70.0, 20, 74, 28],    # on the row, far too small
                                [80.0, 0, 100, 80]])   # on the row, far too tall
    assert on_one_line(boxes).tolist() == [True] * 3 + [False] * 3
    assert on_one_line(torch.tensor(row)).all()
    assert on_one_line(torch.tensor(row[:1])).tolist() == [True]
    assert on_one_line(torch.zeros(0, 4)).shape == (0,)
    # Two digits: the median is the lower of the two (torch.median's), so both stay
    # unless they differ by a lot.
    assert on_one_line(torch.tensor([[0.0, 0, 10, 30], [12.0, 2, 22, 30]])).all()


def test_the_batched_reading_rules_agree_with_the_rules_image_by_image():
    """on_the_line and left_to_right for a whole batch give, image by image, what
    on_one_line and a stable sort by box centre give: images of 0, 1, 2 (an even count,
    whose median is the lower middle value) and many rows, whole-pixel boxes so that
    heights and centres tie, and a batch of one image (a table without padding)."""
    from yolo_smol.detection.postprocess import Detections
    from yolo_smol.reading.rules import left_to_right, on_one_line, on_the_line

    generator = torch.Generator().manual_seed(0)
    images = []
    for count in [0, 1, 2, 3, 4, 7, 2, 0, 12, 5, 9, 6]:
        corner = torch.randint(0, 40, (count, 2), generator=generator).float()
        size = torch.randint(2, 40, (count, 2), generator=generator).float()
        scores = torch.rand(count, generator=generator).sort(descending=True).values
        images.append(Detections.of_image(torch.cat([corner, corner + size], dim=1), scores,
                                          torch.randint(0, 10, (count,), generator=generator)))
    batch = Detections.cat(images)
    kept = on_the_line(batch)
    assert torch.equal(kept, torch.cat([on_one_line(image.boxes_xyxy) for image in images]))
    assert 0 < int(kept.sum()) < batch.num_detections  # the rule keeps some, drops some
    for image in images[:3] + images[8:9]:
        assert torch.equal(on_the_line(image), on_one_line(image.boxes_xyxy))
    ordered = left_to_right(batch)
    assert ordered.counts.tolist() == batch.counts.tolist()
    ties = 0
    for image, view in zip(images, ordered, strict=True):
        centres = (image.boxes_xyxy[:, 0] + image.boxes_xyxy[:, 2]) / 2
        ties += len(centres) - len(centres.unique())
        order = torch.argsort(centres, stable=True)
        assert torch.equal(view.boxes_xyxy, image.boxes_xyxy[order])
        assert torch.equal(view.scores, image.scores[order])
        assert torch.equal(view.labels, image.labels[order])
    assert ties > 0  # tied centres were there to keep in order


def test_a_digit_another_class_covers_more_confidently_keeps_half_its_score():
    from yolo_smol.detection.postprocess import Detections
    from yolo_smol.reading.rules import demote_other_classes

    rows = [  # (box, score, label), best first, as detect returns them
        ([0.0, 0, 10, 20], 0.9, 1),    # a "1"
        ([30.0, 0, 40, 20], 0.7, 9),   # a "9"
        ([1.0, 0, 11, 20], 0.6, 7),    # a "7" on the "1" (IoU 0.82): covered by it
        ([0.5, 1, 10, 21], 0.5, 1),    # a second "1" there: not by the "1", but by the "7",
                                       # whose score as given is higher
        ([30.0, 0, 40, 20], 0.4, 4),   # a "4" on the "9": covered
        ([60.0, 0, 70, 20], 0.35, 2),  # a "2" alone
        ([8.0, 0, 18, 20], 0.32, 3),   # a "3" that barely touches the "1" (IoU 0.11)
    ]
    image = Detections.of_image(torch.tensor([box for box, _, _ in rows]),
                                torch.tensor([score for _, score, _ in rows]),
                                torch.tensor([label for _, _, label in rows]))
    other = Detections.of_image(torch.tensor([[5.0, 5, 15, 25]]), torch.tensor([0.8]),
                                torch.tensor([5]))
    batch = Detections.cat([image, other, Detections.of_image(torch.zeros(0, 4),
                                                              torch.zeros(0),
                                                              torch.zeros(0, dtype=torch.long))])
    demoted = demote_other_classes(batch, overlap_threshold=0.3, factor=0.5)
    first, second, third = list(demoted)
    # Best first again: the "2" and the "3" now rank above the demoted "7", "1" and "4".
    assert first.labels.tolist() == [1, 9, 2, 3, 7, 1, 4]
    torch.testing.assert_close(first.scores, torch.tensor([0.9, 0.7, 0.35, 0.32, 0.3, 0.25, 0.2]))
    assert torch.equal(first.boxes_xyxy[4], torch.tensor([1.0, 0, 11, 20]))  # rows moved whole
    assert second.scores.tolist() == [pytest.approx(0.8)] and third.num_detections == 0
    # Image by image the same, and a factor of 1 changes nothing.
    for part, alone in zip([image, other], [first, second], strict=True):
        torch.testing.assert_close(demote_other_classes(part).scores, alone.scores)
    unchanged = demote_other_classes(batch, factor=1.0)
    assert torch.equal(unchanged.scores, batch.scores)
    assert torch.equal(unchanged.boxes_xyxy, batch.boxes_xyxy)
