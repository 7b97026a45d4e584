"""CycleGAN's ablation (Zhu et al. 2017, table 4) in small, on a built-in unpaired task: MNIST digits (A)
<-> the UCI digits scikit-learn ships (B), data=mnist_uci, or MNIST <-> MNIST-M-like colour digits,
data=mnist_mnistm: GAN alone, cycle alone, GAN + forward cycle, GAN + backward cycle, the full loss, and
the full loss without the identity term. Each a real `gantrain model=cyclegan` run (conf/model_data/:
width 32, 4,000 steps of batch 1), scored on the held-out digits of both sides by `gantrain task=eval`
on its last checkpoint: label preservation both ways (the target domain's judge on the translated
images, against the source labels; the robust judge, and the plain one of earlier releases) beside the
source-only baseline, CyCADA's transfer score (a classifier trained on the translated training images,
tested on the target's real test images) beside its source-only and target-only classifiers, FID in the
target judge's features, and the cycle L1.

    python bench/cyclegan.py --jobs 2                      # into bench/results/cyclegan/mnist_uci/<variant>/seed<S>/, then the table
    python bench/cyclegan.py --data mnist_mnistm --jobs 2  # the colour pair
    python bench/cyclegan.py --report                      # the table of what has run

By default the full loss runs with seeds 0, 1, 2 and every other variant with seed 0. A finished run is
not run again; a stopped one resumes (its checkpoint), so an interrupted benchmark continues; a finished
run scored by an older judge is scored again (task=eval, RUN/eval/).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "cyclegan"
DATA = ("mnist_uci", "mnist_mnistm")
VARIANTS = {  # name -> (the overrides on top of `gantrain model=cyclegan`, what it is)
    "gan_alone": (["loss.lambda_cycle=0"], "GAN alone"),
    "cycle_alone": (["loss.gan_weight=0"], "cycle alone"),
    "gan_forward": (["loss.backward_cycle=false"], "GAN + forward cycle (A→B→A)"),
    "gan_backward": (["loss.forward_cycle=false"], "GAN + backward cycle (B→A→B)"),
    "no_identity": (["loss.lambda_identity=0"], "full loss without the identity term"),
    "full": ([], "full loss (the defaults)"),
}
COLUMNS = (  # (metric, header, digits, percent)
    ("eval/labels_ab", "labels A→B ↑", 1, True),
    ("eval/labels_ba", "labels B→A ↑", 1, True),
    ("eval/labels_ab_plain", "plain judge A→B", 1, True),
    ("eval/labels_ba_plain", "plain judge B→A", 1, True),
    ("eval/transfer_ab", "transfer A→B ↑", 1, True),
    ("eval/transfer_ba", "transfer B→A ↑", 1, True),
    ("eval/fid_ab", "FID A→B ↓", 1, False),
    ("eval/fid_ba", "FID B→A ↓", 1, False),
    ("eval/cycle_l1_a", "cycle L1 A ↓", 3, False),
    ("eval/cycle_l1_b", "cycle L1 B ↓", 3, False),
)
BASELINES = (  # (row, {column metric: the baseline's metric})
    (
        "source-only baseline (no translation)",
        {
            "eval/labels_ab": "eval/source_only_ab",
            "eval/labels_ba": "eval/source_only_ba",
            "eval/labels_ab_plain": "eval/source_only_ab_plain",
            "eval/labels_ba_plain": "eval/source_only_ba_plain",
            "eval/transfer_ab": "eval/transfer_source_only_ab",
            "eval/transfer_ba": "eval/transfer_source_only_ba",
        },
    ),
    (
        "target-only classifier (the ceiling)",
        {"eval/transfer_ab": "eval/transfer_target_only_ab", "eval/transfer_ba": "eval/transfer_target_only_ba"},
    ),
)
NEEDED = "eval/transfer_ab"  # a run scored without it was scored by an older judge: score it again


def folder_of(data: str, variant: str, seed: int) -> Path:
    return RESULTS / data / variant / f"seed{seed}"


def finished(folder: Path) -> bool:
    summary = folder / "summary.json"
    return summary.is_file() and bool(json.loads(summary.read_text()).get("finished"))


def scores(folder: Path) -> dict[str, float] | None:
    """The run's numbers by today's judges: its last evaluation, or task=eval's on its last checkpoint."""
    summary = json.loads((folder / "summary.json").read_text())
    last = summary.get("last") or summary.get("metrics", {})
    if NEEDED in last:
        return last
    found = sorted((folder / "eval").glob("metrics_step*_seed0.json"))
    for path in found:
        record = json.loads(path.read_text())
        if NEEDED in record:
            return record
    return None


def command(data: str, variant: str, seed: int, extra: list[str]) -> list[str]:
    folder = folder_of(data, variant, seed)
    if finished(folder):  # scored by an older judge: score its last checkpoint again
        return [sys.executable, "-m", "gantrain", "task=eval", f"run={folder}", "checkpoint=last"]
    if (folder / "checkpoints" / "last.pt").is_file():
        return [sys.executable, "-m", "gantrain", f"train.resume={folder}"]
    overrides, _ = VARIANTS[variant]
    return [
        sys.executable,
        "-m",
        "gantrain",
        "model=cyclegan",
        f"data={data}",
        *overrides,
        f"seed={seed}",
        f"hydra.run.dir={folder}",
        *extra,
    ]


