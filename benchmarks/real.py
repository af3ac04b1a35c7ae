"""How well a detector reads real house-number photos: mAP, whole numbers, and what goes wrong.

Scores ``--weights`` on a JSON-lines set of real photos with boxes (by default the SVHN
development photos kept beside the repository, ``../shared/svhn_real_dev``; they are for
measuring only and never enter the repository). Prints

- mAP@0.5, mAP@0.5:0.95 and whole-number accuracy, exactly as ``yolo-smol eval`` scores them
  (one look at each photo);
- mAP@0.5 and mAP@0.5:0.95 of the ``Detector`` as ``yolo-smol detect`` runs it: the scored
  digits of all the looks it takes at a photo (``Detector.detections``; a digit that a more
  confident digit of another class covers keeps ``--other_class_factor`` of its score, 0.5
  as in the ``Detector``, 1 for the plain merged looks);
- how far that mAP@0.5 could move on other photos like these: the middle 90 % of it over
  ``--bootstrap`` draws of the photos with replacement (0 skips it);
- the share of photos the ``Detector`` reads exactly, as ``yolo-smol detect`` reads them
  (with its search where the whole photo shows nothing, unless ``--search 0``, and its
  second look, unless ``--second_look 0``), and AP@0.5 digit by digit over all its looks;
- an error breakdown of the digits read (above ``--confidence_threshold``, one per place),
  matched one to one with the true digits at IoU >= 0.5 (boxes in the photo's pixels):
  true digits missed, false digits per photo, digits found but misread;
- whole-number accuracy by digits per photo and by photo height;

and appends one row to ``--csv`` (default ``benchmarks/results/real.csv``) so that an
ablation accumulates, one run per row, labelled by ``--label`` (its name is the label up to
the first colon) and placed by ``--recipe --idea --kept --step --baseline --seed_group``,
from which the book's appendix on real photos draws its tables.

Run: .venv/bin/python benchmarks/real.py --weights weights/smol64.pt [--dataset PATH]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import io
import itertools
import json
import sys
from pathlib import Path

import datasets
import numpy as np
import torch
from torchvision.ops import box_iou

from yolo_smol import load_model
from yolo_smol.data.sources import load_dataset_source
from yolo_smol.detection.metrics import GroundTruth
from yolo_smol.outputs import write_text
from yolo_smol.reading.detector import Detector
from yolo_smol.reading.options import ReadingOptions
from yolo_smol.reading.scoring import bootstrap_ap50, bootstrap_share, score_detector, true_digits
from yolo_smol.training.evaluate import evaluate_to_dir

REPO = Path(__file__).resolve().parent.parent
DEV_SET = REPO.parent / "shared" / "svhn_real_dev" / "annotations.jsonl"
HEIGHT_BINS = (0, 30, 40, 50, 70, 100, 150)  # px; the dev set is stratified on these
COLUMNS = ("date", "label", "weights", "dataset", "development_photos", "map50", "map",
           "whole_number_accuracy", "missed_fraction", "false_per_photo", "misread_fraction",
           "seconds", "read_exactly", "second_look", "search", "map50_detector",
           "map_detector", "sure_fraction", "max_end_gap", "scales",
           # Every option the Detector read with: json.dumps(dataclasses.asdict(options)).
           "reading_options",
           # Where the run stands in the ablation, for the appendix's tables (see --help).
           "recipe", "idea", "kept", "step", "baseline", "seed_group")


def breakdown(readings, truths: list[GroundTruth], iou_threshold: float = 0.5) -> dict:
    """Missed, false and misread digits, and exact readings by digits and by photo height.

    Args:
        readings: one :class:`~yolo_smol.reading.rules.Reading` per photo.
        truths: per photo, the true boxes (xyxy, the photo's pixels) and digits in reading
            order (left to right), as :func:`yolo_smol.reading.scoring.true_digits` gives them.
    """
    missed = misread = false = total = 0
    exact = []
    for reading, truth in zip(readings, truths, strict=True):
        found, boxes, labels = reading.detections, truth.boxes_xyxy, truth.labels
        total += len(labels)
        matched_truth = set()
        if len(found.labels) and len(labels):
            iou = box_iou(found.boxes_xyxy, boxes)  # (D, M)
            # Greedy one to one, best pair first (as COCO matches, but across classes).
            order = torch.argsort(iou.flatten(), descending=True)
            used_found = set()
            for flat in order.tolist():
                row, column = divmod(flat, len(labels))
                if iou[row, column] < iou_threshold:
                    break
                if row in used_found or column in matched_truth:
                    continue
                used_found.add(row)
                matched_truth.add(column)
                misread += int(found.labels[row] != labels[column])
            false += len(found.labels) - len(used_found)
        else:
            false += len(found.labels)
        missed += len(labels) - len(matched_truth)
        exact.append(reading.number == "".join(str(int(d)) for d in labels))
    photos = len(exact)
    return {"missed_fraction": missed / max(total, 1), "false_per_photo": false / max(photos, 1),
            "misread_fraction": misread / max(total, 1), "exact": np.array(exact),
            "digits": total}


def _by_group(exact: np.ndarray, groups: np.ndarray, names: list[str]) -> str:
    parts = []
    for value, name in enumerate(names):
        members = groups == value
        if members.any():
            parts.append(f"{name}: {exact[members].mean():.3f} ({int(members.sum())})")
    return "   ".join(parts)


def append_row(csv_path: Path, row: dict) -> None:
    """One row more in the ablation CSV; a file written before a column was added is
    rewritten with it (empty in the old rows). Written aside and renamed into place, so a
    failed write leaves the earlier rows as they were."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(csv.DictReader(csv_path.open(newline=""))) if csv_path.is_file() else []
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows([*rows, row])
    write_text(csv_path, text.getvalue())


def reading_options(args: argparse.Namespace) -> ReadingOptions:
    """The options the Detector reads with: the flags given, else ReadingOptions' defaults
    (checked there, one line for a bad value)."""
    changes = {"second_look": bool(args.second_look), "search": bool(args.search),
               "other_class_factor": args.other_class_factor}
    if args.sure_fraction is not None:
        changes["sure_fraction"] = args.sure_fraction
    if args.max_end_gap is not None:  # a negative value keeps every end digit
        changes["max_end_gap"] = args.max_end_gap if args.max_end_gap >= 0 else None
    if args.scales is not None:
        changes["scales"] = tuple(float(scale) for scale in args.scales.split(","))
    return ReadingOptions(**changes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="a checkpoint to score")
    parser.add_argument("--dataset", default=None,
                        help=f"a JSON-lines file of real photos (default: {DEV_SET})")
    parser.add_argument("--confidence_threshold", type=float, default=0.25)
    parser.add_argument("--label", default="", help="what this run is, for the CSV row: its "
                        "name, a colon, what it changed")
    place = parser.add_argument_group(
        "the run's place in the ablation (CSV columns; the appendix on real photos reads them)")
    place.add_argument("--recipe", choices=("short", "full", "earlier"), default="full",
                       help="short: 12,000 generated images x 10 epochs; full: make weights")
    place.add_argument("--idea", default="", help="the change the run tries, named as in the "
                       "rows that try it too")
    place.add_argument("--kept", choices=("yes", "no", ""), default="",
                       help="whether the idea was kept (empty: a baseline or a draw)")
    place.add_argument("--step", default="", help="the number of the main step this run "
                       "measures, if it is one")
    place.add_argument("--baseline", default="", help="the names of the runs it is compared "
                       "with (same recipe, seed and reading), separated by '; '")
    place.add_argument("--seed_group", default="", help="the group of draws of one recipe "
                       "(other seeds) this run belongs to, for the seed spread")
    parser.add_argument("--csv", default=str(REPO / "benchmarks" / "results" / "real.csv"))
    parser.add_argument("--save_dir", default=str(REPO / "runs" / "real"),
                        help="where metrics.json and the plots go")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--scales", default=None,
                        help="the input sizes the Detector reads a whole photo at, as "
                             "multiples of the model's, comma-separated (default: the "
                             "Detector's, 0.875,1,1.125; 1: one size)")
    parser.add_argument("--second_look", type=int, choices=(0, 1), default=1,
                        help="read with the Detector's second look (1, as yolo-smol detect "
                             "does) or without it (0)")
    parser.add_argument("--search", type=int, choices=(0, 1), default=1,
                        help="where the whole photo shows no digits, search zoomed-in windows "
                             "(1, as yolo-smol detect does) or not (0)")
    parser.add_argument("--other_class_factor", type=float, default=0.5,
                        help="what a digit covered by a more confident digit of another class "
                             "keeps of its score in the Detector's scored digits (0.5, as the "
                             "Detector; 1: unchanged)")
    parser.add_argument("--sure_fraction", type=float, default=None,
                        help="read only digits scoring at least this fraction of the photo's "
                             "best (default: the Detector's)")
    parser.add_argument("--max_end_gap", type=float, default=None,
                        help="drop end digits set apart by more than this many digit heights "
                             "(default: the Detector's; a negative value keeps them)")
    parser.add_argument("--bootstrap", type=int, default=300,
                        help="draws of the photos for the interval of mAP@0.5 over all looks "
                             "(0: none)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset_path = Path(args.dataset) if args.dataset else DEV_SET
    if not dataset_path.is_file():
        print(f"benchmarks/real.py: no real photos at {dataset_path}. Give --dataset PATH: a "
              "JSON-lines file of {\"file\": ..., \"bbox\": [[x, y, w, h], ...], \"label\": "
              "[...]} with the photos beside it (see yolo-smol data --help).", file=sys.stderr)
        return 2
    datasets.disable_progress_bars()
    start = datetime.datetime.now()
    model = load_model(args.weights)
    dataset = load_dataset_source(dataset_path, "test")
    save_dir = Path(args.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    report = evaluate_to_dir(model, dataset, save_dir,
                             confidence_threshold=args.confidence_threshold,
                             description={"weights": args.weights, "dataset": str(dataset_path)})
    result = report.result
    photos = [row["image"].convert("RGB") for row in dataset]
    options = reading_options(args)
    detector = Detector(model, device="cpu", options=options)
    truths = true_digits(dataset)
    score = score_detector(detector, photos, truths, args.confidence_threshold)
    errors = breakdown(score.readings, truths)
    looks = score.metrics
    seconds = (datetime.datetime.now() - start).total_seconds()

    counts = np.array([min(len(truth.labels), 4) - 1 for truth in truths])
    heights = np.digitize([photo.height for photo in photos], HEIGHT_BINS[1:])
    height_names = [f"<{HEIGHT_BINS[1]}px",
                    *[f"{low}-{high}px" for low, high in itertools.pairwise(HEIGHT_BINS[1:])],
                    f">={HEIGHT_BINS[-1]}px"]
    print(f"{args.weights} on {len(photos)} development photos ({errors['digits']} digits) of "
          f"{dataset_path}; recipes were chosen on them, so these figures are optimistic")
    print(f"mAP@0.5               {result.metrics.ap50:.3f}")
    print(f"mAP@0.5:0.95          {result.metrics.map:.3f}")
    print(f"whole-number accuracy {result.whole_number_accuracy:.3f} (one look, as eval scores)")
    sizes = ", ".join(f"{width}x{height}" for width, height in detector.input_sizes)
    looks_taken = (f"the whole photo at {sizes}, search {'on' if args.search else 'off'}, "
                   f"second look {'on' if args.second_look else 'off'}")
    steps = (f"{looks_taken}, digits at least {options.sure_fraction:g} as sure as the best, "
             + ("end digits kept however far apart" if options.max_end_gap is None else
                f"end digits more than {options.max_end_gap:g} heights apart dropped"))
    print(f"mAP@0.5, all looks    {looks.ap50:.3f} (mAP@0.5:0.95 {looks.map:.3f}; the scored "
          f"digits of every look the Detector takes, {looks_taken}; a digit another class covers "
          f"more confidently scored x{args.other_class_factor:g})")
    if args.bootstrap:
        low, high = bootstrap_ap50(score.scored, truths, model.config.num_classes,
                                   args.bootstrap)
        print(f"  90 % of it          {low:.3f} to {high:.3f} (over {args.bootstrap} draws of "
              f"these {len(photos)} photos with replacement: how far other photos like them "
              "could move it)")
    print(f"read exactly          {score.read_exactly:.3f} (by the Detector, {steps}; "
          "as yolo-smol detect reads by default)")
    if args.bootstrap:
        low, high = bootstrap_share(errors["exact"], args.bootstrap)
        print(f"  90 % of it          {low:.3f} to {high:.3f} (the same draws' spread)")
    print("AP@0.5 by digit       " + "  ".join(
        f"{digit}: {ap:.2f}" for digit, ap in enumerate(looks.per_class_ap50))
          + " (all looks)")
    print(f"digits missed         {errors['missed_fraction']:.3f} of the true digits")
    print(f"false digits          {errors['false_per_photo']:.2f} per photo")
    print(f"digits misread        {errors['misread_fraction']:.3f} of the true digits "
          "(found, wrong class)")
    print("exact by digits       " + _by_group(errors["exact"], counts, ["1", "2", "3", "4+"]))
    print("exact by height       " + _by_group(errors["exact"], heights, height_names))
    csv_path = Path(args.csv)
    append_row(csv_path, {
        "date": start.strftime("%Y-%m-%d %H:%M"), "label": args.label,
        "weights": args.weights, "dataset": dataset_path.name, "development_photos": len(photos),
        "map50": f"{result.metrics.ap50:.4f}", "map": f"{result.metrics.map:.4f}",
        "whole_number_accuracy": f"{result.whole_number_accuracy:.4f}",
        "missed_fraction": f"{errors['missed_fraction']:.4f}",
        "false_per_photo": f"{errors['false_per_photo']:.3f}",
        "misread_fraction": f"{errors['misread_fraction']:.4f}", "seconds": f"{seconds:.1f}",
        "read_exactly": f"{score.read_exactly:.4f}", "second_look": args.second_look,
        "search": args.search, "map50_detector": f"{looks.ap50:.4f}",
        "map_detector": f"{looks.map:.4f}", "sure_fraction": f"{options.sure_fraction:g}",
        "max_end_gap": "none" if options.max_end_gap is None else f"{options.max_end_gap:g}",
        "scales": " ".join(f"{scale:g}" for scale in options.scales),
        "reading_options": json.dumps(dataclasses.asdict(options)),
        "recipe": args.recipe, "idea": args.idea, "kept": args.kept, "step": args.step,
        "baseline": args.baseline, "seed_group": args.seed_group})
    print(f"appended a row to {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
