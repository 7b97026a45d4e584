"""Evaluation: test error, clustering error, and the evaluators that score a run while it trains.

- `classification_error`: the semi-supervised test error of Salimans et al. (2016), "Improved Techniques
  for Training GANs", where the discriminator's first K logits classify the test set.
- `clustering_error`: the unsupervised error of a K-way clustering (e.g. CatGAN, Springenberg 2016),
  after the best one-to-one matching of clusters to classes by the Hungarian algorithm (the
  "unsupervised clustering accuracy" of Xie et al. 2016, DEC), or with `match="majority"` after giving
  each cluster the class most of its samples have, the usual score when there are more clusters than
  classes (over-clustering).
- The evaluators a run is scored by every eval.every steps (`Evaluator`): a classifier D's test error,
  Pix2Pix's L1/PSNR/SSIM, sample scores; the moving average of weights they may score is in averaging.py.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.core.pixels import to_unit_range
from gantrain.models.base import declared
from gantrain.models.batch_norm import statistics_of
from gantrain.models.inference import generate_images, translate


def predict_classes(classify: Callable[[Tensor], Tensor], images: Tensor, *, batch_size: int = 500, device: torch.device) -> Tensor:
    """uint8 images (N, C, H, W) on the CPU -> predicted classes (N,) int64 on the CPU.

    `classify` maps a float batch in [-1, 1] on `device` to logits (B, K); the caller puts it in eval mode.
    """
    logits = predict_logits(classify, images, batch_size=batch_size, device=device)
    return logits.argmax(dim=1) if len(logits) else torch.empty(0, dtype=torch.int64)


@torch.no_grad()
def predict_logits(classify: Callable[[Tensor], Tensor], images: Tensor, *, batch_size: int = 500, device: torch.device) -> Tensor:
    """uint8 images (N, C, H, W) on the CPU -> `classify`'s logits (N, K), float32 on the CPU."""
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"images must be a uint8 tensor (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    predictions = []
    for start in range(0, len(images), batch_size):
        # move uint8 (4x fewer bytes than float) and scale on the device
        x = to_unit_range(images[start : start + batch_size].to(device, non_blocking=True))
        logits = classify(x)  # (B, K)
        if logits.dim() != 2 or logits.shape[0] != x.shape[0]:
            raise ValueError(f"classify must return logits ({x.shape[0]}, K), got {tuple(logits.shape)}")
        predictions.append(logits.float())
    if not predictions:
        return torch.empty(0, 0)
    return torch.cat(predictions).cpu()  # one device sync for the whole set


def mutual_information(logits: Tensor) -> float:
    """I(x; y) of D's cluster assignment p(y | x) over a set of images, logits (N, K): the entropy of
    the average assignment H[mean_x p(y | x)] minus the average entropy mean_x H[p(y | x)], in nats.
    log K when D is sure of every image and uses its K clusters equally; low while it hesitates, as
    when its clusters scramble. It needs no labels: it is the CatGAN D's own objective on real data."""
    from gantrain.losses.functional import conditional_entropy, marginal_entropy

    return float(marginal_entropy(logits) - conditional_entropy(logits))


def classification_error(predictions: Tensor, labels: Tensor) -> float:
    """The fraction of predictions (N,) that differ from labels (N,), in [0, 1]."""
    _check_pair(predictions, labels)
    return (predictions != labels).float().mean().item()


def contingency_matrix(predictions: Tensor, labels: Tensor, num_clusters: int, num_classes: int) -> Tensor:
    """Counts (num_clusters, num_classes): entry [k, c] is how many samples of class c fall in cluster k."""
    _check_pair(predictions, labels)
    if num_clusters < 1 or num_classes < 1:
        raise ValueError(f"num_clusters and num_classes must be positive, got {num_clusters} and {num_classes}")
    predictions, labels = predictions.long().cpu(), labels.long().cpu()
    if predictions.min() < 0 or predictions.max() >= num_clusters:
        raise ValueError(f"predictions must lie in [0, {num_clusters}), got [{int(predictions.min())}, {int(predictions.max())}]")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{int(labels.min())}, {int(labels.max())}]")
    counts = torch.bincount(predictions * num_classes + labels, minlength=num_clusters * num_classes)
    return counts.view(num_clusters, num_classes)