def done(data: str, variant: str, seed: int) -> bool:
    folder = folder_of(data, variant, seed)
    return finished(folder) and scores(folder) is not None


def run_all(jobs: list[tuple[str, str, int]], extra: list[str], parallel: int) -> None:
    """Each (data, variant, seed) not yet finished and scored, `parallel` at a time, one thread each unless
    OMP_NUM_THREADS says; a run that finishes unscored is scored next."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // parallel)))}
    waiting = [job for job in jobs if not done(*job)]
    running: list[tuple[tuple[str, int], subprocess.Popen, float]] = []
    failed = []
    while waiting or running:
        while waiting and len(running) < parallel:
            job = waiting.pop(0)
            folder_of(*job).parent.mkdir(parents=True, exist_ok=True)
            log = open(folder_of(*job).parent / f"seed{job[2]}.log", "a")
            running.append((job, subprocess.Popen(command(*job, extra), env=env, stdout=log, stderr=subprocess.STDOUT), time.time()))
        time.sleep(2)
        for entry in list(running):
            job, process, started = entry
            if process.poll() is not None:
                running.remove(entry)
                print(f"{job[0]} {job[1]} seed {job[2]}: exit {process.returncode} after {time.time() - started:.0f} s", flush=True)
                if process.returncode != 0:
                    failed.append(job)
                elif not done(*job):
                    waiting.insert(0, job)  # trained: now its scores
    if failed:
        raise SystemExit(f"failed: {failed} (see the .log beside each run)")


def _cell(values: list[float], digits: int, percent: bool = False) -> str:
    scale = 100 if percent else 1
    mean = statistics.mean(values) * scale
    text = f"{mean:.{digits}f}"
    if len(values) > 1:
        text += f" ± {statistics.stdev(values) * scale:.{digits}f}"
    return text + ("%" if percent else "")


def report(data: str = "mnist_uci") -> str:
    lines = [
        "| variant | seeds | " + " | ".join(header for _, header, _, _ in COLUMNS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    baseline = None
    for variant, (_, meaning) in VARIANTS.items():
        finals = []
        for folder in sorted((RESULTS / data / variant).glob("seed*")):
            if folder.is_dir() and finished(folder) and scores(folder) is not None:
                finals.append(scores(folder))
        if not finals:
            continue
        baseline = baseline or finals[0]
        cells = [
            _cell([f[key] for f in finals], digits, percent) if all(key in f for f in finals) else "" for key, _, digits, percent in COLUMNS
        ]
        lines.append(f"| {meaning} | {len(finals)} | {' | '.join(cells)} |")
    if baseline is not None:
        for row, columns in BASELINES:
            cells = [
                f"{100 * baseline[columns[key]]:.1f}%" if key in columns and columns[key] in baseline else "" for key, _, _, _ in COLUMNS
            ]
            lines.append(f"| {row} | | {' | '.join(cells)} |")
    return "\n".join(lines)


def picture(data: str = "mnist_uci", seed: int = 0) -> Path | None:
    """docs/cyclegan_ablation_<data>.png: each variant's last sample grid (held-out a | G_ab(a) | G_ba(G_ab(a)) rows,
    then b | G_ba(b) | G_ab(G_ba(b))), side by side in the table's order; None until all have run."""
    import numpy as np
    from PIL import Image

    grids = []
    for variant in VARIANTS:
        found = sorted((folder_of(data, variant, seed) / "samples").glob("step_*.png"))
        if not found or not finished(folder_of(data, variant, seed)):
            continue  # the variants that have run, in the table's order
        grids.append(np.asarray(Image.open(found[-1]).convert("RGB")))
    if not grids:
        return None
    pad = np.full((grids[0].shape[0], 8, 3), 255, np.uint8)
    image = np.concatenate([x for g in grids for x in (g, pad)][:-1], axis=1)
    out = Path(__file__).resolve().parents[1] / "docs" / f"cyclegan_ablation_{data}.png"
    Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2), Image.Resampling.NEAREST).save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=DATA, default="mnist_uci", help="the built-in pair")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of every variant")
    parser.add_argument("--full-seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of the full loss")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side")
    parser.add_argument("--report", action="store_true", help="only print the table of what has run")
    parser.add_argument("extra", nargs="*", help="more gantrain overrides for new runs, e.g. device=cuda")
    args = parser.parse_args()
    if not args.report:
        jobs = [(args.data, "full", s) for s in args.full_seeds] if "full" in args.variants else []  # the target's runs first
        jobs += [(args.data, v, s) for s in args.seeds for v in args.variants if (args.data, v, s) not in jobs]
        run_all(jobs, args.extra, args.jobs)
    table = report(args.data)
    (RESULTS / args.data).mkdir(parents=True, exist_ok=True)
    (RESULTS / args.data / "table.md").write_text(table + "\n")
    print(table)
    drawn = picture(args.data)
    if drawn:
        print(f"each variant's translations side by side: {drawn}")


if __name__ == "__main__":
    main()
