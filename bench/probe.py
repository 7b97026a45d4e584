"""The discriminator as a representation on the full MNIST (issue 34; Radford et al. 2016, section 5.1):
each run below is trained without labels (a finished run is reused), then `gantrain task=probe` trains a
linear classifier on D's pooled features with 100, 1,000 and all 60,000 labels (three class-balanced
draws each) and scores it on the 10,000 test digits, beside the same D with random weights and the raw
pixels (and, for CatGAN, its own clustering error).

    python bench/probe.py --mnist ../shared/data/mnist --runs dcgan catgan_unsupervised
    python bench/probe.py --report

Run it alone (or with OMP_NUM_THREADS=1 and nothing else heavy): the probe is mostly matrix products.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "probe"
RUNS = {  # name -> (overrides, what it is)
    "dcgan": (["model=dcgan", "train.steps=3000"], "DCGAN (the default: width 32, 28 x 28), 3,000 steps of 64, no labels"),
    "catgan_unsupervised": (
        ["model=catgan", "data.labeled_per_class=0", "train.steps=1200"],
        "CatGAN (its defaults: 28 x 28), 1,200 steps of 100 (two epochs), no labels",
    ),
}
BUDGETS = "100,1000,all"


def run_one(name: str, mnist: str, draws: int) -> dict:
    folder = RESULTS / name
    overrides, _ = RUNS[name]
    if not (folder / "summary.json").is_file():
        args = [*overrides, f"data.root={mnist}", "device=cpu", "eval.every=0", f"hydra.run.dir={folder}"]
        if subprocess.run([sys.executable, "-m", "gantrain", *args]).returncode != 0:
            raise SystemExit(f"{name}: training failed")
    found = sorted((folder / "probe").glob("probe_step*.json"))
    if not found:
        args = ["task=probe", f"run={folder}", f"labels=[{BUDGETS}]", f"draws={draws}", "device=cpu"]
        if subprocess.run([sys.executable, "-m", "gantrain", *args]).returncode != 0:
            raise SystemExit(f"{name}: task=probe failed")
        found = sorted((folder / "probe").glob("probe_step*.json"))
    return json.loads(found[-1].read_text())


def report() -> str:
    lines = []
    for name, (_, what) in RUNS.items():
        found = sorted((RESULTS / name / "probe").glob("probe_step*.json"))
        if not found:
            continue
        record = json.loads(found[-1].read_text())
        budgets = record["budgets"]
        lines += [
            f"**{what}** (test error %, mean ± sd over {record['draws']} label draws; 'all': one fit)",
            "",
            "| features | length | " + " | ".join(f"{b} labels" for b in budgets) + " |",
            "| --- | --- | " + " | ".join("---" for _ in budgets) + " |",
        ]
        for rows in record["rows"].values():
            for row in rows:
                cells = []
                for b in budgets:
                    errors = [100 * e for e in row["errors"][b]]
                    mean = sum(errors) / len(errors)
                    sd = (sum((e - mean) ** 2 for e in errors) / (len(errors) - 1)) ** 0.5 if len(errors) > 1 else None
                    cells.append(f"{mean:.2f}" + (f" ± {sd:.2f}" if sd is not None else ""))
                lines.append(f"| {row['name']} | {row['features'] or '–'} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", default="../shared/data/mnist")
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--report", action="store_true", help="print the tables of what has run, and stop")
    args = parser.parse_args()
    if not args.report:
        for name in args.runs:
            run_one(name, os.path.abspath(args.mnist), args.draws)
    print(report())


if __name__ == "__main__":
    main()
