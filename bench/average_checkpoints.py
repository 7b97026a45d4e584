"""What a longer moving average of D's weights would score: the test error of a semi-supervised D whose
weights are averaged over the periodic checkpoints of one run, each weighted by decay^(T - step), where T
is the last checkpoint's step. With checkpoints one epoch apart this is the exponential moving average
`eval.ema=decay` sampled once an epoch (Salimans et al. evaluate their MNIST D with decay 0.9999),
computed after the fact from a run that trained with another (or no) average. Every floating-point
tensor of D's state is averaged (for weight norm: the directions, scales and biases, as their code
averages its parameters); D is then evaluated exactly as the run's evaluations do (eval mode, MNIST's
10,000 test digits).

`--which live` averages the live D of each checkpoint, `--which average` the run's own moving average
stored beside it (eval.ema), which smooths each sample over the last few hundred steps too. The
checkpoints must come from one run; a run keeps only `train.keep_ckpts` of them, so keep more
(`train.keep_ckpts=0` keeps all) or link them elsewhere as they are written.

    python bench/average_checkpoints.py --mnist ../shared/data/mnist --decay 0.9999 --every 6000 RUN/checkpoints/step_*.pt

prints, for the last checkpoint and (with --every) for earlier ends a multiple of that many steps apart:
the averaged D's test error, the run's own averaged D and the live D at that checkpoint, and how many
checkpoints (and how many steps of history) went into the average.
"""

import argparse
import re
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from gantrain.app.run import build
from gantrain.data.mnist import MNIST
from gantrain.metrics.evaluation import TestError
from gantrain.training.checkpoint import load_checkpoint


def step_of(path: Path) -> int:
    found = re.search(r"step_(\d+)\.pt$", path.name)
    if not found:
        raise SystemExit(f"{path}: not a periodic checkpoint (step_N.pt)")
    return int(found.group(1))


def averaged_state(states: list[dict[str, Tensor]], weights: list[float]) -> dict[str, Tensor]:
    """The weighted mean of every floating-point tensor of the state dicts (weights sum to 1); other
    tensors (counters, flags) are the last state's."""
    out = {}
    for key, last in states[-1].items():
        if torch.is_floating_point(last):
            out[key] = sum(w * s[key].double() for s, w in zip(states, weights)).to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", required=True, help="folder with the MNIST IDX files (train and t10k)")
    parser.add_argument("--decay", type=float, default=0.9999, help="per-step decay of the average (eval.ema)")
    parser.add_argument("--which", choices=("live", "average"), default="live", help="which D of each checkpoint to average")
    parser.add_argument(
        "--every", type=int, default=0, help="also evaluate the average ending at earlier checkpoints this many steps apart"
    )
    parser.add_argument("checkpoints", nargs="+", type=Path)
    args = parser.parse_args()
    if not 0 <= args.decay < 1:
        raise SystemExit(f"--decay must be in [0, 1) (got {args.decay})")
    paths = sorted(args.checkpoints, key=step_of)
    steps = [step_of(p) for p in paths]
    cpu = torch.device("cpu")
    test = MNIST(root=args.mnist, split="test")

    first = load_checkpoint(paths[0])
    cfg = OmegaConf.create(first["config"])
    D: nn.Module = build(cfg.model.discriminator, "model.discriminator")
    scorer = TestError(test.images, test.labels, int(cfg.model.num_classes), clustering=False, device=cpu)

    def error(state: dict[str, Tensor]) -> float:
        D.load_state_dict(state)
        predictions, _ = scorer.predict(D)
        return float((predictions != test.labels).float().mean())

    key = "discriminator" if args.which == "live" else "d_average"
    states, own, live = [], [], []
    for path in paths:  # (each checkpoint is read once: D's state, its own average, the live D)
        state = load_checkpoint(path)
        if key not in state:
            raise SystemExit(f"{path} has no {key!r} (a run without eval.ema has only the live D: --which live)")
        states.append(state[key])
        own.append(state.get("d_average"))
        live.append(state["discriminator"])

    ends = [i for i, s in enumerate(steps) if args.every and (steps[-1] - s) % args.every == 0] or [len(steps) - 1]
    if ends[-1] != len(steps) - 1:
        ends.append(len(steps) - 1)
    print(f"{len(paths)} checkpoints, steps {steps[0]}-{steps[-1]}; average of the {args.which} D, decay {args.decay}")
    print(f"{'step':>8} {'averaged':>9} {'run ema':>8} {'live':>7} {'used':>5} {'history':>8}")
    for end in ends:
        weights = [args.decay ** (steps[end] - s) for s in steps[: end + 1]]
        total = sum(weights)
        mean = averaged_state(states[: end + 1], [w / total for w in weights])
        run_ema = f"{100 * error(own[end]):.2f}%" if own[end] is not None else "-"
        print(
            f"{steps[end]:>8} {100 * error(mean):>8.2f}% {run_ema:>8} {100 * error(live[end]):>6.2f}% "
            f"{end + 1:>5} {steps[end] - steps[0]:>8}"
        )


if __name__ == "__main__":
    main()
