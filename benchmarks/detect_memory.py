"""How much memory ``yolo-smol detect`` needs for a folder of phone photos, and how fast.

Makes ``--counts`` folders (by default 10 and 100) of phone-sized JPEGs (4032 x 3024, the
project's example photos enlarged; ``--size`` to change it) in a temporary folder, and runs
``yolo-smol detect`` on each in a new process, printing its peak resident memory (the
process's own, from ``wait4``) and photos per second (the whole command: start-up, loading
the weights, reading, drawing and writing).

With ``--baseline REV`` it runs the package as it was at that git revision too (extracted
with ``git archive`` into a temporary folder; the working tree is not touched), each
run under an address-space limit of ``--limit_gb`` (default 8) so that a baseline whose
memory grows with the folder fails with a MemoryError instead of exhausting the machine:
such a run is printed as failed at the limit.

Run: .venv/bin/python benchmarks/detect_memory.py [--counts 10,100] [--baseline 0efd5f4]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def make_photos(folder: Path, count: int, size: tuple[int, int]) -> Path:
    """``count`` JPEGs of ``size`` in ``folder``: the example photos enlarged, in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    examples = sorted((REPO / "examples").glob("house_*.jpg")) + [REPO / "examples" / "door.jpg"]
    encoded = []
    for path in examples:
        with Image.open(path) as image:
            buffer = BytesIO()
            image.convert("RGB").resize(size, Image.BICUBIC).save(buffer, "JPEG", quality=90)
            encoded.append(buffer.getvalue())
    for index in range(count):
        (folder / f"phone{index:03d}.jpg").write_bytes(encoded[index % len(encoded)])
    return folder


def package_at(revision: str, into: Path) -> Path:
    """The ``yolo_smol`` package as it was at ``revision``, extracted under ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "yolo_smol"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_detect(photos: Path, save_dir: Path, package_root: Path | None,
               limit_bytes: int | None) -> tuple[int, float, int, str]:
    """``yolo-smol detect`` in a new process: its exit status, wall seconds, peak resident
    memory in bytes, and the last line it printed to stderr."""
    environment = dict(os.environ)
    if package_root is not None:  # that package instead of the installed one
        environment["PYTHONPATH"] = str(package_root)

    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    command = [sys.executable, "-m", "yolo_smol", "detect", "--image_path", str(photos),
               "--save_dir", str(save_dir), "--device", "cpu"]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors,
                                   env=environment, cwd=package_root or REPO, preexec_fn=limit)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        lines = errors.read().decode(errors="replace").strip().splitlines()
    return process.returncode, seconds, usage.ru_maxrss * 1024, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,100", help="photos per folder")
    parser.add_argument("--size", default="4032x3024", help="WIDTHxHEIGHT of each photo")
    parser.add_argument("--baseline", default=None, metavar="REV",
                        help="also run the package at this git revision (e.g. 0efd5f4, the "
                             "last before detect read in chunks)")
    parser.add_argument("--limit_gb", type=float, default=8.0,
                        help="address-space limit of each run in GB (0: none)")
    args = parser.parse_args()
    size = tuple(int(side) for side in args.size.split("x"))
    limit = int(args.limit_gb * 2**30) if args.limit_gb else None
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        codes = [("this tree", None)]
        if args.baseline:
            codes.insert(0, (f"at {args.baseline}",
                             package_at(args.baseline, scratch / "baseline")))
        print(f"yolo-smol detect on {size[0]} x {size[1]} JPEGs, --device cpu, "
              f"{os.cpu_count()} CPUs, address space limited to "
              f"{f'{args.limit_gb:g} GB' if limit else 'nothing'}:")
        for run, count in enumerate(int(text) for text in args.counts.split(",")):
            photos = make_photos(scratch / f"photos{count}", count, size)
            for code, (name, root) in enumerate(codes):
                status, seconds, peak, last = run_detect(
                    photos, scratch / f"out-{run}-{code}", root, limit)
                outcome = (f"{count / seconds:.2f} photos/s ({seconds:.0f} s)" if status == 0
                           else f"failed (exit {status}: {last[:90]})")
                print(f"  {count:>4} photos, {name:<14} peak resident {peak / 2**30:.2f} GB, "
                      f"{outcome}", flush=True)


if __name__ == "__main__":
    main()
