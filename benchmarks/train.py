"""Training speed, all in one run, at batch 256 and 32 px with smol.json on this machine.

Prints images/s of:
1. the bare model step: forward + backward + AdamW on tensors already in memory, in
   PyTorch's default memory layout and in channels_last (the layout yolo-smol trains in);
2. yolo-smol's end-to-end training loop (batching from prepared tensors, augmentation,
   target building, the YOLO loss, clipping, EMA, the schedule), and its ratio to the
   bare step in the same layout (target: at least 0.8);
3. a baseline written the seed's way: a Dataset whose __getitem__ decodes the row's image,
   resizes it with PIL's LANCZOS and converts it with to_tensor, every epoch, targets
   built by a Python loop over boxes, the default layout; and the ratio of (2) to it
   (target: at least 3).

Run: .venv/bin/python benchmarks/train.py [--batches 12]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import datasets
import torch
from PIL import Image
from torchvision.transforms.functional import to_tensor

from yolo_smol import YoloSmol, load_config
from yolo_smol.data.prepare import PreparedData, collate, prepare
from yolo_smol.data.synthetic import make_synthetic
from yolo_smol.detection.assign import assign_targets_reference
from yolo_smol.detection.loss import yolo_loss
from yolo_smol.training.loop import TrainConfig, train

BATCH = 256


def bare_step_rate(batches: int, layout: torch.memory_format) -> float:
    torch.manual_seed(0)
    model = YoloSmol(load_config("smol")).train().to(memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = torch.rand(BATCH, 3, 32, 32).contiguous(memory_format=layout)

    def step():
        loss = sum(output.sum() for output in model(images))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(batches):
        step()
    return batches * BATCH / (time.perf_counter() - start)


def end_to_end_rate(data, batches: int) -> float:
    """One epoch of the real training loop over ``batches`` batches (as it reports it)."""
    subset = PreparedData(data.images[:BATCH * batches], data.boxes_cxcywh, data.labels,
                          data.offsets[:BATCH * batches + 1])
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig(batch_size=BATCH, num_epochs=1, device="cpu", save_dir=folder)
        result = train(load_config("smol"), config, subset)
    return result.history[0]["images_per_s"]


class SeedStyleDataset(torch.utils.data.Dataset):
    """The seed's way: each access decodes the row's image (datasets' own decoding), resizes
    it with LANCZOS and converts it with ``to_tensor``, every epoch."""

    def __init__(self, dataset: datasets.Dataset, image_size: int):
        self.rows = dataset
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        row = self.rows[index]
        image = row["image"].convert("RGB")
        width, height = image.size
        resized = image.resize((self.image_size, self.image_size), Image.LANCZOS)
        boxes = torch.tensor([[(x + w / 2) / width, (y + h / 2) / height, w / width, h / height]
                              for x, y, w, h in row["digits"]["bbox"]]).view(-1, 4)
        return to_tensor(resized), boxes.clamp(0, 1), torch.tensor(row["digits"]["label"])


def seed_style_rate(dataset: datasets.Dataset, batches: int) -> float:
    torch.manual_seed(0)
    model = YoloSmol(load_config("smol")).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(SeedStyleDataset(dataset, 32), batch_size=BATCH,
                                         shuffle=True, collate_fn=collate, drop_last=True)
    grids = [(size, size) for size in model.config.grid_sizes]
    start, seen = time.perf_counter(), 0
    for images, targets in loader:
        outputs = model(images)
        assignment = assign_targets_reference(targets, model.anchors, grids)
        loss = yolo_loss(outputs, targets, model.anchors, assignment=assignment)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(images)
        if seen >= batches * BATCH:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    datasets.disable_progress_bars()
    raw = make_synthetic(BATCH * args.batches, seed=21)
    data = prepare(raw, 32)

    bare = bare_step_rate(args.batches, torch.contiguous_format)
    bare_nhwc = bare_step_rate(args.batches, torch.channels_last)
    ours = end_to_end_rate(data, args.batches)
    seed_way = seed_style_rate(raw, args.batches)
    print(f"batch {BATCH} at 32 px, smol.json, {torch.get_num_threads()} threads, "
          f"{args.batches} batches each")
    print(f"bare model step (forward + backward + AdamW), default layout: {bare:,.0f} images/s")
    print(f"bare model step, channels_last (as yolo-smol trains): {bare_nhwc:,.0f} images/s "
          f"= {bare_nhwc / bare:.2f}x the default layout")
    print(f"yolo-smol end to end: {ours:,.0f} images/s = {ours / bare_nhwc:.2f} of the bare "
          "step in its layout (target >= 0.8)")
    print(f"the seed's way (LANCZOS per item per epoch, Python-loop targets, default layout): "
          f"{seed_way:,.0f} images/s = {seed_way / bare:.2f} of the bare step in its layout")
    print(f"yolo-smol / the seed's way: {ours / seed_way:.1f}x (target >= 3)")


if __name__ == "__main__":
    main()
