"""How close generated images come to the data, offline: the Scorer that computes the views of both image
sets once (the extractor's features and class logits) and hands them to the metrics chosen by name
(`eval.metrics`, gantrain/metrics/sample_metrics.py; conf/metrics/).

What the metrics see is a feature extractor, chosen with `eval.extractor`:

  * `classifier` (default): a small CNN that gantrain trains once on a labelled data set's training
    split (gantrain/metrics/classifier.py), caches under ~/.cache/gantrain/extractors/ and reuses
    (gantrain/metrics/extractor_cache.py). Its penultimate layer gives the features, its logits the class
    probabilities for IS and the class histogram. No network needed, and the numbers are stable from run
    to run; they are comparable only between runs scored by the same extractor (its file name carries the
    data set's fingerprint and VERSION).
  * `inception`: the standard Inception-v3 of FID/IS papers (gantrain/metrics/inception.py), from the
    weights file named by `eval.inception_weights`, for numbers comparable with the literature.
  * `none`: no network; only the metrics that need none (swd).
"""

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.core.pixels import to_unit_range
from gantrain.metrics.classifier import DataClassifier
from gantrain.metrics.sample_metrics import FID, IS, KID, PRDC, SWD, Classes, ImageSet, SampleMetric

EXTRACTORS = ("classifier", "inception", "none")  # none: the metrics that need no network (swd)


def default_metrics(extractor: str = "classifier", sliced: bool = True) -> list[SampleMetric]:
    """eval.metrics=null: every built-in metric that `extractor` serves (swd alone without a network; the
    class histogram only with gantrain's classifier); `sliced=False` leaves out swd (its sorts cost seconds)."""
    metrics: list[SampleMetric] = [] if extractor == "none" else [FID(), KID(), IS()]
    metrics += [SWD()] if sliced else []
    metrics += [] if extractor == "none" else [PRDC()]
    metrics += [Classes()] if extractor == "classifier" else []
    return metrics


class ExtractorViews:
    """The Views (gantrain/metrics/sample_metrics.py) of `eval.extractor`: uint8 images (B, C, H, W) -> its
    features (B, F) and class logits (B, K), from gantrain's classifier or from Inception-v3."""

    def __init__(self, extractor: str, classifier: DataClassifier | None, inception_weights: str | None) -> None:
        self.classifier = classifier if extractor == "classifier" else None
        self.inception_features: nn.Module | None = None
        self.inception_logits: nn.Module | None = None
        if extractor == "inception":
            from gantrain.metrics.inception import inception_network, inception_path

            weights = inception_path(inception_weights)
            self.inception_features = inception_network(weights, "2048")
            self.inception_logits = inception_network(weights, "logits_unbiased")

    def features(self, images: Tensor) -> Tensor:
        if self.classifier is not None:
            return self.classifier.features(to_unit_range(images)).float()
        assert self.inception_features is not None
        return self.inception_features(_rgb(images)).float()

    def logits(self, images: Tensor) -> Tensor:
        if self.classifier is not None:
            return self.classifier(to_unit_range(images)).float()
        assert self.inception_logits is not None
        return self.inception_logits(_rgb(images)).float()

    def to(self, device: torch.device) -> "ExtractorViews":
        for network in (self.inception_features, self.inception_logits):
            if network is not None:
                network.to(device)
        return self


def _rgb(images: Tensor) -> Tensor:
    """Inception reads RGB: grey images (B, 1, H, W) are repeated to 3 channels."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


class Scorer:
    """Scores sets of generated images against one set of real ones with `metrics` (None: default_metrics);
    the real side's views and statistics are computed once."""

    def __init__(
        self,
        real: Tensor,
        *,
        metrics: Sequence[SampleMetric] | None = None,
        extractor: str = "classifier",
        classifier: DataClassifier | None = None,
        data_share: Tensor | None = None,
        inception_weights: str | None = None,
        batch_size: int = 250,
        sliced: bool = True,
    ) -> None:
        if extractor not in EXTRACTORS:
            raise ConfigError(f"eval.extractor must be classifier, inception or none (got {extractor!r})")
        self.metrics = list(metrics) if metrics is not None else default_metrics(extractor, sliced)
        check_metrics(self.metrics, extractor)
        self.networks = extractor != "none"
        if extractor == "classifier" and classifier is None and any(m.needs_features or m.needs_logits for m in self.metrics):
            raise ConfigError("eval.extractor=classifier needs a labelled data set (its classifier is trained on the labels)")
        self.histogram_of_classes = extractor == "classifier"
        self.views = None
        if self.networks and (classifier is not None or extractor == "inception"):
            self.views = ExtractorViews(extractor, classifier, inception_weights).to(real.device)
        self.device, self.batch_size = real.device, batch_size
        self.real = ImageSet(real, self.views, batch_size, class_share=data_share)
        for metric in self.metrics:
            metric.prepare(self.real)

    @torch.no_grad()
    def __call__(self, fake: Tensor) -> tuple[dict[str, float], Tensor | None]:
        """The numbers for uint8 fakes (N, C, H, W), and their class histogram under the classifier."""
        scored = ImageSet(fake.to(self.device), self.views, self.batch_size)
        numbers: dict[str, float] = {}
        for metric in self.metrics:
            numbers.update(metric(scored))
        histogram = None
        if self.histogram_of_classes and scored.logits_computed:  # the logits a metric asked for (IS, classes)
            histogram = torch.bincount(scored.logits.argmax(1).cpu(), minlength=scored.logits.shape[1])
        return {k: (v if math.isfinite(v) else float("nan")) for k, v in numbers.items()}, histogram


def check_metrics(metrics: Sequence[SampleMetric], extractor: str, names: Sequence[str] | None = None) -> None:
    """One line when a chosen metric needs a view that `extractor` does not give (`names`: as the user wrote them)."""
    shown = list(names) if names is not None else [type(m).__name__.lower() for m in metrics]
    for metric, name in zip(metrics, shown):
        if extractor == "none" and (metric.needs_features or metric.needs_logits):
            raise ConfigError(
                f"eval.metrics: {name} needs an extractor's features, and eval.extractor=none has none: use eval.extractor=classifier "
                "(a labelled data set) or inception, or only metrics that need no network (swd)"
            )
        if extractor != "classifier" and metric.needs_classes:
            raise ConfigError(
                f"eval.metrics: {name} counts the data's own classes, which only gantrain's classifier sees: use "
                f"eval.extractor=classifier, or leave {name} out"
            )


def score(real: Tensor, fake: Tensor, **settings: Any) -> tuple[dict[str, float], Tensor | None]:
    """The metrics of uint8 fakes against uint8 reals, once (`settings` as for Scorer). Returns the numbers
    and the samples' class histogram."""
    return Scorer(real, **settings)(fake)


def check_scoring_fits(n: int, per_image: int, device: torch.device, key: str) -> None:
    """Scoring n samples holds them, their float copies and the extractor's resized input at once (with as
    many real images): refuse an n that cannot fit, in one line, before generating any. `key` names the
    setting (task=eval n, eval.n)."""
    from gantrain.core.resources import available_bytes

    needed = n * per_image * 9  # uint8 samples, a float32 copy, the extractor's resized float input
    free = available_bytes(device)
    if free is not None and needed > free:
        most = max(2, free // (per_image * 9))
        raise ConfigError(
            f"{key}={n:,} needs about {needed / 2**30:.1f} GiB for its samples, more than the {free / 2**30:.1f} GiB "
            f"free on {device}: use {key.split()[-1]} of at most {most:,} (10,000 is the usual)"
        )
