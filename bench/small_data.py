"""Augmenting D's inputs on small data sets (issue 45): DCGAN on 500 and 2,000 images of the full MNIST
(data.subset, each seed its own draw of the images), without augmentation, with DiffAugment and with ADA,
at equal steps, FID against the 10,000 test digits in the offline classifier's feature space
(`gantrain task=eval n=10000`); the full 60,000 beside them; and Pix2Pix on 200 pairs of the built-in
edges -> digit task with and without DiffAugment (L1 / PSNR / SSIM on its 1,000 held-out pairs).

    python bench/small_data.py --mnist ../shared/data/mnist                 # trains what is missing, scores, prints the table
    python bench/small_data.py --mnist ../shared/data/mnist --seeds 0       # one seed of each
    python bench/small_data.py --mnist ../shared/data/mnist --only long --seeds 0   # 500 images at 10,000 steps
    python bench/small_data.py --report                                     # the table of what has been scored
    python bench/small_data.py --plot docs/ada_p_rt.png                     # ADA's p and r_t over training (500 images, seed 0)

Runs go to bench/results/small_data/<name>/; a finished run is not trained again. Set OMP_NUM_THREADS
and --jobs so that the jobs do not share a core (two torch processes of two threads on two cores slow
each other far more than twofold).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "small_data"
AUGMENTS = {
    "none": [],
    "diffaugment": ["augment=diffaugment", "augment.policy=color,translation,cutout"],
    # p may go 0 -> 1 in 100k images: a few thousand steps of batch 64 let it find its level
    "ada": ["augment=ada", "augment.ada_kimg=100"],
}
SIZES = (500, 2000, None)  # None: the full 60,000


def dcgan_runs(seeds: list[int]) -> dict[str, list[str]]:
    runs = {}
    for n in SIZES:
        for augment, overrides in AUGMENTS.items():
            if n is None and augment != "none":
                continue
            for seed in seeds:
                subset = [] if n is None else [f"data.subset={n}", f"data.subset_seed={seed}"]
                runs[f"dcgan_{n or 'full'}_{augment}_seed{seed}"] = [
                    "model=dcgan",
                    "train.batch_size=64",
                    *subset,
                    *overrides,
                    f"seed={seed}",
                ]
    return runs


def long_runs(seeds: list[int]) -> dict[str, list[str]]:
    """500 images at --long-steps: where D has had time to memorise them."""
    return {f"{name}_long": overrides for name, overrides in dcgan_runs(seeds).items() if name.startswith("dcgan_500_")}


def pix2pix_runs(seeds: list[int]) -> dict[str, list[str]]:
    return {
        f"pix2pix_200_{augment}_seed{seed}": [
            "model=pix2pix",
            "data.subset=200",
            f"data.subset_seed={seed}",
            *AUGMENTS[augment],
            f"seed={seed}",
        ]
        for augment in ("none", "diffaugment")
        for seed in seeds
    }


def finished(folder: Path, steps: int) -> bool:
    from gantrain.training.checkpoint import load_checkpoint

    last = folder / "checkpoints" / "last.pt"
    return last.is_file() and load_checkpoint(last)["step"] >= steps


def gantrain(*args: str, log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        done = subprocess.run([sys.executable, "-m", "gantrain", *args], stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"gantrain {' '.join(args)} failed: see {log}")


def train_and_score(name: str, overrides: list[str], mnist: str, steps: int, n: int | None) -> None:
    """Train the run to `steps` (resumed if it stopped short) and score it: FID of n samples, or a
    translator's held-out pairs (n None)."""
    folder = RESULTS / name
    if not finished(folder, steps):
        data = [] if name.startswith("pix2pix") else [f"data.root={mnist}"]
        args = [*overrides, *data, f"train.steps={steps}", "eval.every=0", f"hydra.run.dir={folder}"]
        if (folder / "checkpoints" / "last.pt").is_file():
            args = [f"train.resume={folder}", f"train.steps={steps}"]
        gantrain(*args, log=RESULTS / f"{name}.log")
    if record(name) is None:
        gantrain("task=eval", f"run={folder}", *([f"n={n}"] if n else []), log=RESULTS / f"{name}.log")


