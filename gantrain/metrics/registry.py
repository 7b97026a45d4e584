"""The numbers an evaluation reports, registered by name: which way is better for each, and what it is.

A run keeps checkpoints/best.pt by one of them (train.best_by); the direction comes from here, so a new
metric is one `register` line beside the code that computes it, and a typo in train.best_by is caught
before any work starts.
"""

import re
from dataclasses import dataclass

from gantrain.core.errors import ConfigError


@dataclass(frozen=True)
class Metric:
    name: str  # as logged: eval/fid
    higher_is_better: bool
    meaning: str

    def better(self, value: float, than: float) -> bool:
        """Whether `value` improves strictly on `than` (a tie keeps the earlier checkpoint)."""
        return value > than if self.higher_is_better else value < than


METRICS: dict[str, Metric] = {}


def register(name: str, *, higher_is_better: bool, meaning: str) -> Metric:
    metric = Metric(name, higher_is_better, meaning)
    METRICS[name] = metric
    return metric


LOWER, HIGHER = False, True
for _name, _higher, _meaning in (
    ("eval/fid", LOWER, "Frechet distance of the samples' features to the held-out images' (the mean of both ways for a CycleGAN)"),
    ("eval/kid", LOWER, "kernel inception distance"),
    ("eval/is", HIGHER, "inception score"),
    ("eval/swd", LOWER, "sliced Wasserstein distance over the Laplacian pyramid, x 10^3"),
    ("eval/precision", HIGHER, "share of samples inside the real images' manifold"),
    ("eval/recall", HIGHER, "share of real images inside the samples' manifold"),
    ("eval/classes_covered", HIGHER, "classes given at least a fair share of samples"),
    ("eval/class_kl", LOWER, "KL of the samples' class histogram from the data's"),
    ("eval/test_error", LOWER, "a classifier D's error on the held-out images"),
    ("eval/cluster_error", LOWER, "a clustering D's error after matching clusters to classes"),
    ("eval/smallest_cluster", HIGHER, "share of the images in D's least used cluster"),
    ("eval/mutual_information", HIGHER, "D's mutual information between training images and its clusters (no labels)"),
    ("eval/l1", LOWER, "L1 between G(source) and the target, [0, 1] scale"),
    ("eval/psnr", HIGHER, "PSNR of G(source) against the target"),
    ("eval/ssim", HIGHER, "SSIM of G(source) against the target"),
    ("eval/sharpness", HIGHER, "variance of the outputs' Laplacian"),
    ("eval/labels_ab", HIGHER, "A's labels kept by G_ab, read by B's robust judge"),
    ("eval/labels_ba", HIGHER, "B's labels kept by G_ba, read by A's robust judge"),
    ("eval/labels_ab_plain", HIGHER, "A's labels kept by G_ab, read by B's plain classifier (the judge before the robust one)"),
    ("eval/labels_ba_plain", HIGHER, "B's labels kept by G_ba, read by A's plain classifier"),
    ("eval/transfer_ab", HIGHER, "a classifier trained on G_ab(train A) with A's labels, on B's test images (CyCADA)"),
    ("eval/transfer_ba", HIGHER, "a classifier trained on G_ba(train B) with B's labels, on A's test images"),
    ("eval/fid_ab", LOWER, "FID of G_ab(test A) in B's classifier features"),
    ("eval/fid_ba", LOWER, "FID of G_ba(test B) in A's classifier features"),
    ("eval/kid_ab", LOWER, "KID of G_ab(test A)"),
    ("eval/kid_ba", LOWER, "KID of G_ba(test B)"),
    ("eval/cycle_l1", LOWER, "the mean of both ways' cycle L1"),
    ("eval/cycle_l1_a", LOWER, "L1 of G_ba(G_ab(a)) to a, [0, 1] scale"),
    ("eval/cycle_l1_b", LOWER, "L1 of G_ab(G_ba(b)) to b, [0, 1] scale"),
):
    register(_name, higher_is_better=_higher, meaning=_meaning)


def metric(name: str, key: str = "train.best_by") -> Metric:
    """The registered metric `name`; eval/swd_16 and the like (one resolution, a live copy) count as their
    family. A name nobody registered: one line listing the choices."""
    family = re.sub(r"(_\d+|_live)$", "", name)
    found = METRICS.get(name) or METRICS.get(family)
    if found is None:
        raise ConfigError(f"{key}={name} is not a metric gantrain computes: choose one of {', '.join(sorted(METRICS))}")
    return Metric(name, found.higher_is_better, found.meaning)
