"""The scores of generated images against real ones, each a class chosen by name: `eval.metrics=[fid,kid]`
names conf/metrics/fid.yaml and conf/metrics/kid.yaml, whose `_target_` is the class here (or a user's own:
docs/extending.md). A metric sees both image sets once, with the views of them it declares it needs (the
extractor's features, its class logits), which gantrain/metrics/fidelity.py's Scorer computes once for all.

  * fid: Frechet distance between Gaussians fitted to the features (Heusel et al. 2017; torchmetrics').
  * kid: kernel inception distance, the mean over subsets of up to `subset_size` (Binkowski et al. 2018).
  * is: inception score over the class logits, in `splits` parts (Salimans et al. 2016).
  * swd: sliced Wasserstein distance over a Laplacian pyramid of patches (Karras et al. 2018); no network.
  * prdc: improved precision and recall (Kynkaanniemi et al. 2019, torch-fidelity's code), and density
    and coverage (Naeem et al. 2020), all over the k-nearest-neighbour balls of the features.
  * classes: the classifier's class histogram of the samples: classes covered (at least COVERED_SHARE
    of a uniform share) and KL(p_samples || p_data); needs gantrain's classifier (eval.extractor=classifier).
"""

import warnings
from abc import ABC, abstractmethod
from typing import Protocol

import torch
from torch import Tensor, nn

COVERED_SHARE = 0.1  # a class is covered when it gets at least 10% of the samples a uniform share would give it


class Views(Protocol):
    """The extractor's views of a batch of uint8 images (B, C, H, W) (gantrain/metrics/fidelity.py)."""

    def features(self, images: Tensor) -> Tensor: ...  # (B, F) float32

    def logits(self, images: Tensor) -> Tensor: ...  # (B, K) float32


class ImageSet:
    """One side of a comparison: uint8 images (N, C, H, W) and the extractor's views of them, each computed
    on first use (in batches of `batch_size`) and kept, so that every metric reading it shares one pass."""

    def __init__(self, images: Tensor, views: Views | None = None, batch_size: int = 250, class_share: Tensor | None = None) -> None:
        self.images, self.views, self.batch_size = images, views, batch_size
        self.class_share = class_share  # (K,) the data's share of each class (the real side, for `classes`)
        self._features: Tensor | None = None
        self._logits: Tensor | None = None

    @property
    def features(self) -> Tensor:
        """(N, F) float32: the extractor's features."""
        if self._features is None:
            self._features = self._each_batch("features")
        return self._features

    @property
    def logits(self) -> Tensor:
        """(N, K) float32: its class logits."""
        if self._logits is None:
            self._logits = self._each_batch("logits")
        return self._logits

    @property
    def logits_computed(self) -> bool:
        """Whether a metric has read the logits (the class histogram is drawn from them when so)."""
        return self._logits is not None

    @torch.no_grad()
    def _each_batch(self, view: str) -> Tensor:
        if self.views is None:
            raise ValueError("these images have no extractor (eval.extractor=none): only metrics of the images themselves apply")
        run = getattr(self.views, view)
        return torch.cat([run(self.images[i : i + self.batch_size]) for i in range(0, len(self.images), self.batch_size)])


class SampleMetric(ABC):
    """A family of numbers (FID; precision, recall, density, coverage; ...) of generated images against
    real ones. `prepare` sees the real set once; each call scores one generated set."""

    needs_features: bool = False  # the extractor's features of both sets (FID, KID, PRDC)
    needs_logits: bool = False  # its class logits (IS)
    needs_classes: bool = False  # logits over the data's own classes: gantrain's classifier, not Inception's

    def prepare(self, real: ImageSet) -> None:
        """Compute what depends on the real images alone (their statistics), once."""
        self.real = real

    @abstractmethod
    def __call__(self, fake: ImageSet) -> dict[str, float]:
        """The numbers, named as logged (eval/fid), for the generated set `fake`."""


