"""Small datasets in the SVHN schema, built by hand so that every number is known."""

from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from yolo_smol.data.schema import SVHN_FEATURES
from yolo_smol.data.synthetic import make_synthetic

# Like SVHN's features, but the label is a plain integer, as a user's parquet file may
# hold it: so that a label outside 0 to 9 can reach the checks at all.
LOOSE_FEATURES = datasets.Features({
    "image": datasets.Image(),
    "digits": datasets.Sequence({"bbox": datasets.Sequence(datasets.Value("int32"), length=4),
                                 "label": datasets.Value("int64")}),
})


def png_bytes(width: int, height: int, colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def two_colour_png(width: int = 100, height: int = 50) -> bytes:
    """Left half red, right half blue: shows where pixels land after resizing."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2:] = (0, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_dataset(rows: list[tuple[bytes, list, list]], features=SVHN_FEATURES,
                 ) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"image": [{"bytes": image, "path": None} for image, _, _ in rows],
         "digits": [{"bbox": boxes, "label": labels} for _, boxes, labels in rows]},
        features=features)


def write_hub_layout(root: Path, splits: dict[str, datasets.Dataset]) -> Path:
    """A folder laid out as the hub's ufldl-stanford/svhn repository: parquet + README card."""
    for split, dataset in splits.items():
        folder = root / "full_numbers"
        folder.mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    data_files = "\n".join(f"  - split: {split}\n    path: full_numbers/{split}-*"
                           for split in splits)
    (root / "README.md").write_text(
        "---\nconfigs:\n- config_name: full_numbers\n  data_files:\n" + data_files + "\n"
        "- config_name: cropped_digits\n  data_files:\n  - split: train\n"
        "    path: cropped_digits/train-*\n---\n")
    return root


def jsonl_folder(root: Path, counts: dict[str, int]) -> Path:
    """A folder of photos with train.jsonl and test.jsonl, as a user's own data would be."""
    root.mkdir()
    for split, count in counts.items():
        lines = []
        for index, row in enumerate(make_synthetic(count, seed=3, split=split)):
            name = f"{split}_{index}.png"
            row["image"].save(root / name)
            lines.append(json.dumps({"file": name, "bbox": row["digits"]["bbox"],
                                     "label": row["digits"]["label"]}))
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root
