"""Which digits each of an unsupervised CatGAN's outputs holds: the contingency table of a checkpoint's
D on MNIST's 10,000 test digits (rows: D's outputs, columns: digits 0-9), with the clustering error
one-to-one and by majority. D is evaluated as during training: eval mode, batch-norm statistics
re-estimated on the run's eval.bn_images training digits. An all-zero row is a cluster D no longer
uses; a row with two large counts is two digits sharing a cluster.

    python bench/cluster_table.py --mnist ../shared/data/mnist \\
        bench/results/cpu_cu_h10/catgan_unsupervised/seed0/checkpoints/step_0006000.pt
"""

import argparse

import torch

from gantrain.data.mnist import MNIST
from gantrain.metrics.evaluation import clustering_error, contingency_matrix, predict_classes
from gantrain.models.batch_norm import statistics_of, statistics_sample
from gantrain.tasks import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", required=True, help="folder with the MNIST IDX files (train and t10k)")
    parser.add_argument("checkpoints", nargs="+")
    args = parser.parse_args()
    cpu = torch.device("cpu")
    test, train = MNIST(root=args.mnist, split="test"), MNIST(root=args.mnist)
    for path in args.checkpoints:
        run = load_run(path, cpu)
        D, K = run.D.eval(), run.D.num_classes
        n = int(run.config.eval.get("bn_images", 0))
        with statistics_of(D, statistics_sample(train.images, n) if n else None, device=cpu):
            predictions = predict_classes(D, test.images, device=cpu)
        counts = contingency_matrix(predictions, test.labels, K, 10)  # (K, 10)
        one_to_one = clustering_error(predictions, test.labels, K, 10)
        majority = clustering_error(predictions, test.labels, K, 10, match="majority")
        print(f"{path} (step {run.step}): error one-to-one {100 * one_to_one:.2f}%, by majority {100 * majority:.2f}%")
        print("output " + "".join(f"{d:>6}" for d in range(10)))
        for k, row in enumerate(counts.tolist()):
            print(f"{k:>6} " + "".join(f"{c:>6}" for c in row))


if __name__ == "__main__":
    main()
