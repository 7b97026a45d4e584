"""ProGAN against DCGAN on the full MNIST at 32 x 32, at one wall-clock budget per run (train.time_limit),
and the paper's Table 1 in small (the full ProGAN, then without growing, minibatch stddev, equalised
learning rate, pixel norm). Each run is a real `gantrain` run; each is scored by `gantrain task=eval` on
10,000 samples against the 10,000 test digits: FID in gantrain's offline classifier's features, SWD,
classes covered, recall.

    python bench/progan.py --mnist ../shared/data/mnist --minutes 8 --seeds 0 1 2 --runs progan dcgan
    python bench/progan.py --report            # the table of what has run

A finished run is not run again. Run it alone (or with OMP_NUM_THREADS=1 per process and --jobs 2): the
budget is wall-clock, so anything beside it changes the numbers.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "progan"
# ProGAN as `gantrain model=progan data=mnist` gives it: the CPU-sized defaults of conf/model_data/progan_mnist.yaml
# (fmap_base 256, fmap_max 128, z of 128, batch 32, 3,000 images per phase), chosen from one training step
# (D with the penalty, then G; one thread, AMD EPYC family 25, 2026-12-03): 81 / 212 / 366 / 590 ms at
# 4 / 8 / 16 / 32 px (fmap_base 1024 took 81 / 389 / 982 / 1605 ms). DCGAN 32 x 32 at batch 64 took 483 ms
# a step on the same thread.
PROGAN = ["model=progan"]
FIXED_EMA = ["train.g_ema=0.999", "train.g_ema_images=null", "train.g_ema_rampup=null"]  # before: 0.999 per step
DCGAN = ["model=dcgan", "data.image_size=32", "train.batch_size=64"]
RUNS = {  # name -> (overrides, what it is)
    "progan": (PROGAN, "ProGAN (growing 4 -> 32, WGAN-GP + drift, EMA of G: half-life 10k images)"),
    "progan_no_growing": ([*PROGAN, "model.grow=false"], "ProGAN without growing"),
    "progan_no_stddev": ([*PROGAN, "model.discriminator.minibatch_stddev=false"], "ProGAN without minibatch stddev"),
    "progan_no_eqlr": (
        [*PROGAN, "model.generator.equalized_lr=false", "model.discriminator.equalized_lr=false"],
        "ProGAN without equalised lr",
    ),
    "progan_no_pixnorm": ([*PROGAN, "model.generator.pixel_norm=false"], "ProGAN without pixel norm"),
    # G's average as a half-life of 10k images ramped to 5% of the images seen (the default) against the
    # fixed 0.999 per step it replaced, whose time constant (1,000 steps) is longer than this whole run
    "progan_ema0999": ([*PROGAN, *FIXED_EMA], "ProGAN, EMA of G 0.999 per step"),
    "progan_no_growing_ema0999": ([*PROGAN, "model.grow=false", *FIXED_EMA], "ProGAN without growing, EMA of G 0.999 per step"),
    # with 94 steps per phase Adam restarts every 94 steps (tkarras' reset, made for 50,000-step phases); and
    # phases twice as long
    "progan_no_reset": ([*PROGAN, "model.reset_optimizers=false"], "ProGAN, Adam's state kept across phases"),
    # the default before 2026-12-07 (tkarras' reset at every phase); the MNIST default now keeps the state
    "progan_reset": ([*PROGAN, "model.reset_optimizers=true"], "ProGAN, Adam's state reset at each phase"),
    "progan_phase6000": ([*PROGAN, "model.phase_images=6000"], "ProGAN, 6,000 images per phase"),
    "dcgan": (DCGAN, "DCGAN, non-saturating"),
    "dcgan_hinge_sn": (
        [*DCGAN, "loss=hinge", "model.discriminator.spectral_norm=true", "model.discriminator.norm=none"],
        "DCGAN, hinge + spectral norm",
    ),
    "dcgan_g_ema": ([*DCGAN, "train.g_ema=0.999"], "DCGAN, non-saturating, EMA of G"),
}
METRICS = ("eval/fid", "eval/swd", "eval/classes_covered", "eval/recall")


def run_one(name: str, seed: int, mnist: str, minutes: float) -> None:
    folder = RESULTS / f"seed{seed}" / name
    scores = folder / "scores.json"
    if scores.is_file():
        return
    overrides, _ = RUNS[name]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if not (folder / "summary.json").is_file():
        args = [
            *overrides,
            f"data.root={mnist}",
            f"seed={seed}",
            "train.steps=10000000",
            f"train.time_limit={minutes * 60}",
            "train.log_every=200",
            "train.sample_every=2000",
            "train.ckpt_every=2000",
            "eval.every=0",
            "device=cpu",
            f"hydra.run.dir={folder}",
        ]
        if subprocess.run([sys.executable, "-m", "gantrain", *args], env=env).returncode != 0:
            raise SystemExit(f"{name} seed {seed}: training failed")
    out = folder / "eval"
    if (
        subprocess.run(
            [sys.executable, "-m", "gantrain", "task=eval", f"run={folder}", "n=10000", "device=cpu", f"output={out}"], env=env
        ).returncode
        != 0
    ):
        raise SystemExit(f"{name} seed {seed}: task=eval failed")
    found = sorted(out.glob("metrics_classifier_*.json"))
    record = json.loads(found[-1].read_text())
    record["steps"] = json.loads((folder / "summary.json").read_text())["step"]
    scores.write_text(json.dumps(record, indent=1) + "\n")


def report() -> str:
    lines = [
        "| run | seeds | steps | FID ↓ | SWD ×10³ ↓ | classes covered ↑ | recall ↑ |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, (_, what) in RUNS.items():
        found = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"seed*/{name}/scores.json"))]
        if not found:
            continue

        def cell(key: str, digits: int = 2) -> str:
            values = [r[key] for r in found if key in r]
            if not values:
                return "–"
            mean = statistics.mean(values)
            spread = f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""
            return f"{mean:.{digits}f}{spread}"

        steps = "/".join(str(r["steps"]) for r in found)
        lines.append(
            f"| {what} | {len(found)} | {steps} | {cell('eval/fid')} | {cell('eval/swd', 1)} | {cell('eval/classes_covered', 1)} | "
            f"{cell('eval/recall', 3)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", default="../shared/data/mnist")
    parser.add_argument("--minutes", type=float, default=8.0, help="wall-clock training budget of each run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (each with one thread)")
    parser.add_argument("--report", action="store_true", help="print the table of what has run, and stop")
    args = parser.parse_args()
    if not args.report:
        todo = [(name, seed) for seed in args.seeds for name in args.runs]
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda job: run_one(job[0], job[1], os.path.abspath(args.mnist), args.minutes), todo))
    print(report())


if __name__ == "__main__":
    main()