def record(name: str) -> dict | None:
    """The run's newest task=eval record."""
    found = sorted((RESULTS / name / "eval").glob("metrics_*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(found[-1].read_text()) if found else None


def mean_sd(values: list[float], fmt: str) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.mean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def report(seeds: list[int]) -> str:
    lines = [
        "| DCGAN, training images | augmentation | seeds | steps (batch 64) | FID ↓ (mean ± sd) | each seed | ADA's final p |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    runs = dcgan_runs(seeds)
    for n in SIZES:
        for augment in AUGMENTS:
            found = [(name, record(name)) for name in runs if name.startswith(f"dcgan_{n or 'full'}_{augment}_seed")]
            found = [(name, r) for name, r in found if r is not None]
            if not found:
                continue
            fids = [r["eval/fid"] for _, r in found]
            p = [final_p(RESULTS / name) for name, _ in found] if augment == "ada" else []
            cells = [
                f"{n:,}" if n else "60,000 (all)",
                augment,
                str(len(found)),
                str(found[0][1]["step"]),
                mean_sd(fids, ".2f"),
                ", ".join(f"{f:.2f}" for f in fids),
                mean_sd([v for v in p if v is not None], ".3f") if p else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    long = [(name, r) for name in long_runs(seeds) if (r := record(name)) is not None]
    if long:
        lines += [
            "",
            "| DCGAN, 500 images, longer | augmentation | seeds | steps (batch 64) | FID ↓ (mean ± sd) | each seed | ADA's final p |",
        ]
        lines += ["| --- | --- | --- | --- | --- | --- | --- |"]
        for augment in AUGMENTS:
            found = [(name, r) for name, r in long if name.startswith(f"dcgan_500_{augment}_seed")]
            if found:
                fids = [r["eval/fid"] for _, r in found]
                p = [v for name, _ in found if (v := final_p(RESULTS / name)) is not None] if augment == "ada" else []
                cells = [
                    "500",
                    augment,
                    str(len(found)),
                    str(found[0][1]["step"]),
                    mean_sd(fids, ".2f"),
                    ", ".join(f"{f:.2f}" for f in fids),
                ]
                lines.append("| " + " | ".join([*cells, mean_sd(p, ".3f") if p else ""]) + " |")
    lines += [
        "",
        "| Pix2Pix, training pairs | augmentation | seeds | steps (batch 16) | L1 ↓ | PSNR ↑ | SSIM ↑ |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    runs = pix2pix_runs(seeds)
    for augment in ("none", "diffaugment"):
        found = [r for name in runs if name.startswith(f"pix2pix_200_{augment}_") and (r := record(name)) is not None]
        if found:
            numbers = [mean_sd([r[f"eval/{m}"] for r in found], f) for m, f in (("l1", ".4f"), ("psnr", ".2f"), ("ssim", ".3f"))]
            lines.append(f"| 200 | {augment} | {len(found)} | {found[0]['step']} | " + " | ".join(numbers) + " |")
    return "\n".join(lines)


def curve(folder: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not (folder / "tb").is_dir():  # a run not trained yet
        return []
    events = EventAccumulator(str(folder / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)] if tag in events.Tags()["scalars"] else []


def final_p(folder: Path) -> float | None:
    p = curve(folder, "augment/p")
    return p[-1][1] if p else None


def plot(path: Path, seeds: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for n, ax in zip((500, 2000), axes):
        for seed in seeds:
            folder = RESULTS / f"dcgan_{n}_ada_seed{seed}"
            p, rt = curve(folder, "augment/p"), curve(folder, "augment/rt")
            if p:
                ax.plot(*zip(*p), color=f"C{seed}", label=f"p, seed {seed}")
            if rt:
                ax.plot(*zip(*rt), color=f"C{seed}", alpha=0.35, linestyle="--", label=f"r_t, seed {seed}")
        ax.axhline(0.6, color="grey", linewidth=0.8, linestyle=":", label="target 0.6")
        ax.set_title(f"ADA on {n:,} MNIST digits (DCGAN)")
        ax.set_xlabel("step")
        ax.set_ylim(-0.05, 1.05)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", help="folder with the MNIST IDX files (train and t10k)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=2000, help="generator steps per DCGAN run (batch 64)")
    parser.add_argument("--pix2pix-steps", type=int, default=1000, help="steps per Pix2Pix run (batch 16, the built-in task's)")
    parser.add_argument("--n", type=int, default=10000, help="samples scored per DCGAN run")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each with its own OMP_NUM_THREADS)")
    parser.add_argument("--only", choices=("dcgan", "pix2pix", "long"), help="train only these")
    parser.add_argument("--long-steps", type=int, default=10000, help="steps of the longer 500-image runs (--only long)")
    parser.add_argument("--report", action="store_true", help="only print the table of what has been scored")
    parser.add_argument("--plot", type=Path, help="draw ADA's p and r_t of the 500- and 2,000-image runs to this PNG")
    args = parser.parse_args()
    if args.plot:
        plot(args.plot, args.seeds)
        return
    if not args.report:
        if not args.mnist:
            parser.error("--mnist is required to train (the full MNIST IDX files)")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        jobs = []
        if args.only == "long":
            jobs += [(name, o, args.long_steps, args.n) for name, o in long_runs(args.seeds).items()]
        elif args.only != "pix2pix":
            jobs += [(name, o, args.steps, args.n) for name, o in dcgan_runs(args.seeds).items()]
        if args.only not in ("dcgan", "long"):
            jobs += [(name, o, args.pix2pix_steps, None) for name, o in pix2pix_runs(args.seeds).items()]
        jobs.sort(key=lambda job: int(job[0].rsplit("seed", 1)[1].split("_")[0]))  # every run of seed 0 first: a table early
        with ThreadPoolExecutor(args.jobs) as pool:
            for done in [pool.submit(train_and_score, name, o, args.mnist, steps, n) for name, o, steps, n in jobs]:
                done.result()
    table = report(args.seeds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
