import pytest
import torch

from yolo_smol.data.augment import AugmentConfig, augment_batch, color_jitter, scale_translate


def _boxes_image(num_images=16, size=32, seed=0):
    """Black images, each with one white rectangle, and its target row."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(num_images, 3, size, size, dtype=torch.uint8)
    targets = []
    for index in range(num_images):
        width, height = torch.randint(4, 12, (2,), generator=generator).tolist()
        left = int(torch.randint(4, size - width - 4, (1,), generator=generator))
        top = int(torch.randint(4, size - height - 4, (1,), generator=generator))
        images[index, :, top:top + height, left:left + width] = 255
        targets.append([index, index % 10, (left + width / 2) / size, (top + height / 2) / size,
                        width / size, height / size])
    return images, torch.tensor(targets)


def _bright_box(image):
    """cxcywh fractions of the pixels brighter than mid-grey."""
    rows = torch.nonzero((image[0] > 180).any(dim=1)).flatten()
    cols = torch.nonzero((image[0] > 180).any(dim=0)).flatten()
    size = image.shape[-1]
    left, right, top, bottom = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    return torch.tensor([(left + right) / 2, (top + bottom) / 2, right - left,
                         bottom - top]).float() / size


def test_probability_zero_changes_nothing():
    images, targets = _boxes_image()
    out_images, out_targets = augment_batch(images, targets, AugmentConfig(prob=0.0))
    assert torch.equal(out_images, images) and torch.equal(out_targets, targets)


@pytest.mark.parametrize("seed", range(5))
def test_boxes_move_with_the_image(seed):
    images, targets = _boxes_image(seed=seed)
    config = AugmentConfig(prob=1.0, scale=(0.7, 1.3), translate=0.15, min_visible=0.99)
    generator = torch.Generator().manual_seed(seed)
    moved, moved_targets = scale_translate(images, targets, config, generator)
    assert len(moved_targets) > 0
    for target in moved_targets:
        index = int(target[0])
        # Within about a pixel (1 / 32) of where the rectangle landed in the image.
        torch.testing.assert_close(_bright_box(moved[index]), target[2:], atol=1.6 / 32, rtol=0)


def test_boxes_pushed_out_are_dropped_or_clipped():
    images, targets = _boxes_image(num_images=64)
    config = AugmentConfig(prob=1.0, scale=(1.0, 1.0), translate=0.5, min_visible=0.25)
    _, moved = scale_translate(images, targets, config, torch.Generator().manual_seed(1))
    assert 0 < len(moved) < len(targets)
    xyxy = torch.cat([moved[:, 2:4] - moved[:, 4:6] / 2, moved[:, 2:4] + moved[:, 4:6] / 2], 1)
    assert (xyxy >= -1e-6).all() and (xyxy <= 1 + 1e-6).all()
    assert torch.isfinite(moved).all()


def test_uncovered_pixels_are_grey():
    images = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    config = AugmentConfig(prob=1.0, scale=(0.5, 0.5), translate=0.0)
    moved, _ = scale_translate(images, torch.zeros(0, 6), config)
    assert (moved[:, :, 0, 0] == 114).all() and (moved[:, :, 16, 16] == 0).all()


def test_colour_jitter_keeps_grey_grey_and_changes_colour():
    grey = torch.full((8, 3, 8, 8), 100, dtype=torch.uint8)
    grey[:, :, :4] = 180  # some contrast to stretch
    out = color_jitter(grey, AugmentConfig(prob=1.0), torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8 and out.shape == grey.shape
    spread = out.int().max(dim=1).values - out.int().min(dim=1).values
    assert spread.max() <= 1  # hue and saturation leave grey alone
    assert not torch.equal(out, grey)
    colourful = torch.randint(0, 256, (8, 3, 8, 8), dtype=torch.uint8,
                              generator=torch.Generator().manual_seed(2))
    jittered = color_jitter(colourful, AugmentConfig(prob=1.0, brightness=0, contrast=0,
                                                     saturation=0, hue=0.1),
                            torch.Generator().manual_seed(0))
    assert (jittered.float() - colourful.float()).abs().mean() > 1


def test_targets_of_untouched_images_are_unchanged():
    images, targets = _boxes_image()
    _, moved = scale_translate(images, targets, AugmentConfig(prob=0.0))
    assert torch.equal(moved, targets)
