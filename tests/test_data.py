import pytest
import torch

from tests.fixtures_data import LOOSE_FEATURES, make_dataset, png_bytes, two_colour_png
from yolo_smol.data.prepare import DataError, collate, iterate_batches, prepare
from yolo_smol.data.synthetic import make_synthetic


def test_boxes_become_cxcywh_fractions_and_images_squares():
    dataset = make_dataset([(png_bytes(100, 50), [[10, 5, 20, 40]], [3]),
                            (png_bytes(64, 32), [[0, 0, 16, 32], [16, 8, 8, 16]], [1, 0])])
    data = prepare(dataset, image_size=32)
    assert data.images.shape == (2, 3, 32, 32) and data.images.dtype == torch.uint8
    image, boxes, labels = data[0]
    torch.testing.assert_close(boxes, torch.tensor([[0.2, 0.5, 0.2, 0.8]]))
    assert labels.tolist() == [3]
    _, boxes, labels = data[1]
    torch.testing.assert_close(boxes, torch.tensor([[0.125, 0.5, 0.25, 1.0],
                                                    [0.3125, 0.5, 0.125, 0.5]]))
    assert labels.tolist() == [1, 0] and data.num_clipped == data.num_dropped == 0


def test_images_are_squashed_not_padded():
    data = prepare(make_dataset([(two_colour_png(100, 50), [], [])]), image_size=32)
    image = data.images[0].int()
    assert (image[0, :, :14] > 240).all() and (image[2, :, :14] < 15).all()  # red left
    assert (image[2, :, 18:] > 240).all() and (image[0, :, 18:] < 15).all()  # blue right


def test_boxes_outside_the_image_are_clipped_and_counted():
    dataset = make_dataset([(png_bytes(100, 50), [[-10, 5, 30, 60], [90, 0, 20, 50]], [1, 2])])
    data = prepare(dataset, image_size=32)
    assert data.num_clipped == 2 and data.num_dropped == 0
    torch.testing.assert_close(data.boxes_cxcywh, torch.tensor([[0.1, 0.55, 0.2, 0.9],
                                                                [0.95, 0.5, 0.1, 1.0]]))


def test_boxes_under_one_pixel_after_resizing_are_dropped_and_counted():
    # 2 px of 100 become 0.64 px of 32; a 0-height box is dropped too.
    dataset = make_dataset([(png_bytes(100, 50), [[10, 10, 2, 30], [30, 10, 20, 0],
                                                  [50, 10, 20, 30]], [1, 2, 3])])
    data = prepare(dataset, image_size=32)
    assert data.num_dropped == 2 and data.labels.tolist() == [3]


def test_images_without_digits_are_kept():
    dataset = make_dataset([(png_bytes(40, 20), [], []), (png_bytes(40, 20), [[1, 1, 9, 9]],
                                                           [5])])
    data = prepare(dataset, image_size=32)
    assert len(data) == 2 and data[0][1].shape == (0, 4) and data.offsets.tolist() == [0, 0, 1]


def test_corrupt_image_names_the_row():
    dataset = make_dataset([(png_bytes(40, 20), [[1, 1, 9, 9]], [5]),
                            (b"this is not an image", [[1, 1, 9, 9]], [5])])
    with pytest.raises(DataError, match="row 1: the image .* cannot be decoded"):
        prepare(dataset, image_size=32)


def test_corrupt_image_is_reported_from_worker_processes_too():
    rows = [(png_bytes(40, 20), [[1, 1, 9, 9]], [5])] * 9 + [(b"\x89PNG broken", [], [])]
    with pytest.raises(DataError, match="row 9: the image"):
        prepare(make_dataset(rows), image_size=32, num_proc=2)


def test_negative_box_size_names_row_and_box():
    dataset = make_dataset([(png_bytes(40, 20), [[1, 1, 9, 9], [5, 5, -3, 8]], [5, 6])])
    with pytest.raises(DataError, match=r"row 0, box 1: \[5, 5, -3, 8\] has a negative size"):
        prepare(dataset, image_size=32)


def test_label_outside_digits_names_row():
    dataset = make_dataset([(png_bytes(40, 20), [[1, 1, 9, 9]], [12])], features=LOOSE_FEATURES)
    with pytest.raises(DataError, match="row 0, box 0: label 12 is outside 0 to 9"):
        prepare(dataset, image_size=32)


@pytest.fixture(scope="module")
def synthetic_data():
    return prepare(make_synthetic(200, seed=5), image_size=32)


def test_batch_equals_collate_of_samples(synthetic_data):
    indices = torch.tensor([17, 3, 150, 3, 99])
    images, targets = synthetic_data.batch(indices)
    expected_images, expected_targets = collate([synthetic_data[i] for i in indices.tolist()])
    assert torch.equal(images, expected_images) and torch.equal(targets, expected_targets)
    assert targets.shape[1] == 6 and set(targets[:, 0].long().tolist()) <= set(range(5))


def test_iterate_batches_visits_every_image_once(synthetic_data):
    generator = torch.Generator().manual_seed(0)
    seen = []
    total_boxes = 0
    for images, targets in iterate_batches(synthetic_data, 64, generator=generator):
        assert images.shape[1:] == (3, 32, 32)
        seen.append(images)
        total_boxes += len(targets)
    assert sum(len(batch) for batch in seen) == 200
    assert [len(batch) for batch in seen] == [64, 64, 64, 8]
    assert total_boxes == len(synthetic_data.labels)
    dropped = list(iterate_batches(synthetic_data, 64, drop_last=True))
    assert [len(images) for images, _ in dropped] == [64, 64, 64]


def test_collate_of_nothing():
    images = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    _, targets = collate([(images[0], torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))])
    assert targets.shape == (0, 6)


def test_a_wide_input_keeps_box_fractions_and_stores_height_by_width():
    dataset = make_dataset([(png_bytes(100, 50), [[10, 5, 20, 40]], [3])])
    data = prepare(dataset, image_size=(64, 32))
    assert data.images.shape == (1, 3, 32, 64)  # (N, 3, H, W)
    torch.testing.assert_close(data[0][1], torch.tensor([[0.2, 0.5, 0.2, 0.8]]))
    wide = prepare(make_dataset([(two_colour_png(100, 50), [], [])]), image_size=(64, 32))
    image = wide.images[0].int()
    assert (image[0, :, :28] > 240).all() and (image[2, :, 36:] > 240).all()


def test_a_box_wholly_outside_its_image_is_dropped_not_counted_as_clipped():
    dataset = make_dataset([(png_bytes(100, 50), [[120, 10, 20, 30], [10, 10, 20, 30]], [1, 2])])
    data = prepare(dataset, image_size=32)
    assert (data.num_clipped, data.num_dropped) == (0, 1) and data.labels.tolist() == [2]


def test_a_prepared_set_left_without_boxes_is_refused_and_drops_are_said():
    from yolo_smol.data.prepare import boxes_note, require_boxes

    outside = prepare(make_dataset([(png_bytes(40, 30), [[50, 0, 5, 9], [0, 40, 5, 9]], [1, 2])]),
                      image_size=32)
    assert boxes_note(outside, "mine (test split)") == (
        "mine (test split): 0 boxes clipped to their image, 2 dropped (outside their image, "
        "or under 1 px once resized)")
    with pytest.raises(DataError, match=r"^mine \(test split\): all 2 of its boxes were dropped"):
        require_boxes(outside, "mine (test split)")
    kept = prepare(make_dataset([(png_bytes(40, 30), [[1, 1, 9, 9]], [5])]), image_size=32)
    assert require_boxes(kept, "mine") is kept and boxes_note(kept, "mine") is None
