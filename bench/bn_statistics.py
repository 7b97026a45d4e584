"""A classifier D's test error with the batch-norm running statistics its checkpoint stores, and with
statistics re-estimated on real training images, as evaluation during training does (eval.bn_images).

Running statistics follow the last few batches D saw in training mode; before the fix in commit
"losses: D calls on generated batches leave batch norm's running statistics to real data" that
included G's batches, so the checkpoints of that time store a blend of real and fake statistics.
This measures what a checkpoint's stored statistics cost its test error.

    python bench/bn_statistics.py --mnist ../shared/data/mnist bench/results/semi_supervised/catgan/seed0/checkpoints/step_0006000.pt
"""

import argparse

import torch

from gantrain.data.mnist import MNIST
from gantrain.metrics.evaluation import TestError
from gantrain.models.batch_norm import statistics_sample
from gantrain.tasks import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", required=True, help="folder with the MNIST IDX files (train and t10k)")
    parser.add_argument("--images", type=int, default=5000, help="real training images to re-estimate the statistics on (eval.bn_images)")
    parser.add_argument("checkpoints", nargs="+")
    args = parser.parse_args()
    cpu = torch.device("cpu")
    test, train = MNIST(root=args.mnist, split="test"), MNIST(root=args.mnist)
    stored = TestError(test.images, test.labels, 10, clustering=False, device=cpu)
    real = TestError(
        test.images, test.labels, 10, clustering=False, device=cpu, statistics_images=statistics_sample(train.images, args.images)
    )
    for path in args.checkpoints:
        run = load_run(path, cpu)
        a, b = stored(G=run.G, D=run.D)["eval/test_error"], real(G=run.G, D=run.D)["eval/test_error"]
        print(f"{path}: stored statistics {100 * a:.2f}%, real-image statistics {100 * b:.2f}%")


if __name__ == "__main__":
    main()
