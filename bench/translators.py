"""Pix2Pix and CycleGAN at 256x256, batch 1, side by side with the reference implementation's train.py
(junyanz/pytorch-CycleGAN-and-pix2pix: your own local copy, passed with --reference; it is not part of
gantrain and is never stored here) on the same generated photos, with the same networks and jitter
(the paper's defaults on both sides: U-Net 256 + PatchGAN 70 with batch norm; ResNet 9 blocks + PatchGAN
70 with instance norm, LSGAN, an image pool of 50, cycle 10, identity 0.5; resize to 286, crop 256, flip).

    python bench/translators.py --reference PATH/TO/pytorch-CycleGAN-and-pix2pix                 # CPU
    python bench/translators.py --reference PATH --device cuda --iterations 50 250              # a GPU

Both are timed the same way, from outside: whole processes of N and of M training iterations (batch 1)
after a priming run, so start-up, data loading set-up and the first iterations cancel:
images/s = (M - N) / (T_M - T_N). The reference runs one epoch over a folder capped at N (or M) images
(--max_dataset_size; its checkpoint saved at the end of it, --save_epoch_freq 1), gantrain train.steps=N
(or M), with its checkpoint and pictures at the end only. Peak memory beside each, from the priming run (runs that are timed
are not sampled: reading a
large process's memory map stalls it): the PSS of the process tree on the CPU, the largest per-process memory
nvidia-smi reports on a GPU (the CUDA context and the caching allocator's reserve included, the same for
both). Written for the reference's newest code (2025-08, commit 2a7afba: no --gpu_ids, it uses the GPU
whenever one is visible); it imports `dominate` and `wandb`: pip install --target DIR dominate wandb and
pass --reference-path DIR. Run it alone.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ceilings import cpu_description
from data_path import make_folder
from PIL import Image
from stream_memory import _pss_mib, _tree

RESULTS = Path(__file__).resolve().parent / "results" / "translators"


def make_pairs(n: int) -> Path:
    """n aligned A|B training pairs (512x256 JPEGs in root/train/, the layout both read): A a synthetic
    photo, B its edges, so both sides of the pair have structure. A complete folder is reused."""
    root = RESULTS / f"pairs_{n}"
    if (root / ".complete").is_file():
        return root
    photos = make_folder(n) / "trainA"
    (root / "train").mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(sorted(photos.iterdir())[:n]):
        a = np.asarray(Image.open(path).convert("RGB").resize((256, 256)), dtype=np.float32)
        grey = a.mean(-1)
        edges = np.abs(np.diff(grey, axis=0, prepend=grey[:1])) + np.abs(np.diff(grey, axis=1, prepend=grey[:, :1]))
        b = np.repeat((255 - np.clip(edges * 8, 0, 255))[..., None], 3, -1)
        Image.fromarray(np.concatenate([a, b], 1).astype(np.uint8)).save(root / "train" / f"{i:06d}.jpg", quality=90)
    (root / ".complete").touch()
    return root


def _gpu_mib(pids: list[int]) -> float:
    """The largest memory nvidia-smi reports for any of the processes (MiB); 0 without nvidia-smi."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0.0
    used = [float(m) for p, m in (line.split(",") for line in out.splitlines() if "," in line) if int(p) in pids]
    return max(used, default=0.0)


