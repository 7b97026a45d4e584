"""The data path at 256x256: can JPEG decoding and CycleGAN's jitter (resize to 286, random 256 crop, flip)
keep up with training, and does memory stay flat as the data set grows?

Writes two folders of synthetic 400x300 JPEG photos in the CycleGAN layout (root/trainA, root/trainB;
kept under bench/results/data_path/ and reused), then, at batch 1 and 16:
  * decode: the images/s of the training stream alone (gantrain's unpaired data set, its loader workers,
    every batch of A and of B decoded and jittered), nothing trained;
  * train: the images/s of `gantrain model=cyclegan data=unpaired` at 256x256 on the same folder, from
    the loop's own counters, and the peak memory (PSS) of the whole process tree;
and, for --sizes, the peak memory of training on folders of each size.

    python bench/data_path.py --sizes 1000 10000 --batches 1 16 --workers 2

Run it alone: the decode and train rates share the machine's cores.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ceilings import cpu_description
from PIL import Image
from stream_memory import _pss_mib, _tree

RESULTS = Path(__file__).resolve().parent / "results" / "data_path"


def make_folder(n: int, seed: int = 0) -> Path:
    """n synthetic 400x300 colour photos per domain (smooth gradients, blobs and noise, so JPEG has real
    work), JPEG quality 90. A complete folder is reused."""
    root = RESULTS / f"photos_{n}"
    if (root / ".complete").is_file():
        return root
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:300, 0:400].astype(np.float32)
    for side in ("A", "B"):
        folder = root / f"train{side}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            base = rng.uniform(0, 255, 3).astype(np.float32)
            tilt = rng.uniform(-0.4, 0.4, (2, 3)).astype(np.float32)
            picture = base + xx[..., None] * tilt[0] + yy[..., None] * tilt[1]
            for _ in range(4):  # a few bright or dark blobs
                cy, cx, r = rng.uniform(0, 300), rng.uniform(0, 400), rng.uniform(20, 90)
                picture += rng.uniform(-120, 120, 3) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None]
            picture += rng.normal(0, 8, picture.shape)
            Image.fromarray(picture.clip(0, 255).astype(np.uint8)).save(folder / f"{i:06d}.jpg", quality=90)
    (root / ".complete").touch()
    return root


def decode_rate(root: Path, batch: int, workers: int, batches: int) -> float:
    """Images/s of the training stream alone (A and B batches both decoded; counted as `batch` images a
    step, as the training loop counts them), after two warm-up batches."""
    from gantrain.data.unpaired import unpaired

    data = unpaired(root=str(root), image_size=256, load_size=286, flip=True, channels=3)
    stream = iter(data.stream(batch, seed=0, device=torch.device("cpu"), num_workers=workers))
    for _ in range(2):
        next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batch * batches / (time.perf_counter() - start)


def train_rate(root: Path, batch: int, workers: int, steps: int) -> tuple[float, float] | str:
    """Images/s of CycleGAN training at 256x256 from the loop's counters (steps after the 5th), and the
    peak PSS (MiB) of the process tree, sampled every 0.1 s; or, when gantrain refuses the run (a batch
    that cannot fit in this machine's memory), its one line."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with tempfile.TemporaryDirectory() as tmp:
        args = [
            sys.executable,
            "-m",
            "gantrain",
            "model=cyclegan",
            "data=unpaired",
            f"data.root={root}",
            "data.image_size=256",
            f"train.batch_size={batch}",
            f"train.num_workers={workers}",
            f"train.steps={steps}",
            "train.log_every=1",
            f"train.sample_every={steps}",
            f"train.ckpt_every={steps}",
            "eval.every=0",
            "device=cpu",
            f"hydra.run.dir={tmp}/run",
        ]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, _pss_mib(_tree(process.pid)))
            time.sleep(0.1)
        if process.returncode == 2:  # refused before any work, in one line
            return process.stderr.read().strip().removeprefix("error: ")
        if process.returncode != 0:
            raise SystemExit(f"gantrain {' '.join(args[3:])} failed:\n{process.stderr.read()[-2000:]}")
        events = EventAccumulator(f"{tmp}/run/tb", size_guidance={"scalars": 0})
        events.Reload()
        rates = [e.value for e in events.Scalars("perf/steps_per_s") if e.step > 5]
    seconds = sum(1 / r for r in rates)
    return batch * len(rates) / seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="photos per domain in each folder")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--workers", type=int, default=2, help="loader worker processes (train.num_workers)")
    parser.add_argument("--steps", type=int, default=12, help="training steps per measurement (the first 5 left out)")
    args = parser.parse_args()
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}; {' '.join(cpu['isa'])}; torch {cpu['torch']}", flush=True)
    folders = {n: make_folder(n) for n in args.sizes}
    first = folders[args.sizes[0]]
    print(f"\n| batch | decode + jitter images/s ({args.workers} workers) | CycleGAN 256 training images/s | peak PSS MiB |")
    print("| --- | --- | --- | --- |")
    for batch in args.batches:
        decoded = decode_rate(first, batch, args.workers, batches=max(4, 64 // batch))
        trained = train_rate(first, batch, args.workers, args.steps)
        if isinstance(trained, str):
            print(f"| {batch} | {decoded:.1f} | refused: {trained[:160]} | - |", flush=True)
        else:
            print(f"| {batch} | {decoded:.1f} | {trained[0]:.2f} | {trained[1]:.0f} |", flush=True)
    if len(args.sizes) > 1:
        print(f"\n| photos per domain | peak PSS MiB, CycleGAN 256 batch {args.batches[0]} |\n| --- | --- |")
        for n, root in folders.items():
            measured = train_rate(root, args.batches[0], args.workers, args.steps)
            print(f"| {n:,} | {measured if isinstance(measured, str) else f'{measured[1]:.0f}'} |", flush=True)


if __name__ == "__main__":
    main()
