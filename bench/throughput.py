"""Training throughput: steady-state images/s and peak memory of gantrain's training loop, side by side
with the DCGAN script of the public pytorch/examples repository.

The side-by-side trains the same network (DCGAN at 64x64, ngf = ndf = 64, z of 100), on the same data
(MNIST resized to 64x64), with the same batch (64), optimiser (Adam 2e-4, beta1 0.5) and one D step per
G step. Both run as separate processes, alternating A B A B, and both are timed the same way: the
images/s from the first iteration after --warmup to the last of --steps, start-up excluded.

    python bench/throughput.py --mnist ../shared/data/mnist --reference /path/to/examples/dcgan/main.py
    python bench/throughput.py --mnist ../shared/data/mnist --precision fp32 bf16 --rounds 2 --reference ...
    python bench/throughput.py --mnist ../shared/data/mnist --models gan sgan catgan pix2pix vae   # gantrain alone
    python bench/throughput.py --mnist ../shared/data/mnist --variants '' train.channels_last=true --reference ...

The reference script is not part of gantrain: pass the path of your own copy of
https://github.com/pytorch/examples/blob/main/dcgan/main.py (it is read, never downloaded, here).
"""

import argparse
import gzip
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ceilings import cpu_description

RESULTS = Path(__file__).resolve().parent / "results" / "throughput"

# gantrain's side of the side-by-side: the reference's network, batch and data
DCGAN64 = [
    "model=dcgan",
    "data=mnist",
    "data.image_size=64",
    "model.generator.width=64",
    "model.discriminator.width=64",
    "train.batch_size=64",
    "optim.lr=2e-4",
    "optim.beta1=0.5",
]
# the other models, each at its own defaults on MNIST (pix2pix: its built-in edges -> digit task)
MODELS = {
    "dcgan64": DCGAN64,
    "dcgan": ["model=dcgan", "data=mnist"],
    "gan": ["model=gan", "data=mnist"],
    "cgan": ["model=cgan", "data=mnist"],
    "sgan": ["model=sgan", "data=mnist", "data.labeled_per_class=10"],
    "catgan": ["model=catgan", "data=mnist", "data.labeled_per_class=10"],
    "pix2pix": ["model=pix2pix"],
    "vae": ["model=vae", "data=mnist"],
    "cyclegan": ["model=cyclegan"],
    "progan": ["model=progan", "data=mnist"],
}


def _wait(process: subprocess.Popen) -> float:
    """Wait for the process; its peak resident memory in MiB (the main process: ru_maxrss)."""
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return usage.ru_maxrss / 1024


