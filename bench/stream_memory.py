"""Peak memory of training on a streamed data set (data=folder) against the data set's size.

Writes folders of N PNG files (MNIST digits, repeated and shifted to reach N, written once and kept
under bench/results/stream_memory/), trains gantrain's DCGAN on each with loader worker processes, and
samples the memory of the whole process tree (the main process and its workers) every 0.1 s. Memory is
counted as PSS (proportional set size: a page shared by k processes counts 1/k in each), so the workers'
forked copies of the parent are not counted twice.

    python bench/stream_memory.py --mnist ../shared/data/mnist --sizes 10000 100000
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gantrain.data.mnist import find_idx, read_idx_pair

RESULTS = Path(__file__).resolve().parent / "results" / "stream_memory"


def make_folder(mnist: str, n: int) -> Path:
    """N grey 28×28 PNGs in 100 subfolders (a complete folder is reused)."""
    folder = RESULTS / f"images_{n}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    pair = find_idx(Path(mnist), "train")
    if pair is None:
        raise SystemExit(f"--mnist {mnist}: no MNIST training IDX files there")
    images, _ = read_idx_pair(*pair)  # (60000, 28, 28) uint8
    for i in range(n):
        digit = np.roll(images[i % len(images)], shift=i // len(images), axis=1)  # repeats are shifted: distinct files
        path = folder / f"{i % 100:02d}" / f"{i:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(digit).save(path)
    done.touch()
    return folder


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _pss_mib(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])  # kB
        except OSError:
            continue  # the process ended between listing and reading
    return total / 1024


def measure(folder: Path, steps: int, workers: int) -> dict[str, float]:
    args = [
        sys.executable,
        "-m",
        "gantrain",
        "model=dcgan",
        "data=folder",
        f"data.root={folder}",
        "data.image_size=32",
        "data.channels=1",
        f"train.steps={steps}",
        f"train.num_workers={workers}",
        "train.sample_every=100000",
        "train.ckpt_every=100000",
        f"hydra.run.dir={RESULTS / 'runs' / folder.name}",
    ]
    shutil.rmtree(RESULTS / "runs" / folder.name, ignore_errors=True)  # the measurement's run, not kept
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    peak, peak_loading = 0.0, 0.0  # the whole tree at any time; the tree while the loader workers run
    while process.poll() is None:
        pids = _tree(process.pid)
        pss = _pss_mib(pids)
        peak = max(peak, pss)
        if len(pids) > workers:  # the main process and its workers: training is under way
            peak_loading = max(peak_loading, pss)
        time.sleep(0.1)
    if process.returncode != 0:
        raise SystemExit(f"training on {folder} failed (exit {process.returncode})")
    return {"peak_pss_mib": peak, "peak_loading_mib": peak_loading, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", required=True, help="folder with the MNIST IDX files (the digits written as PNGs)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--steps", type=int, default=200, help="generator steps of batch 64 per run")
    parser.add_argument("--workers", type=int, default=2, help="train.num_workers")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        folder = make_folder(args.mnist, n)
        result = measure(folder, args.steps, args.workers)
        print(f"{n} images: peak PSS {result['peak_pss_mib']:.0f} MiB, {result['peak_loading_mib']:.0f} MiB with the workers running")
        rows.append((n, result))
    print(f"\n| images in the folder | peak PSS of the process tree (MiB) | peak PSS while the {args.workers} loader workers run (MiB) |")
    print("| --- | --- | --- |")
    for n, r in rows:
        print(f"| {n:,} | {r['peak_pss_mib']:.0f} | {r['peak_loading_mib']:.0f} |")


if __name__ == "__main__":
    main()