class _Given(nn.Module):
    """torchmetrics' feature network for vectors computed already: their own identity, of a known width."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.num_features = width

    def forward(self, vectors: Tensor) -> Tensor:
        return vectors


def _quiet_metric(make):  # noqa: ANN001, ANN202 -- a torchmetrics constructor
    with warnings.catch_warnings():  # "will save all extracted features in buffer": yes, n of them, by design
        warnings.filterwarnings("ignore", message=".*will save all extracted features", category=UserWarning)
        return make()


class FID(SampleMetric):
    needs_features = True

    def prepare(self, real: ImageSet) -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance

        width = real.features.shape[1]
        self.fid = _quiet_metric(lambda: FrechetInceptionDistance(feature=_Given(width), reset_real_features=False))
        self.fid.to(real.features.device)
        self.fid.update(real.features, real=True)

    def __call__(self, fake: ImageSet) -> dict[str, float]:
        self.fid.reset()  # the fakes' statistics only: the real ones stay
        self.fid.update(fake.features, real=False)
        return {"eval/fid": float(self.fid.compute())}


class KID(SampleMetric):
    needs_features = True

    def __init__(self, subset_size: int = 1000, subsets: int = 100) -> None:
        from gantrain.core.errors import ConfigError

        for key, value in (("subset_size", subset_size), ("subsets", subsets)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ConfigError(f"metric kid: {key} must be an integer >= 2 (got {value!r})")
        self.subset_size, self.subsets = subset_size, subsets

    def prepare(self, real: ImageSet) -> None:
        from torchmetrics.image.kid import KernelInceptionDistance

        width, size = real.features.shape[1], min(self.subset_size, len(real.features))
        self.kid = _quiet_metric(
            lambda: KernelInceptionDistance(feature=_Given(width), subsets=self.subsets, subset_size=size, reset_real_features=False)
        )
        self.kid.to(real.features.device)
        self.kid.update(real.features, real=True)
        self.size = size

    def __call__(self, fake: ImageSet) -> dict[str, float]:
        self.kid.reset()
        self.kid.subset_size = min(len(fake.features), self.size)
        self.kid.update(fake.features, real=False)
        mean, _ = self.kid.compute()
        return {"eval/kid": float(mean)}


class IS(SampleMetric):
    needs_logits = True

    def __init__(self, splits: int = 10) -> None:
        from gantrain.core.errors import ConfigError

        if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
            raise ConfigError(f"metric is: splits must be an integer >= 1 (got {splits!r})")
        self.splits = splits

    def __call__(self, fake: ImageSet) -> dict[str, float]:
        from torchmetrics.image.inception import InceptionScore

        score = _quiet_metric(lambda: InceptionScore(feature=_Given(fake.logits.shape[1]), splits=self.splits))
        score.to(fake.logits.device)
        score.update(fake.logits)
        mean, _ = score.compute()
        return {"eval/is": float(mean)}


class SWD(SampleMetric):
    def prepare(self, real: ImageSet) -> None:
        from gantrain.metrics import swd

        self.descriptors = swd.descriptors(real.images.cpu())  # drawn once: their sorts cost seconds

    def __call__(self, fake: ImageSet) -> dict[str, float]:
        from gantrain.metrics import swd

        return swd.swd(self.descriptors, fake.images.cpu())


class PRDC(SampleMetric):
    """Precision, recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020) with k
    nearest neighbours: each real feature's ball reaches its k-th nearest real neighbour. Precision: the
    share of fakes inside some real ball; recall: of reals inside some fake ball (torch-fidelity's code);
    density: the mean number of real balls holding a fake, over k; coverage: the share of real balls
    holding at least one fake. Low recall or coverage with fine precision is mode dropping."""

    needs_features = True

    def __init__(self, k: int = 3) -> None:
        from gantrain.core.errors import ConfigError

        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"metric prdc: k must be an integer >= 1, the neighbours of each ball (got {k!r})")
        self.k = k

    def __call__(self, fake: ImageSet) -> dict[str, float]:
        from torch_fidelity.metric_prc import prc_features_to_metric

        real_features, fake_features = self.real.features.cpu(), fake.features.cpu()
        if min(len(fake_features), len(real_features)) <= self.k:
            return {}
        out = prc_features_to_metric(
            fake_features, real_features, prc_neighborhood=self.k, prc_batch_size=5000, save_cpu_ram=True, verbose=False
        )
        return {
            "eval/precision": float(out["precision"]),
            "eval/recall": float(out["recall"]),
            **density_coverage(real_features, fake_features, self.k),
        }


def _kth_neighbour_radius(points: Tensor, k: int, chunk: int = 2048) -> Tensor:
    """The distance (N,) from each point (N, F) to its k-th nearest other point."""
    radii = []
    for start in range(0, len(points), chunk):
        d = torch.cdist(points[start : start + chunk].double(), points.double())  # (c, N), 0 on the diagonal
        radii.append(d.kthvalue(k + 1, dim=1).values)  # the (k+1)-th smallest skips the point itself
    return torch.cat(radii)


def density_coverage(real: Tensor, fake: Tensor, k: int, chunk: int = 2048) -> dict[str, float]:
    """Naeem et al. (2020), eqs. 3-4: density = 1/(kM) sum_j sum_i 1[fake_j in B(real_i, r_i)] and
    coverage = 1/N sum_i 1[some fake_j in B(real_i, r_i)], r_i the distance from real_i to its k-th
    nearest real neighbour; real (N, F), fake (M, F)."""
    radii = _kth_neighbour_radius(real, k, chunk)  # (N,)
    inside_count = torch.zeros(len(real), dtype=torch.float64)
    for start in range(0, len(fake), chunk):
        d = torch.cdist(real.double(), fake[start : start + chunk].double())  # (N, c)
        inside_count += (d < radii[:, None]).sum(1)  # strictly inside, as the authors' code
    return {
        "eval/density": float(inside_count.sum() / (k * len(fake))),
        "eval/coverage": float((inside_count > 0).double().mean()),
    }


def class_coverage(logits: Tensor, data_share: Tensor) -> dict[str, float]:
    """From the classifier's logits (N, K) on generated images and the data's class shares (K,):
    classes covered (at least COVERED_SHARE of a uniform share of samples), KL(p_samples || p_data)."""
    k = logits.shape[1]
    counts = torch.bincount(logits.argmax(1), minlength=k).double()
    share = counts / counts.sum()
    covered = int((counts >= COVERED_SHARE * counts.sum() / k).sum())
    nonzero = share > 0
    kl = float((share[nonzero] * (share[nonzero] / data_share.double()[nonzero]).log()).sum())
    return {"eval/classes_covered": float(covered), "eval/class_kl": kl}


class Classes(SampleMetric):
    needs_logits = True
    needs_classes = True

    def __call__(self, fake: ImageSet) -> dict[str, float]:
        k = fake.logits.shape[1]
        share = self.real.class_share if self.real.class_share is not None else torch.full((k,), 1.0 / k)
        return class_coverage(fake.logits.cpu(), share)