def run_gantrain(
    model: str, precision: str, steps: int, warmup: int, mnist: str | None, device: str, extra: list[str], processes: int = 1
) -> dict:
    """One gantrain run; with processes > 1, under torchrun with the same global batch split between them."""
    log_every = 5
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            a if not (processes > 1 and a.startswith("train.batch_size=")) else f"train.batch_size={int(a.split('=')[1]) // processes}"
            for a in MODELS[model]
        ]
        args += [
            f"train.steps={steps}",
            f"train.log_every={log_every}",
            f"train.sample_every={steps}",
            f"train.ckpt_every={steps}",
            "eval.every=0",
            f"train.precision={precision}",
            f"device={device}",
            f"hydra.run.dir={tmp}/run",
            *extra,
        ]
        if mnist and "data=mnist" in args:
            args.append(f"data.root={mnist}")
        launcher = (
            [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
            if processes > 1
            else [sys.executable]
        )
        started = time.perf_counter()
        process = subprocess.Popen([*launcher, "-m", "gantrain", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stderr = process.stderr.read()
        rss = _wait(process)
        seconds_whole = time.perf_counter() - started
        summary = Path(tmp) / "run" / "summary.json"
        if not summary.is_file():
            raise SystemExit(f"gantrain {' '.join(args)} failed:\n{stderr[-2000:]}")
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(Path(tmp) / "run" / "tb"), size_guidance={"scalars": 0})
        events.Reload()
        rates = {e.step: e.value for e in events.Scalars("perf/steps_per_s")}
        cuda = (
            {e.step: e.value for e in events.Scalars("perf/cuda_max_allocated_mib")}
            if "perf/cuda_max_allocated_mib" in events.Tags()["scalars"]
            else {}
        )
        batch = json.loads(summary.read_text())
    # each logged rate covers the log_every steps before it; keep the windows wholly after the warm-up
    windows = [step for step in rates if step - log_every >= warmup]
    seconds = sum(log_every / rates[step] for step in windows)
    batch_size = _batch_size(args) * processes  # the global batch
    return {
        "images_per_s": batch_size * log_every * len(windows) / seconds if windows else None,
        "rss_mib": rss,
        "cuda_max_allocated_mib": max(cuda.values()) if cuda else None,
        "steps": batch["step"],
        "process_seconds": seconds_whole,
        "batch_size": batch_size,
    }


def outside(model: str, precision: str, short: int, long: int, rounds: int, mnist: str | None, device: str, extra: list[str]) -> dict:
    """The per-step cost timed from outside: whole `gantrain` processes of `short` and `long` steps (after
    one priming run, which fills the disk cache and any compile cache), alternating; the difference of
    their wall-clock times over long - short steps cancels start-up, data loading and the final
    checkpoint. Beside it, the loop's own counters of the long runs (the windows after 10 steps)."""
    run_gantrain(model, precision, short, 0, mnist, device, extra)  # priming
    times: dict[int, list[float]] = {short: [], long: []}
    inside: list[float] = []
    for _ in range(rounds):
        for steps in (short, long):
            result = run_gantrain(model, precision, steps, 10, mnist, device, extra)
            times[steps].append(result["process_seconds"])
            if steps == long:
                inside.append(result["images_per_s"])
    per_step = (statistics.median(times[long]) - statistics.median(times[short])) / (long - short)
    return {
        "outside_images_per_s": result["batch_size"] / per_step,
        "inside_images_per_s": statistics.median(inside),
        "process_seconds": times,
    }


def _batch_size(args: list[str]) -> int:
    for arg in args:
        if arg.startswith("train.batch_size="):
            return int(arg.split("=")[1])
    # a model's own default: ask the config
    out = subprocess.run(
        [sys.executable, "-m", "gantrain", *args, "--cfg", "job", "-p", "train.batch_size"], capture_output=True, text=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def torchvision_mnist(mnist: str, into: Path) -> Path:
    """The IDX files laid out as torchvision's MNIST class reads them (root/MNIST/raw/, uncompressed),
    so that the reference finds them and downloads nothing."""
    raw = into / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        source = Path(mnist) / name
        if source.is_file():
            shutil.copyfile(source, raw / name)
        else:
            with gzip.open(source.with_name(name + ".gz")) as f, open(raw / name, "wb") as out:
                shutil.copyfileobj(f, out)
    return into


def run_reference(script: str, root: Path, steps: int, warmup: int, device: str) -> dict:
    """pytorch/examples dcgan/main.py on MNIST at its defaults (64x64, batch 64, ngf = ndf = 64), timed
    from the line it prints after each iteration; stopped after `steps` iterations."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-u", script, "--dataset", "mnist", "--dataroot", str(root), "--outf", out, "--manualSeed", "1"]
        if device != "cpu":
            cmd.append("--accel")
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        stamps: list[float] = []
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line)
            if "Loss_D" in line:
                stamps.append(time.perf_counter())
                if len(stamps) > steps:
                    break
        process.terminate()
        rss = _wait(process)
    if len(stamps) <= steps:
        raise SystemExit("the reference stopped early:\n" + "".join(lines[-20:]))
    # stamps[i] is the end of iteration i; iterations warmup+1 .. steps
    return {"images_per_s": 64 * (steps - warmup) / (stamps[steps] - stamps[warmup]), "rss_mib": rss, "cuda_max_allocated_mib": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", required=True, help="folder with the MNIST IDX files (.gz or not)")
    parser.add_argument("--reference", help="path to pytorch/examples dcgan/main.py: run it side by side")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=["dcgan64"])
    parser.add_argument("--precision", nargs="+", choices=["fp32", "bf16", "fp16"], default=["fp32"])
    parser.add_argument("--steps", type=int, default=60, help="iterations per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="iterations left out at the start")
    parser.add_argument("--rounds", type=int, default=2, help="A B A B: measurements of each")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--processes", nargs="+", type=int, default=[1], help="data-parallel processes (torchrun), same global batch")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[""],
        help="sets of gantrain overrides timed A B A B as separate rows, e.g. '' 'train.channels_last=true'",
    )
    parser.add_argument(
        "--outside",
        nargs=2,
        type=int,
        metavar=("N", "M"),
        help="also time whole processes of N and M steps (after a priming run) and compare with the loop's counters",
    )
    parser.add_argument("extra", nargs="*", help="more gantrain overrides for every run, e.g. train.channels_last=false")
    args = parser.parse_args()
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}; {' '.join(cpu['isa'])}; torch {cpu['torch']}", flush=True)

    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = torchvision_mnist(args.mnist, Path(tmp)) if args.reference else None
        for _ in range(args.rounds):
            for model, precision, processes, variant in itertools.product(args.models, args.precision, args.processes, args.variants):
                name = (
                    f"gantrain {model} {precision}"
                    + (f" x{processes} processes" if processes > 1 else "")
                    + (f" {variant}" if variant else "")
                )
                extra = [*args.extra, *variant.split()]
                results.setdefault(name, []).append(
                    run_gantrain(model, precision, args.steps, args.warmup, args.mnist, args.device, extra, processes)
                )
                print(f"{name}: {results[name][-1]['images_per_s']:.1f} images/s", flush=True)
            if root is not None:
                results.setdefault("reference", []).append(run_reference(args.reference, root, args.steps, args.warmup, args.device))
                print(f"reference: {results['reference'][-1]['images_per_s']:.1f} images/s", flush=True)

    reference = statistics.median(r["images_per_s"] for r in results["reference"]) if "reference" in results else None
    print(f"\n| run | images/s (median of {args.rounds}) | each | ratio to the reference | peak RSS MiB | CUDA max allocated MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, runs in results.items():
        rate = statistics.median(r["images_per_s"] for r in runs)
        each = ", ".join(f"{r['images_per_s']:.1f}" for r in runs)
        ratio = f"{rate / reference:.2f}x" if reference else "-"
        cuda = max((r["cuda_max_allocated_mib"] or 0) for r in runs)
        print(f"| {name} | {rate:.1f} | {each} | {ratio} | {max(r['rss_mib'] for r in runs):.0f} | {f'{cuda:.0f}' if cuda else '-'} |")
    timed_outside = {}
    if args.outside:
        short, long = args.outside
        print(
            f"\n| run | images/s from outside ({long} - {short} steps, whole processes) | images/s from the loop's counters | outside "
            "/ inside |"
        )
        print("| --- | --- | --- | --- |")
        for model, precision in itertools.product(args.models, args.precision):
            found = outside(model, precision, short, long, args.rounds, args.mnist, args.device, list(args.extra))
            timed_outside[f"{model} {precision}"] = found
            ratio = found["outside_images_per_s"] / found["inside_images_per_s"]
            print(
                f"| gantrain {model} {precision} | {found['outside_images_per_s']:.1f} | {found['inside_images_per_s']:.1f} | "
                f"{ratio:.2f} |",
                flush=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"cpu": cpu_description(), "args": vars(args), "results": results, "outside": timed_outside}
    (RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
