"""Where a training step's time goes: torch.profiler over gantrain's own train_step, operators grouped by
their input shapes (so each layer's convolutions show apart).

    python bench/profile_step.py --mnist ../shared/data/mnist train.precision=bf16
    python bench/profile_step.py --mnist ../shared/data/mnist --steps 5 train.precision=fp32 train.channels_last=true
    python bench/profile_step.py --mnist ../shared/data/mnist --gemm weight train.precision=bf16   # A/B of gemm_conv
    python bench/profile_step.py --mnist ../shared/data/mnist --model pix2pix --flops-only

--model names one of bench/throughput.py's models (default dcgan64: the side-by-side network, DCGAN at
64x64, batch 64); any gantrain override can be added. It also counts a step's floating-point operations
(torch.utils.flop_counter: matrix products and convolutions, forward and backward) and prints the
rate they were done at, to compare with bench/ceilings.py.
"""

import argparse
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from throughput import MODELS
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

import gantrain.app.cli  # noqa: F401  (the config schema and resolvers)
import gantrain.models.gemm_conv
import gantrain.training.loop
from gantrain.app.run import assemble
from gantrain.training.loop import Trainer

CONF = Path(__file__).resolve().parents[1] / "conf"


def build_trainer(overrides: list[str], run_dir: Path) -> Trainer:
    """The Trainer that `gantrain OVERRIDES` would train, built the way gantrain.app.run builds it."""
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    parts = assemble(cfg, {})
    return Trainer(
        networks=parts.nets,
        objective=parts.objective,
        prior=parts.prior,
        data=parts.data,
        make_optimizer=parts.make_optimizer,
        settings=parts.settings,
        run_dir=run_dir,
        device=parts.device,
        seed=parts.seed,
        show_progress=False,
    )


def step_flops(trainer: Trainer) -> float:
    """Floating-point operations of one training step (every phase, forward and backward)."""
    counter = FlopCounterMode(display=False)
    with counter:
        trainer.train_step()
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", required=True, help="folder with the MNIST IDX files")
    parser.add_argument("--model", default="dcgan64", choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=3, help="profiled steps (after 3 unprofiled ones)")
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--flops-only", action="store_true", help="count a step's operations and time it; no profile")
    parser.add_argument(
        "--gemm",
        choices=["all", "weight", "off"],
        default="all",
        help="bf16, for an A/B of gantrain/models/gemm_conv.py: every pass it takes (the default), "
        "the weight gradient alone (as before 2026-12-03), or none (oneDNN's kernels)",
    )
    parser.add_argument("overrides", nargs="*", help="gantrain overrides, e.g. train.precision=bf16")
    args = parser.parse_args()
    planned = gantrain.models.gemm_conv.plan
    if args.gemm == "weight":
        gantrain.models.gemm_conv.plan = lambda module, x: planned(module, x)._replace(io=False)
    elif args.gemm == "off":
        gantrain.models.gemm_conv.plan = lambda module, x: gantrain.models.gemm_conv.NATIVE
    overrides = [*MODELS[args.model], "device=cpu", *args.overrides]
    if "data=mnist" in overrides:
        overrides.append(f"data.root={args.mnist}")
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = build_trainer(overrides, Path(run_dir))
        batch = trainer.settings.batch_size
        for _ in range(2):
            trainer.train_step()
        flops = step_flops(trainer)
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step()
        seconds = (time.perf_counter() - start) / args.steps
        if not args.flops_only:
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                for _ in range(args.steps):
                    trainer.train_step()
    native = f", gemm {args.gemm}" if args.gemm != "all" else ""
    print(
        f"{args.model} ({' '.join(args.overrides) or 'fp32'}{native}): {batch / seconds:.1f} images/s unprofiled, "
        f"{flops / batch / 1e9:.3f} GFLOP per image per step, {flops / seconds / 1e9:.1f} GFLOP/s"
    )
    if not args.flops_only:
        print(
            prof.key_averages(group_by_input_shape=True).table(
                sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=32, max_shapes_column_width=70
            )
        )


if __name__ == "__main__":
    main()
