"""A classifier D's test error with its stored batch-norm running statistics, and with statistics
re-estimated from real training images only.

During training, batch norm's running statistics are updated by every batch D sees in training mode,
generated ones included, so a checkpoint's statistics are a blend of real and fake batches; evaluation
(D.eval()) uses them. This measures what that blend costs a checkpoint's test error.

    python bench/bn_statistics.py --mnist ../shared/data/mnist bench/results/semi_supervised/catgan/seed0/checkpoints/step_0006000.pt
"""

import argparse

import torch

from gantrain.data.mnist import MNIST
from gantrain.evaluation import TestError
from gantrain.tasks import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", required=True, help="folder with the MNIST IDX files (train and t10k)")
    parser.add_argument("--images", type=int, default=5000, help="real training images to re-estimate the statistics on")
    parser.add_argument("checkpoints", nargs="+")
    args = parser.parse_args()
    cpu = torch.device("cpu")
    test, train = MNIST(root=args.mnist, split="test"), MNIST(root=args.mnist)
    score = TestError(test.images, test.labels, 10, clustering=False, device=cpu)
    for path in args.checkpoints:
        run = load_run(path, cpu)
        stored = score(G=run.G, D=run.D)["eval/test_error"]
        for m in run.D.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the batches below
        run.D.train()
        g = torch.Generator().manual_seed(0)
        x = train.images[torch.randperm(len(train.images), generator=g)[: args.images]].float().div(127.5).sub(1)
        with torch.no_grad():
            for start in range(0, len(x), 100):
                run.D(x[start : start + 100])
        real = score(G=run.G, D=run.D)["eval/test_error"]
        print(f"{path}: stored statistics {100 * stored:.2f}%, real-image statistics {100 * real:.2f}%")


if __name__ == "__main__":
    main()