def match_clusters(predictions: Tensor, labels: Tensor, num_clusters: int, num_classes: int) -> dict[int, int]:
    """The one-to-one cluster -> class map that agrees with the most labels (Hungarian algorithm).

    With more clusters than classes, only num_classes clusters get a class; the rest are left out.
    """
    return _best_matching(contingency_matrix(predictions, labels, num_clusters, num_classes))


CLUSTER_MATCHES = ("one_to_one", "majority")


def clustering_error(predictions: Tensor, labels: Tensor, num_clusters: int, num_classes: int, match: str = "one_to_one") -> float:
    """The classification error of the clusters once each is given a class.

    match="one_to_one": the map of `match_clusters`; samples in unmatched clusters count as wrong.
    match="majority": each cluster takes the class most of its samples have, so several clusters may
    share a class (with num_clusters > num_classes this is the usual over-clustering score; with equal
    numbers it can only be lower than the one-to-one error).
    """
    if match not in CLUSTER_MATCHES:
        raise ValueError(f"match must be one of {', '.join(CLUSTER_MATCHES)}, got {match!r}")
    counts = contingency_matrix(predictions, labels, num_clusters, num_classes)  # (clusters, classes)
    if match == "majority":
        correct = int(counts.max(dim=1).values.sum())
    else:
        correct = sum(int(counts[k, c]) for k, c in _best_matching(counts).items())
    return 1.0 - correct / len(labels)


def _best_matching(counts: Tensor) -> dict[int, int]:
    # linear_sum_assignment minimises cost, so negate the counts to maximise the matched agreement;
    # on a rectangular matrix it matches min(num_clusters, num_classes) pairs
    rows, cols = linear_sum_assignment(-counts.numpy())
    return {int(k): int(c) for k, c in zip(rows, cols)}


def _check_pair(predictions: Tensor, labels: Tensor) -> None:
    if predictions.dim() != 1 or predictions.shape != labels.shape:
        raise ValueError(f"predictions and labels must both be (N,), got {tuple(predictions.shape)} and {tuple(labels.shape)}")
    if len(labels) == 0:
        raise ValueError("cannot measure an error on zero samples")


