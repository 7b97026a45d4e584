"""GANs against the VAE on the full MNIST, by the same numbers: FID, KID and IS in the feature space of
gantrain's offline MNIST classifier, and class coverage, for the MLP GAN, DCGAN with the minimax and
the non-saturating losses, and the VAE, each trained for the same budget (train.steps generator steps
of batch 64) and scored with `gantrain task=eval` on 10,000 samples against the 10,000 test digits.

    python bench/fidelity.py --mnist ../shared/data/mnist            # trains what is missing, scores, prints the table
    python bench/fidelity.py --report                                # the table of what has been scored
    python bench/fidelity.py --mnist ../shared/data/mnist --runs dcgan_non_saturating dcgan_non_saturating_seed1 dcgan_bf16 dcgan_bf16_seed1
                                                                     # float32 against train.precision=bf16, seeds 0 and 1
    python bench/fidelity.py --mnist ../shared/data/mnist --runs dcgan32_fp32_seed0 dcgan32_fp32_seed1 dcgan32_fp32_seed2 \
        dcgan32_bf16_seed0 dcgan32_bf16_seed1 dcgan32_bf16_seed2      # the same at 32x32, where bf16 takes the 4x4 GEMMs

Runs go to bench/results/fidelity/<name>/; a finished run is not trained again.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "fidelity"
RUNS = {  # name -> (the overrides, what it is)
    "gan_minimax": (["model=gan", "loss=minimax"], "MLP GAN (Goodfellow et al.), minimax loss"),
    "gan_non_saturating": (["model=gan", "loss=non_saturating"], "MLP GAN, non-saturating loss"),
    "dcgan_minimax": (["model=dcgan", "loss=minimax"], "DCGAN (width 32), minimax loss"),
    "dcgan_non_saturating": (["model=dcgan", "loss=non_saturating"], "DCGAN (width 32), non-saturating loss"),
    "vae": (["model=vae"], "VAE (Kingma & Welling), MLP 500, z 20"),
    # train.precision=bf16 against float32 at the same step count, two seeds each (issue 6's quality check)
    "dcgan_non_saturating_seed1": (["model=dcgan", "loss=non_saturating", "seed=1"], "DCGAN (width 32), non-saturating loss, seed 1"),
    "dcgan_bf16": (["model=dcgan", "loss=non_saturating", "train.precision=bf16"], "DCGAN (width 32), non-saturating loss, bf16"),
    "dcgan_bf16_seed1": (
        ["model=dcgan", "loss=non_saturating", "train.precision=bf16", "seed=1"],
        "DCGAN (width 32), non-saturating loss, bf16, seed 1",
    ),
    # at 32x32 the 4x4 layers take gantrain/models/gemm_conv.py's GEMMs in bf16 (every pass): three seeds each (issue 33)
    **{
        f"dcgan32_{precision}_seed{seed}": (
            ["model=dcgan", "loss=non_saturating", "data.image_size=32", f"train.precision={precision}", f"seed={seed}"],
            f"DCGAN (width 32) at 32x32, non-saturating loss, {precision}, seed {seed}",
        )
        for precision in ("fp32", "bf16")
        for seed in (0, 1, 2)
    },
}
METRICS = ("eval/fid", "eval/kid", "eval/is", "eval/precision", "eval/recall", "eval/classes_covered", "eval/class_kl")


def train_and_score(name: str, mnist: str, steps: int, n: int) -> None:
    folder = RESULTS / name
    summary = folder / "summary.json"
    if not (summary.is_file() and json.loads(summary.read_text()).get("finished")):
        overrides, _ = RUNS[name]
        args = [*overrides, f"data.root={mnist}", f"train.steps={steps}", "train.batch_size=64", f"hydra.run.dir={folder}"]
        if (folder / "checkpoints" / "last.pt").is_file():
            args = [f"train.resume={folder}", f"train.steps={steps}"]
        if subprocess.run([sys.executable, "-m", "gantrain", *args]).returncode != 0:
            raise SystemExit(f"training {name} failed")
    if scores(name, n) is None:
        if subprocess.run([sys.executable, "-m", "gantrain", "task=eval", f"run={folder}", f"n={n}"]).returncode != 0:
            raise SystemExit(f"scoring {name} failed")


def scores(name: str, n: int) -> Path | None:
    """The run's newest `task=eval` record of n samples (its name carries the step it scored)."""
    found = sorted((RESULTS / name / "eval").glob(f"metrics_classifier_step*_n{n}_seed0.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def report(n: int) -> str:
    lines = [
        "| model | steps (batch 64) | FID ↓ | KID ↓ | IS ↑ | precision ↑ | recall ↑ | classes covered | KL(samples ‖ data) ↓ |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    extractor = ""
    for name, (_, meaning) in RUNS.items():
        path = scores(name, n)
        if path is None:
            continue
        record = json.loads(path.read_text())
        extractor = record["extractor"]
        formats = {
            "eval/fid": ".2f",
            "eval/kid": ".4f",
            "eval/is": ".2f",
            "eval/precision": ".3f",
            "eval/recall": ".3f",
            "eval/classes_covered": ".0f",
            "eval/class_kl": ".3f",
        }
        cells = [format(record[m], formats[m]) for m in METRICS]
        lines.append(f"| {meaning} | {record['step']} | {' | '.join(cells)} |")
    if extractor:
        lines.append(f"\nFeatures: {extractor}; {n} samples against {n} test digits.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", help="folder with the MNIST IDX files (train and t10k)")
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--steps", type=int, default=3000, help="generator steps per run (batch 64)")
    parser.add_argument("--n", type=int, default=10000, help="samples scored per run")
    parser.add_argument("--report", action="store_true", help="only print the table of what has been scored")
    args = parser.parse_args()
    if not args.report:
        if not args.mnist:
            parser.error("--mnist is required to train (the full MNIST IDX files)")
        for name in args.runs:
            train_and_score(name, args.mnist, args.steps, args.n)
    table = report(args.n)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
