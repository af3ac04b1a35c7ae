import datasets
import pytest
import torch
from torchvision.ops import box_convert

from yolo_smol import Detector, load_model
from yolo_smol.data.prepare import prepare
from yolo_smol.data.synthetic import make_synthetic
from yolo_smol.reading.detector import SHIPPED_WEIGHTS
from yolo_smol.reading.scoring import score_detector, true_digits
from yolo_smol.training.evaluate import evaluate


def test_true_digits_are_xyxy_in_the_photos_pixels_in_reading_order():
    rows = make_synthetic(5, seed=2, split="test")
    for row, truth in zip(rows, true_digits(rows), strict=True):
        xywh = torch.tensor(row["digits"]["bbox"], dtype=torch.float32)
        torch.testing.assert_close(truth.boxes_xyxy, box_convert(xywh, "xywh", "xyxy"))
        assert truth.labels.tolist() == row["digits"]["label"]


def test_one_look_scores_as_eval_on_photos_already_the_models_size():
    # Photos exactly 128 x 64 are not resized, so the Detector's one look at them is the
    # network's look at eval's prepared images, and both mAPs must agree once the Detector
    # leaves the scores as class-aware NMS gives them, as eval does (other_class_factor 1),
    # and reads at the model's own input size alone (scales 1).
    model = load_model(SHIPPED_WEIGHTS)
    generated = make_synthetic(40, seed=4, split="test")
    rows = []
    for row in generated:
        scale_x, scale_y = 128 / row["image"].width, 64 / row["image"].height
        row["image"] = row["image"].convert("RGB").resize((128, 64))
        # Stored as SVHN stores boxes: whole pixels, truncated.
        row["digits"]["bbox"] = [[int(x * scale_x), int(y * scale_y), int(w * scale_x),
                                  int(h * scale_y)] for x, y, w, h in row["digits"]["bbox"]]
        rows.append(row)
    rows = datasets.Dataset.from_list(rows, generated.features)
    once = Detector(model, device="cpu", second_look=False, search=False,
                    other_class_factor=1.0, scales=(1.0,))
    photos = [row["image"].convert("RGB") for row in rows]
    score = score_detector(once, photos, true_digits(rows))
    expected = evaluate(model, prepare(rows, model.config.image_size))
    assert score.metrics.ap50 == pytest.approx(expected.metrics.ap50, abs=1e-6)
    assert score.metrics.map == pytest.approx(expected.metrics.map, abs=1e-6)
    truth = ["".join(map(str, row["digits"]["label"])) for row in rows]
    assert score.read_exactly == sum(
        reading.number == number for reading, number in zip(score.readings, truth,
                                                            strict=True)) / len(rows)
    assert 0 < score.read_exactly < 1  # some read, some not: the comparison is exercised
    with pytest.raises(ValueError, match="40 photos but 39"):
        score_detector(once, photos, true_digits(rows.select(range(39))))


def test_the_bootstrap_interval_spans_what_other_draws_of_the_photos_give():
    from yolo_smol.detection.metrics import GroundTruth, mean_average_precision
    from yolo_smol.detection.postprocess import Detections
    from yolo_smol.reading.scoring import bootstrap_ap50

    box = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    right = (Detections.of_image(box, torch.tensor([0.9]), torch.tensor([3])),
             GroundTruth(box, torch.tensor([3])))
    # A "3" missed, and a more confident "3" where there is none: how many such photos a
    # draw holds moves the 3s' precision and recall, so mAP differs from draw to draw.
    wrong = (Detections.of_image(box + 50, torch.tensor([0.95]), torch.tensor([3])),
             GroundTruth(box, torch.tensor([3])))
    # Photos all alike: every draw is the same set, so the interval is one point.
    scored, truths = zip(*[right] * 6, strict=True)
    assert bootstrap_ap50(scored, truths, 10, resamples=50) == (1.0, 1.0)
    # Some right, some wrong: draws differ, and the whole set lies inside their spread.
    scored, truths = zip(*([right] * 6 + [wrong] * 4), strict=True)
    whole = mean_average_precision(Detections.cat(scored), list(truths), 10).ap50
    low, high = bootstrap_ap50(scored, truths, 10, resamples=200, seed=1)
    assert low < whole < high and (low, high) == bootstrap_ap50(scored, truths, 10, 200, seed=1)
    with pytest.raises(ValueError, match="10 photos' detections but 9"):
        bootstrap_ap50(scored, truths[:9], 10)


def test_the_bootstrap_of_a_share_spans_what_the_binomial_spread_says():
    from yolo_smol.reading.scoring import bootstrap_share

    assert bootstrap_share([True] * 20, resamples=50) == (1.0, 1.0)
    hits = [index % 3 != 0 for index in range(427)]  # two in three read, as on real photos
    share = sum(hits) / len(hits)
    low, high = bootstrap_share(hits, resamples=2000, seed=3)
    assert low < share < high and (low, high) == bootstrap_share(hits, 2000, seed=3)
    # The 90 % normal interval of a share p of n photos is p +- 1.645 sqrt(p (1 - p) / n).
    half_width = 1.645 * (share * (1 - share) / len(hits)) ** 0.5
    assert abs((high - low) / 2 - half_width) < 0.15 * half_width
    with pytest.raises(ValueError, match="no photos"):
        bootstrap_share([])


def test_scoring_checks_its_arguments_in_one_line():
    from yolo_smol.reading.options import ReadingError
    from yolo_smol.reading.scoring import bootstrap_share

    with pytest.raises(ReadingError, match="detector: a str; give a Detector"):
        score_detector("weights.pt", [], [])
    with pytest.raises(ReadingError, match="resamples: 0 must be a whole number >= 1"):
        bootstrap_share([True], resamples=0)
    with pytest.raises(ReadingError, match="level: 1 must lie strictly between 0 and 1"):
        bootstrap_share([True], level=1)