class Evaluator(ABC):
    """What scores a run every eval.every steps: the run's networks by name -> eval/* numbers."""

    name: str = "eval/score"  # the headline number (TensorBoard's HParams tab)
    # the metric the run keeps checkpoints/best.pt by unless train.best_by says otherwise (its direction is
    # the metric's, gantrain/metrics/registry.py); None: no best.pt by default
    select_by: str | None = None
    # the network whose moving average of weights eval.ema evaluates in its place; None: no average
    averaged: str | None = None

    @abstractmethod
    def __call__(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        """The numbers for these networks (with eval.ema, `averaged` is the average)."""

    def closing(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        """Numbers too costly for every evaluation (a classifier trained on translated images, say): computed
        once, at the run's last step, and logged with its last evaluation. None by default."""
        return {}


class TestError(Evaluator):
    """Evaluate a classifier discriminator on held-out labelled images.

    With labels seen in training: `eval/test_error`, the fraction of test images D's K class logits get
    wrong. Trained without labels (unsupervised CatGAN): `eval/cluster_error`, the error after matching
    D's K outputs to the classes (`cluster_match`: one-to-one, Hungarian, or by majority), and `eval/smallest_cluster`, the share of the
    images in D's least used output (1/K when balanced; near 0 shows a cluster D no longer uses).

    Given `probe_images` too (unlabelled training images, uint8 (N, C, H, W)), a clustering run also
    reports `eval/mutual_information`, D's mutual information between those images and its clusters: a
    score without labels, which the trainer selects its best checkpoint by (`select_by`).

    A D with batch norm classifies with running statistics, which during training follow the last few
    real batches, and for a moving average of the weights (eval.ema) belong to other weights altogether.
    Given `statistics_images` (real training images, uint8 (N, C, H, W)), each evaluation first
    re-estimates them on those images for the weights being evaluated (as SWA's update_bn does), then
    puts D's own statistics back: training never sees the difference."""

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        num_classes: int,
        *,
        clustering: bool,
        device: torch.device,
        statistics_images: Tensor | None = None,
        cluster_match: str = "one_to_one",
        probe_images: Tensor | None = None,
        network: str = "discriminator",
    ) -> None:
        if cluster_match not in CLUSTER_MATCHES:
            raise ConfigError(f"eval.cluster_match must be one of {', '.join(CLUSTER_MATCHES)} (got {cluster_match!r})")
        self.images, self.labels, self.num_classes = images, labels, num_classes
        self.cluster_match = cluster_match
        self.clustering, self.device = clustering, device
        self.statistics_images = statistics_images
        self.name = "eval/cluster_error" if clustering else "eval/test_error"
        self.probe_images = probe_images if clustering else None
        # best.pt by default: without labels, by the label-free mutual information where there are probe
        # images (the clusters' answer to "which weights?" that the test labels did not choose), else by the error
        self.select_by = "eval/mutual_information" if self.probe_images is not None else self.name
        self.averaged = network  # the classifier: eval.ema scores the moving average of its weights

    def predict(self, D: nn.Module) -> tuple[Tensor, Tensor | None]:
        """D's class (or cluster) for each held-out image, (N,) int64, and its logits on the probe images
        (P, K), None without them: D as every evaluation sees it."""
        from gantrain.losses.functional import class_logits

        fake_class = declared(D).fake_class
        was_training = D.training
        D.eval()  # no dropout or input noise; batch norm uses its running statistics
        try:
            with statistics_of(D, self.statistics_images, device=self.device):
                classify = lambda x: class_logits(D(x), fake_class)  # noqa: E731
                predictions = predict_classes(classify, self.images, device=self.device)
                probe = predict_logits(classify, self.probe_images, device=self.device) if self.probe_images is not None else None
        finally:
            D.train(was_training)
        return predictions, probe

    def __call__(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        """The classifier D's error on the held-out images."""
        D = nets[self.averaged]
        predictions, probe = self.predict(D)
        if self.clustering:
            # the share of the images in D's least used cluster: 1/K when balanced, near 0 when a cluster died
            smallest = torch.bincount(predictions, minlength=D.num_classes).min().item() / len(predictions)
            numbers = {
                self.name: clustering_error(predictions, self.labels, D.num_classes, self.num_classes, self.cluster_match),
                "eval/smallest_cluster": smallest,
            }
            if probe is not None:
                numbers["eval/mutual_information"] = mutual_information(probe)
            return numbers
        return {self.name: classification_error(predictions, self.labels)}


def laplacian_variance(images: Tensor) -> Tensor:
    """Sharpness: the variance of each image's Laplacian, (B, C, H, W) in [0, 1] -> (B,). Blurry
    images have little high-frequency energy and score low (Pech-Pacheco et al. 2000)."""
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=images.device)
    grey = images.float().mean(dim=1, keepdim=True)  # (B, 1, H, W)
    return torch.nn.functional.conv2d(grey, kernel.view(1, 1, 3, 3)).flatten(1).var(dim=1)


CHUNK_VALUES = 1 << 20  # pixel values per chunk of an evaluation over many images (SSIM keeps ~50 float copies of each)


class TranslationMetrics(Evaluator):
    """How close G(source) comes to the target on held-out pairs: L1, PSNR and SSIM (torchmetrics), on
    the [0, 1] pixel scale, and the outputs' sharpness (variance of the Laplacian).

    G runs as Isola et al. run it at test time (see translate)."""

    name = "eval/l1"
    select_by = "eval/l1"  # no FID for a translation: best.pt is the closest to the targets

    def __init__(self, pairs: Sequence[tuple[Tensor, Tensor]], *, device: torch.device, batch_size: int = 1) -> None:
        """pairs: any indexable of (source, target) uint8 (C, S, S) pairs, read a chunk at a time, so that the
        memory of an evaluation does not grow with the number of held-out pairs (a folder's are decoded
        anew at each evaluation)."""
        self.pairs, self.device, self.batch_size = pairs, device, batch_size

    def __call__(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        from torchmetrics.functional.image import structural_similarity_index_measure

        # in chunks of about CHUNK_VALUES pixel values: SSIM's filtered copies of 1,000 pairs at 256 x 256
        # would take gigabytes at once; sums in float64 make the chunked means the whole set's means
        n = len(self.pairs)
        per_image = self.pairs[0][1].numel()
        chunk = max(1, CHUNK_VALUES // per_image)
        abs_err = sq_err = ssim = sharpness = 0.0
        for start in range(0, n, chunk):
            sources, targets_uint8 = (torch.stack(side) for side in zip(*(self.pairs[i] for i in range(start, min(n, start + chunk)))))
            outputs = translate(nets["generator"], sources, device=self.device, batch_size=self.batch_size)
            targets = targets_uint8.float().div(255)
            m = len(targets)
            abs_err += float((outputs - targets).abs().double().sum())
            sq_err += float((outputs - targets).double().pow(2).sum())
            ssim += m * float(structural_similarity_index_measure(outputs, targets, data_range=1.0))
            sharpness += float(laplacian_variance(outputs).double().sum())
        values = n * per_image
        return {
            "eval/l1": abs_err / values,
            "eval/psnr": 10 * math.log10(1.0 / max(sq_err / values, 1e-20)),  # PSNR over all pixels at once, as torchmetrics'
            "eval/ssim": ssim / n,
            "eval/sharpness": sharpness / n,
        }


class GeneratedScores(Evaluator):
    """Every eval.every steps: FID, KID, IS and class coverage of eval.n samples from a fixed z against
    the held-out images (gantrain.metrics.fidelity.Scorer, whose real side is computed once)."""

    name = "eval/fid"

    def __init__(self, scorer: Any, latent: Any, device: torch.device, generator: str = "generator") -> None:
        self.scorer, self.latent, self.device, self.generator = scorer, latent, device, generator
        if not scorer.networks:  # eval.extractor=none: the sliced Wasserstein distance is the headline
            self.name = "eval/swd"
        self.select_by = self.name  # best.pt by FID (SWD without a feature network)

    def __call__(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        numbers, _ = self.scorer(generate_images(nets[self.generator], self.latent).to(self.device))
        return numbers


class Evaluations(Evaluator):
    """Several evaluations as one: their numbers merged (e.g. a classifier D's test error and FID); the
    first names the headline number and the network eval.ema averages."""

    def __init__(self, *parts: Evaluator) -> None:
        self.parts = parts
        self.name, self.averaged = parts[0].name, parts[0].averaged
        # best.pt by default: a label-free score where a part has one (an unlabelled CatGAN's), else FID where
        # a part computes it, else the first part's choice
        choices = [part.select_by for part in parts if part.select_by is not None]
        preferred = [c for c in ("eval/mutual_information", "eval/fid") if c in choices]
        self.select_by = preferred[0] if preferred else choices[0] if choices else None

    def __call__(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        numbers: dict[str, float] = {}
        for part in self.parts:
            numbers.update(part(nets))
        return numbers

    def closing(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        numbers: dict[str, float] = {}
        for part in self.parts:
            numbers.update(part.closing(nets))
        return numbers


def live_metrics(evaluate: Evaluator, nets: Mapping[str, nn.Module]) -> dict[str, float]:
    """With eval.ema, the held-out error of the live (not averaged) D too, as `<name>_live`, so that the
    two curves show what the averaging buys; only the test-error part (D's own numbers) is repeated."""
    parts = evaluate.parts if isinstance(evaluate, Evaluations) else (evaluate,)
    return {f"{name}_live": value for part in parts if isinstance(part, TestError) for name, value in part(nets).items()}
