"""How much a trained generator's samples differ: the per-pixel standard deviation across 64 samples
(one fixed z per seed), averaged over pixels, for G itself and for its moving average (train.g_ema).
A generator that draws one image for every z scores 0.

    python bench/sample_spread.py bench/results/progan/seed0/progan bench/results/progan/seed0/progan_no_growing
    python bench/sample_spread.py bench/results/progan/seed0/progan/checkpoints/resolution_8.pt
"""

import argparse

import torch

from gantrain.tasks.trained import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders or checkpoints")
    parser.add_argument("--n", type=int, default=64)
    args = parser.parse_args()
    for run in args.runs:
        trained = load_run(run, torch.device("cpu"))
        z = torch.randn(args.n, int(trained.config.model.z_dim), generator=torch.Generator().manual_seed(0))
        live = trained.nets[trained.objective.generator]
        for name, G in (("G", live), ("moving average of G", trained.G if trained.G is not live else None)):
            if G is None:
                continue
            G.eval()
            with torch.no_grad():
                x = G(z)  # (n, C, H, W) in [-1, 1]
            print(f"{run} step {trained.step}, {name}: per-pixel sd across {args.n} samples {float(x.std(dim=0).mean()):.3f}")


if __name__ == "__main__":
    main()
