"""Semi-supervised MNIST benchmark: the test error of model=sgan (feature matching) and model=catgan
with 100 labels (10 per class), mean +- sd over label seeds, as in Salimans et al. (2016) and
Springenberg (2016); and unsupervised CatGAN's clustering error.

Every run is a real `gantrain` run into bench/results/semi_supervised/<name>/seed<S>/. The harness
is resumable: run it again with the same or a larger --steps and each run continues from its last
checkpoint (train.resume), so a benchmark longer than one sitting finishes over several.
Stop it with Ctrl-C or `kill PID` (SIGTERM, passed on to the runs): each run checkpoints before it
exits and its sitting is added to wall_seconds.json.

    python bench/semi_supervised.py --mnist ../shared/data/mnist --runs sgan --seeds 0 1 2 --steps 30000
    python bench/semi_supervised.py --report          # the table from what has run so far; curves.png beside the runs
    python bench/semi_supervised.py --report --results DIR_A DIR_B --plot OUT.png   # variants side by side

The README's CatGAN row (conv-pool D) ran on a CPU with AMX in bfloat16 autocast, which that D needs to be
quick there; on a CPU without AMX or AVX512-BF16 use train.precision=fp32, the faster one there (extra
overrides apply to new runs; a resumed run keeps its own, and the harness refuses an override a run
it would resume was not started with):
    python bench/semi_supervised.py --mnist DIR --results bench/results/semi_supervised_convpool --runs catgan \\
        --steps 3000 train.precision=bf16

On a GPU, runs can go side by side (--jobs; each gets an equal share of the CPU threads) into a folder
of their own (--results), as the README's H100 rows ran:
    python bench/semi_supervised.py --mnist DIR --results bench/results/semi_supervised_gpu --runs catgan catgan_unsupervised \\
        --jobs 6 --steps 60000 device=cuda
"""

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "semi_supervised"
RUNS = {  # name -> (overrides, the metric it reports)
    "sgan": (["model=sgan", "loss=feature_matching", "data.labeled_per_class=10"], "eval/test_error"),
    "catgan": (["model=catgan", "data.labeled_per_class=10"], "eval/test_error"),
    "catgan_unsupervised": (["model=catgan", "data.labeled_per_class=0"], "eval/cluster_error"),
}
# What --seeds varies: the labelled subset (data.label_seed), or, without labels, where that changes
# nothing, the run's own seed (weights, z, data order).
SEED_KEY = {"sgan": "data.label_seed", "catgan": "data.label_seed", "catgan_unsupervised": "seed"}
PAPERS = {
    "sgan": "0.93% +- 0.065 (Salimans et al. 2016)",
    "catgan": "1.91% +- 0.1 (Springenberg 2016)",
    "catgan_unsupervised": "4.27% (Springenberg 2016)",
}


def start_one(
    results: Path, name: str, seed: int, steps: int, mnist: str, extra: list[str], threads: int | None = None
) -> tuple[subprocess.Popen, float]:
    """Start one run (or its continuation) as a `gantrain` process, with `threads` CPU threads if given
    (OMP_NUM_THREADS, unless already set); returns it and its start time."""
    folder = results / name / f"seed{seed}"
    overrides, _ = RUNS[name]
    args = [*overrides, f"data.root={mnist}", f"{SEED_KEY[name]}={seed}", f"train.steps={steps}"]
    if (folder / "checkpoints" / "last.pt").is_file():
        args = [f"train.resume={folder}", f"train.steps={steps}"]  # continue where it stopped
    else:
        args += [f"hydra.run.dir={folder}", *extra]
    env = dict(os.environ)
    if threads is not None:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    return subprocess.Popen([sys.executable, "-m", "gantrain", *args], env=env), time.perf_counter()


def unapplied_overrides(results: Path, jobs: list[tuple[str, int]], extra: list[str]) -> list[str]:
    """One line per run that would resume but was started without some of `extra`: a resumed run keeps
    the settings it started with, so those overrides would be silently dropped."""
    lines = []
    for name, seed in jobs:
        folder = results / name / f"seed{seed}"
        if not (folder / "checkpoints" / "last.pt").is_file():
            continue
        saved = folder / ".hydra" / "overrides.yaml"
        # overrides.yaml is Hydra's list of "- key=value" lines, one per command-line override
        started = {line[2:].strip() for line in saved.read_text().splitlines() if line.startswith("- ")} if saved.is_file() else set()
        missing = [o for o in extra if o not in started]
        if missing:
            lines.append(f"{folder} resumes with its own settings and was started without {' '.join(missing)}")
    return lines


