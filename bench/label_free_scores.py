"""Score saved checkpoints of unsupervised CatGAN runs the way a run's evaluation does, live D and (where
the checkpoint holds one) its moving average: the clustering error on the MNIST test digits, and the
label-free numbers on training images that could choose a checkpoint without labels.

    python bench/label_free_scores.py --mnist ../shared/data/mnist RUN/checkpoints/step_0001800.pt ...

Per checkpoint and D: the clustering error (test split, Hungarian matching), eval/mutual_information
(what a run logs and keeps checkpoints/best.pt by: I(x; y) on 5,000 training images), and its two parts,
the mean conditional entropy mean_x H[p(y|x)] and the marginal entropy H[mean_x p(y|x)], in nats.
"""

import argparse
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import gantrain.app.config  # noqa: F401  (registers the resolvers a stored config uses)
from gantrain.app.run import PROBE_IMAGES
from gantrain.data.mnist import MNIST
from gantrain.losses.functional import conditional_entropy, marginal_entropy
from gantrain.metrics.evaluation import TestError, predict_logits
from gantrain.models.batch_norm import statistics_of, statistics_sample
from gantrain.training.checkpoint import load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", required=True, help="folder with the MNIST IDX files (train and t10k)")
    parser.add_argument("checkpoints", nargs="+", type=Path)
    args = parser.parse_args()
    cpu = torch.device("cpu")
    train, test = MNIST(args.mnist, split="train"), MNIST(args.mnist, split="test")
    probe = statistics_sample(train.images, PROBE_IMAGES)
    print("| checkpoint | D | step | clustering error | mutual information | mean H[p(y|x)] | H[mean p(y|x)] |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in args.checkpoints:
        state = load_checkpoint(path)
        cfg = OmegaConf.create(state["config"])
        bn_images = int(cfg.eval.get("bn_images", 5000))
        score = TestError(
            test.images,
            test.labels,
            10,
            clustering=True,
            device=cpu,
            statistics_images=statistics_sample(train.images, bn_images) if bn_images else None,
            probe_images=probe,
        )
        for which, weights in (("live", "discriminator"), ("average", "d_average")):
            if weights not in state:
                continue
            D = instantiate(cfg.model.discriminator)
            D.load_state_dict(state[weights])
            numbers = score(G=None, D=D)
            D.eval()
            with statistics_of(D, score.statistics_images, device=cpu):
                logits = predict_logits(D, probe, device=cpu)
            print(
                f"| {path} | {which} | {state['step']} | {100 * numbers['eval/cluster_error']:.2f}% | "
                f"{numbers['eval/mutual_information']:.3f} | {conditional_entropy(logits).item():.3f} | "
                f"{marginal_entropy(logits).item():.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
