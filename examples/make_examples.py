"""Make the example photos in this folder, and numbers.json with the number each shows.

Run from the repository root: .venv/bin/python examples/make_examples.py

- house_1.jpg ... house_6.jpg: the first six photos of the generated test split (seed 11)
  that the shipped detector reads right. It reads about two in three of that split (see
  the README's table), and as many real photos, so these show what a right reading
  looks like, not how often one happens.
- sideways.jpg: house_1 stored turned a quarter with an EXIF orientation tag, as a phone
  writes a photo taken upright: it must be read as the upright one.
- deep.png: house_2 as a 16-bit greyscale PNG, as scanners and camera pipelines write
  them: it must not be read as a white page.
- door.jpg: house_3 pasted small into a larger plain wall, the number a fifth as wide as
  the photo: a wider view than most of the generated set, which the detector reads only
  with its search (zoomed-in windows) and its second look (a crop around what it found).
  numbers.json records any photo it misreads beside the true number, so that a change of
  detector shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from yolo_smol.data.synthetic import make_synthetic
from yolo_smol.photos import load_image
from yolo_smol.reading.detector import Detector

FOLDER = Path(__file__).resolve().parent


def true_number(digits: dict) -> str:
    centres = [left + width / 2 for left, _, width, _ in digits["bbox"]]
    return "".join(str(label) for _, label in sorted(zip(centres, digits["label"],
                                                         strict=True)))


def main() -> None:
    detector = Detector.from_pretrained(device="cpu")
    numbers: dict[str, str] = {}
    houses: list[Image.Image] = []
    for row in make_synthetic(200, seed=11, split="test"):
        number, path = true_number(row["digits"]), FOLDER / f"house_{len(houses) + 1}.jpg"
        row["image"].convert("RGB").save(path, quality=92)
        if detector(path).number == number:  # as saved: JPEG changes the pixels a little
            houses.append(load_image(path))
            numbers[path.name] = number
        if len(houses) == 6:
            break
    first, second, third = houses[0], houses[1], houses[2]
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    first.transpose(Image.Transpose.ROTATE_90).save(FOLDER / "sideways.jpg", exif=exif,
                                                    quality=92)
    numbers["sideways.jpg"] = numbers["house_1.jpg"]
    grey = np.asarray(second.convert("L"), dtype=np.uint16) * 257  # 8 to 16 bits
    Image.fromarray(grey).save(FOLDER / "deep.png")  # uint16: mode I;16
    numbers["deep.png"] = numbers["house_2.jpg"]
    wall = Image.new("RGB", (third.width * 5, third.height * 2), (168, 160, 150))
    wall.paste(third, (third.width * 2, third.height // 2))
    wall.save(FOLDER / "door.jpg", quality=92)
    numbers["door.jpg"] = numbers["house_3.jpg"]
    read = {name: detector(FOLDER / name).number for name in numbers}
    misread = {name: read[name] for name in numbers if read[name] != numbers[name]}
    (FOLDER / "numbers.json").write_text(json.dumps(
        {"numbers": numbers, "misread_by_the_shipped_detector": misread}, indent=2) + "\n")
    print(f"{len(numbers) - len(misread)} of {len(numbers)} read right; misread: {misread}")


if __name__ == "__main__":
    main()