def finish_one(results: Path, name: str, seed: int, process: subprocess.Popen, start: float) -> int:
    """Wait for a run and add its wall time to the run folder's total (a resumed run adds its sitting);
    returns its exit status."""
    returncode = process.wait()
    folder = results / name / f"seed{seed}"
    wall = folder / "wall_seconds.json"
    spent = json.loads(wall.read_text())["seconds"] if wall.is_file() else 0.0
    folder.mkdir(parents=True, exist_ok=True)
    wall.write_text(json.dumps({"seconds": spent + time.perf_counter() - start}))
    return returncode


def run_all(results: Path, jobs: list[tuple[str, int]], steps: int, mnist: str, extra: list[str], parallel: int) -> None:
    """Every (name, seed) run, `parallel` at a time (one at a time on a CPU, where each run takes every
    core). A failed run stops no other; the harness exits non-zero at the end, naming the failures."""
    threads = max(1, (os.cpu_count() or 1) // parallel) if parallel > 1 else None
    pending, running, failed = list(jobs), [], []

    terminated = []

    def stop(signum: int, frame: object) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt  # unwinds to the handler below from wherever the harness waits

    signal.signal(signal.SIGTERM, stop)
    try:
        while pending or running:
            while pending and len(running) < parallel:
                name, seed = pending.pop(0)
                running.append((name, seed, *start_one(results, name, seed, steps, mnist, extra, threads)))
            name, seed, process, start = running[0]
            returncode = finish_one(results, name, seed, process, start)
            running.pop(0)
            if returncode != 0:
                failed.append(f"{name} seed {seed} (exit {returncode})")
    except KeyboardInterrupt:
        # Stopped: each gantrain run checkpoints on SIGTERM or Ctrl-C before it exits, so a later call
        # resumes it, and its sitting still counts in wall_seconds.json. Ctrl-C reached the runs from the
        # terminal already; a SIGTERM to the harness is passed on.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for _, _, process, _ in running if terminated else []:
            process.terminate()
        for name, seed, process, start in running:
            finish_one(results, name, seed, process, start)
        raise SystemExit("stopped: " + ", ".join(f"{name} seed {seed}" for name, seed, _, _ in running) + " (rerun to resume)")
    if failed:
        raise SystemExit("failed: " + ", ".join(failed))


def curve(folder: Path, metric: str) -> list[tuple[int, float]]:
    """(step, value) of one metric of a run: from its metrics.jsonl (the evaluations) where it is there,
    else from its TensorBoard events. metrics.jsonl comes first because in runs resumed before commit d4aa3a7 the
    events of each resume point's step were purged from TensorBoard; where a run resumed from an earlier checkpoint and
    evaluated a step again, the later value wins."""
    log = folder / "metrics.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []
    logged = {row["step"]: row[metric] for row in rows if metric in row}
    if logged or not (folder / "tb").is_dir():
        return sorted(logged.items())
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    if metric not in events.Tags().get("scalars", []):
        return []
    return [(e.step, e.value) for e in events.Scalars(metric)]


def report(results: list[Path], plot_path: Path) -> str:
    """The table of the runs in one or more results folders (several: each row and curve is named by
    its folder too, e.g. the variants of a recipe), and their curves drawn into plot_path."""
    lines = [
        "| run | runs (seeds) | steps reached | test error, mean +- sd | published | wall time per run | median steps/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    curves = {}
    for root, (name, (_, metric)) in [(root, run) for root in results for run in RUNS.items()]:
        label = f"{root.name}/{name}" if len(results) > 1 else name
        finals, steps, walls, rates, live_finals, selected, selected_steps = [], [], [], [], [], [], []
        for folder in sorted((root / name).glob("seed*")):
            points = curve(folder, metric)
            if not points:
                continue
            curves[f"{label} {folder.name}"] = points
            finals.append(points[-1][1])
            # with eval.ema the run also logged the live D's error: the figure the run would have without it
            live = curve(folder, f"{metric}_live")
            if live:
                curves[f"{label} {folder.name} (live D)"] = live
                live_finals.append(live[-1][1])
            # a clustering run's label-free score: the evaluation where it was highest (the first of equal
            # ones, as the run's checkpoints/best.pt), with the error there; no labels choose it
            score = curve(folder, "eval/mutual_information")
            if score:
                best_step = max(score, key=lambda point: point[1])[0]
                selected.append(dict(points).get(best_step, math.nan))
                selected_steps.append(best_step)
            steps.append(points[-1][0])
            wall = folder / "wall_seconds.json"
            walls.append(json.loads(wall.read_text())["seconds"] if wall.is_file() else math.nan)
            # wall time includes any pause or contention of the machine; the logged rate of the steps is steadier
            rates += [rate for _, rate in curve(folder, "perf/steps_per_s")]
        if not finals:
            continue
        mean = 100 * statistics.mean(finals)
        sd = 100 * statistics.stdev(finals) if len(finals) > 1 else math.nan
        lines.append(
            f"| {label} | {len(finals)} | {min(steps)}-{max(steps)} | {mean:.2f}% +- {sd:.2f} | {PAPERS[name]} | "
            f"{_mean_minutes(walls)} | {statistics.median(rates) if rates else math.nan:.1f} |"
        )
        if selected:
            chosen_sd = 100 * statistics.stdev(selected) if len(selected) > 1 else math.nan
            lines.append(
                f"| {label}, at the evaluation with D's highest mutual information on training images (no labels; checkpoints/best.pt) "
                f"| {len(selected)} | {', '.join(map(str, selected_steps))} | {100 * statistics.mean(selected):.2f}% +- {chosen_sd:.2f} "
                f"({', '.join(f'{100 * v:.2f}%' for v in selected)}) | | | |"
            )
        if live_finals:
            live_sd = 100 * statistics.stdev(live_finals) if len(live_finals) > 1 else math.nan
            lines.append(
                f"| {label}, the live D (eval.ema averages) | {len(live_finals)} | | "
                f"{100 * statistics.mean(live_finals):.2f}% +- {live_sd:.2f} | | | |"
            )
    if curves:
        plot(curves, plot_path)
    return "\n".join(lines)


def _mean_minutes(walls: list[float]) -> str:
    """The mean wall time of the runs that recorded one (a run started outside this harness has none)."""
    known = [w for w in walls if not math.isnan(w)]
    if not known:
        return "not recorded"
    note = "" if len(known) == len(walls) else f" ({len(known)} of {len(walls)} runs recorded it)"
    return f"{statistics.mean(known) / 60:.0f} min{note}"


def plot(curves: dict[str, list[tuple[int, float]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker.* below)

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, points in curves.items():
        # a live D's curve follows its averaged one: the same colour, dashed
        style = {"linestyle": "--", "color": ax.lines[-1].get_color()} if label.endswith("(live D)") and ax.lines else {}
        ax.plot([s / 600 for s, _ in points], [100 * v for _, v in points], label=label, **style)  # 600 steps of 100 = 1 epoch
    ax.set_xlabel("epochs of the 60,000 training digits (600 steps of batch 100)")
    ax.set_ylabel("test error; clustering error if unsupervised (%)")
    ax.set_yscale("log")
    ax.set_yticks([1, 2, 5, 10, 20, 50, 100])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title("MNIST, 10,000 test digits: error of D during training")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", help="folder with the MNIST IDX files (train and t10k)")
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        help="label seeds (which 100 digits are labelled); for catgan_unsupervised, the run seed",
    )
    parser.add_argument("--steps", type=int, default=30000, help="generator steps per run (600 = one epoch)")
    parser.add_argument("--report", action="store_true", help="only print the table of what has run")
    parser.add_argument("--results", type=Path, nargs="+", default=[RESULTS], help="the folder of the run folders (--report: one or more)")
    parser.add_argument(
        "--plot",
        type=Path,
        help="where the report draws the curves (default: curves.png in the first --results folder; "
        "docs/ figures are made by naming them here)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (a GPU has room for several)")
    parser.add_argument("extra", nargs="*", help="more gantrain overrides for new runs, e.g. eval.ema=0.999")
    args = parser.parse_args()
    if not args.report:
        if not args.mnist:
            parser.error("--mnist is required to run (the full MNIST IDX files)")
        if len(args.results) != 1:
            parser.error("--results takes one folder to run into (several only with --report)")
        jobs = [(name, seed) for name in args.runs for seed in args.seeds]
        unapplied = unapplied_overrides(args.results[0], jobs, args.extra)
        if unapplied:
            raise SystemExit(
                "\n".join(unapplied) + "\nto try these overrides, start new runs into another folder: --results bench/results/NEW_NAME"
            )
        run_all(args.results[0], jobs, args.steps, args.mnist, args.extra, max(1, args.jobs))
    print(report(args.results, args.plot or args.results[0] / "curves.png"))


if __name__ == "__main__":
    main()