def timed(command: list[str], cwd: Path, env: dict, memory: str | None = None) -> tuple[float, float]:
    """Wall seconds of the whole process, and with memory="cpu" or "gpu" its peak memory (MiB), sampled
    every 0.2 s. Sampling slows the process (reading a large process's smaps stalls it), so a run is
    either timed or measured, never both."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while memory is not None and process.poll() is None:
        tree = _tree(process.pid)
        peak = max(peak, _gpu_mib(tree) if memory == "gpu" else _pss_mib(tree))
        time.sleep(0.2)
    process.wait()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed:\n{process.stderr.read()[-3000:]}")
    return seconds, peak


def reference_command(args, model: str, root: Path, n: int, out: Path) -> list[str]:
    mode = {
        "pix2pix": ["--model", "pix2pix", "--dataset_mode", "aligned", "--direction", "AtoB"],
        "cyclegan": ["--model", "cycle_gan", "--dataset_mode", "unaligned"],
    }[model]
    return [
        sys.executable,
        "train.py",
        "--dataroot",
        str(root),
        "--name",
        f"{model}_{n}",
        "--checkpoints_dir",
        str(out),
        *mode,
        "--batch_size",
        "1",
        "--max_dataset_size",
        str(n),
        "--n_epochs",
        "1",
        "--n_epochs_decay",
        "0",
        "--save_epoch_freq",
        "1",
        "--no_html",
        "--print_freq",
        "100000",
        "--display_freq",
        "100000",
        "--num_threads",
        str(args.workers),
    ]


def gantrain_command(args, model: str, root: Path, n: int, out: Path) -> list[str]:
    data = {"pix2pix": "data=paired", "cyclegan": "data=unpaired"}[model]
    return [
        sys.executable,
        "-m",
        "gantrain",
        f"model={model}",
        data,
        f"data.root={root}",
        "data.image_size=256",
        "train.batch_size=1",
        f"train.steps={n}",
        f"train.num_workers={args.workers}",
        f"train.log_every={n}",
        f"train.sample_every={n}",
        f"train.ckpt_every={n}",
        "eval.every=0",
        f"device={args.device}",
        f"hydra.run.dir={out}/{model}_{n}",
        *args.overrides,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, required=True, help="a checkout of junyanz/pytorch-CycleGAN-and-pix2pix")
    parser.add_argument("--reference-path", default="", help="folders added to PYTHONPATH for the reference (e.g. where dominate is)")
    parser.add_argument("--models", nargs="+", choices=["pix2pix", "cyclegan"], default=["pix2pix", "cyclegan"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--iterations", nargs=2, type=int, default=[4, 12], metavar=("N", "M"), help="training iterations of the two timed runs"
    )
    parser.add_argument("--rounds", type=int, default=1, help="A B A B: measurements of each")
    parser.add_argument("--workers", type=int, default=2, help="loader processes, both sides")
    parser.add_argument("overrides", nargs="*", help="more gantrain overrides, e.g. train.precision=bf16")
    args = parser.parse_args()
    n, m = args.iterations
    if not (args.reference / "train.py").is_file():
        parser.error(f"--reference {args.reference} has no train.py: give a checkout of junyanz/pytorch-CycleGAN-and-pix2pix")
    if not 1 <= n < m:
        parser.error(f"--iterations N M needs 1 <= N < M (got {n} {m}): the rate is (M - N) / (T_M - T_N)")
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}; {' '.join(cpu['isa'])}; torch {cpu['torch']}; device {args.device}", flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (args.reference_path, os.environ.get("PYTHONPATH", "")) if p)}
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # the reference takes the GPU whenever it sees one (it has no device option)
    roots = {"pix2pix": make_pairs(m), "cyclegan": make_folder(m)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for model in args.models:
            sides = {
                # each process writes into a folder of its own (gantrain refuses to overwrite a run)
                "reference train.py": (
                    lambda k: reference_command(args, model, roots[model], k, Path(tempfile.mkdtemp(dir=out))),
                    args.reference,
                    env,
                ),
                "gantrain": (
                    lambda k: gantrain_command(args, model, roots[model], k, Path(tempfile.mkdtemp(dir=out))),
                    Path.cwd(),
                    dict(os.environ),
                ),
            }
            memory = "gpu" if args.device == "cuda" else "cpu"
            # priming (files cached, kernels and caches warm), with the peak memory measured on the way
            peaks = {side: timed(build(n), cwd, side_env, memory)[1] for side, (build, cwd, side_env) in sides.items()}
            rates: dict[str, list[float]] = {side: [] for side in sides}
            for _ in range(args.rounds):
                for side, (build, cwd, side_env) in sides.items():
                    short, _ = timed(build(n), cwd, side_env)
                    long, _ = timed(build(m), cwd, side_env)
                    rates[side].append((m - n) / (long - short))
                    print(
                        f"{model} {side}: {rates[side][-1]:.3f} images/s ({n} iterations {short:.1f} s, {m} iterations {long:.1f} s)",
                        flush=True,
                    )
            reference = statistics.median(rates["reference train.py"])
            for side in sides:
                rate = statistics.median(rates[side])
                each = ", ".join(f"{r:.3f}" for r in rates[side])
                rows.append(f"| {model} 256, batch 1 | {side} | {rate:.3f} | {each} | {rate / reference:.2f}x | {peaks[side]:.0f} |")
    unit = "GPU MiB (nvidia-smi)" if args.device == "cuda" else "PSS MiB (process tree)"
    print(f"\n| run | code | images/s (median) | each | ratio to the reference | peak {unit} |\n| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
