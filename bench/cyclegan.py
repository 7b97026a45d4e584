"""CycleGAN's ablation (Zhu et al. 2017, table 4) in small, on the built-in unpaired task, MNIST digits (A)
<-> the UCI digits scikit-learn ships (B): GAN alone, cycle alone, GAN + forward cycle, GAN + backward
cycle, the full loss, and the full loss without the identity term. Each a real `gantrain model=cyclegan`
run (conf/model_data/cyclegan_mnist_uci.yaml: width 32, 4,000 steps of batch 1), scored at its end on the
held-out digits of both sides: label preservation both ways (the accuracy of the target domain's
classifier on the translated images, against the source labels) beside the source-only baseline, FID in
the target classifier's features, and the cycle L1.

    python bench/cyclegan.py --jobs 2                 # runs into bench/results/cyclegan/<variant>/seed<S>/, then the table
    python bench/cyclegan.py --report                 # the table of what has run

By default the full loss runs with seeds 0, 1, 2 and every other variant with seed 0. A finished run is
not run again; a stopped one resumes (its checkpoint), so an interrupted benchmark continues.
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
VARIANTS = {  # name -> (the overrides on top of `gantrain model=cyclegan`, what it is)
    "gan_alone": (["loss.lambda_cycle=0"], "GAN alone"),
    "cycle_alone": (["loss.gan_weight=0"], "cycle alone"),
    "gan_forward": (["loss.backward_cycle=false"], "GAN + forward cycle (A→B→A)"),
    "gan_backward": (["loss.forward_cycle=false"], "GAN + backward cycle (B→A→B)"),
    "no_identity": (["loss.lambda_identity=0"], "full loss without the identity term"),
    "full": ([], "full loss (the defaults)"),
}
METRICS = ("eval/labels_ab", "eval/labels_ba", "eval/fid_ab", "eval/fid_ba", "eval/cycle_l1_a", "eval/cycle_l1_b")


def folder_of(variant: str, seed: int) -> Path:
    return RESULTS / variant / f"seed{seed}"


def finished(folder: Path) -> bool:
    summary = folder / "summary.json"
    return summary.is_file() and bool(json.loads(summary.read_text()).get("finished"))


def command(variant: str, seed: int, extra: list[str]) -> list[str]:
    folder = folder_of(variant, seed)
    if (folder / "checkpoints" / "last.pt").is_file():
        return [sys.executable, "-m", "gantrain", f"train.resume={folder}"]
    overrides, _ = VARIANTS[variant]
    return [sys.executable, "-m", "gantrain", "model=cyclegan", *overrides, f"seed={seed}", f"hydra.run.dir={folder}", *extra]


def run_all(jobs: list[tuple[str, int]], extra: list[str], parallel: int) -> None:
    """Each (variant, seed) not yet finished, `parallel` at a time, one thread each unless OMP_NUM_THREADS says."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // parallel)))}
    waiting = [job for job in jobs if not finished(folder_of(*job))]
    running: list[tuple[tuple[str, int], subprocess.Popen, float]] = []
    failed = []
    while waiting or running:
        while waiting and len(running) < parallel:
            job = waiting.pop(0)
            folder_of(*job).parent.mkdir(parents=True, exist_ok=True)
            log = open(folder_of(*job).parent / f"seed{job[1]}.log", "a")
            running.append((job, subprocess.Popen(command(*job, extra), env=env, stdout=log, stderr=subprocess.STDOUT), time.time()))
        time.sleep(2)
        for entry in list(running):
            job, process, started = entry
            if process.poll() is not None:
                running.remove(entry)
                print(f"{job[0]} seed {job[1]}: exit {process.returncode} after {time.time() - started:.0f} s", flush=True)
                if process.returncode != 0:
                    failed.append(job)
    if failed:
        raise SystemExit(f"failed: {failed} (see the .log beside each run)")


def _cell(values: list[float], digits: int, percent: bool = False) -> str:
    scale = 100 if percent else 1
    mean = statistics.mean(values) * scale
    text = f"{mean:.{digits}f}"
    if len(values) > 1:
        text += f" ± {statistics.stdev(values) * scale:.{digits}f}"
    return text + ("%" if percent else "")


def report() -> str:
    lines = [
        "| variant | seeds | labels A→B ↑ | labels B→A ↑ | FID A→B ↓ | FID B→A ↓ | cycle L1 A ↓ | cycle L1 B ↓ |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    baseline = None
    for variant, (_, meaning) in VARIANTS.items():
        finals = []
        for folder in sorted((RESULTS / variant).glob("seed*")):
            if finished(folder):
                finals.append(json.loads((folder / "summary.json").read_text())["metrics"])
        if not finals:
            continue
        baseline = baseline or finals[0]
        cells = [
            _cell([f["eval/labels_ab"] for f in finals], 1, True), _cell([f["eval/labels_ba"] for f in finals], 1, True),
            _cell([f["eval/fid_ab"] for f in finals], 1), _cell([f["eval/fid_ba"] for f in finals], 1),
            _cell([f["eval/cycle_l1_a"] for f in finals], 3), _cell([f["eval/cycle_l1_b"] for f in finals], 3),
        ]  # fmt: skip
        lines.append(f"| {meaning} | {len(finals)} | {' | '.join(cells)} |")
    if baseline is not None:
        lines.append(
            f"| source-only baseline (no translation) | | {100 * baseline['eval/source_only_ab']:.1f}% | "
            f"{100 * baseline['eval/source_only_ba']:.1f}% | | | | |"
        )
    return "\n".join(lines)


def picture(seed: int = 0) -> Path | None:
    """docs/cyclegan_ablation.png: each variant's last sample grid (held-out a | G_ab(a) | G_ba(G_ab(a)) rows,
    then b | G_ba(b) | G_ab(G_ba(b))), side by side in the table's order; None until all have run."""
    import numpy as np
    from PIL import Image

    grids = []
    for variant in VARIANTS:
        found = sorted((folder_of(variant, seed) / "samples").glob("step_*.png"))
        if not found or not finished(folder_of(variant, seed)):
            return None
        grids.append(np.asarray(Image.open(found[-1]).convert("L")))
    pad = np.full((grids[0].shape[0], 8), 255, np.uint8)
    image = np.concatenate([x for g in grids for x in (g, pad)][:-1], axis=1)
    out = Path(__file__).resolve().parents[1] / "docs" / "cyclegan_ablation.png"
    Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2), Image.Resampling.NEAREST).save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of every variant")
    parser.add_argument("--full-seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of the full loss")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side")
    parser.add_argument("--report", action="store_true", help="only print the table of what has run")
    parser.add_argument("extra", nargs="*", help="more gantrain overrides for new runs, e.g. device=cuda")
    args = parser.parse_args()
    if not args.report:
        jobs = [("full", s) for s in args.full_seeds] if "full" in args.variants else []  # the target's runs first
        jobs += [(v, s) for s in args.seeds for v in args.variants if (v, s) not in jobs]
        run_all(jobs, args.extra, args.jobs)
    table = report()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "table.md").write_text(table + "\n")
    print(table)
    drawn = picture()
    if drawn:
        print(f"each variant's translations side by side: {drawn}")


if __name__ == "__main__":
    main()
