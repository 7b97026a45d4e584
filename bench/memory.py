"""Peak memory of the whole process tree (every child's RSS summed, sampled every 50 ms) for the runs that
used to exhaust it: Pix2Pix at the paper's 256 x 256 on the built-in edges -> digit task (training with its
held-out evaluation), and the same on a folder of N photos for two N, to show that memory does not grow
with the number of images.

    python bench/memory.py                # prints a table; about 5 minutes on 2 CPU cores
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def tree_rss(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total


def peak(args: list[str], cwd: Path) -> tuple[float, float, int]:
    """(peak GiB, seconds, exit code) of `python -m gantrain ARGS`."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "gantrain", *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    top = 0
    while process.poll() is None:
        top = max(top, tree_rss(process.pid))
        time.sleep(0.05)
    process.communicate()
    return top / 2**30, time.monotonic() - started, process.returncode


def photos(folder: Path, n: int) -> None:
    """n random-texture 300x300 JPEGs (the folder data set decodes, resizes and crops each on access)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        small = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
        Image.fromarray(small).resize((300, 300), Image.Resampling.BILINEAR).save(folder / f"{i:05d}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--folders", type=int, nargs="+", default=[200, 2000], help="images in the folder runs")
    args = parser.parse_args()
    common = ["model=pix2pix", "data.image_size=256", f"train.steps={args.steps}", "train.log_every=1", "eval.every=1000", "device=cpu"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="gantrain-memory-") as scratch:
        where = Path(scratch)
        gib, seconds, code = peak([*common, "data=edges2x", "hydra.run.dir=builtin"], where)
        rows.append(("built-in edges -> digit (4,000 pairs)", gib, seconds, code))
        for n in args.folders:
            photos(where / f"photos{n}", n)
            gib, seconds, code = peak(
                [*common, "data=edges2x", f"data.root={where / f'photos{n}'}", "data.channels=3", f"hydra.run.dir=folder{n}"], where
            )
            rows.append((f"edges2x from a folder of {n:,} photos", gib, seconds, code))
    print(f"| Pix2Pix 256 x 256, {args.steps} steps + held-out evaluation | peak GiB (process tree) | seconds | exit |")
    print("| --- | --- | --- | --- |")
    for name, gib, seconds, code in rows:
        print(f"| {name} | {gib:.2f} | {seconds:.0f} | {code} |")


if __name__ == "__main__":
    main()
