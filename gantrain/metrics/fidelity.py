"""How close generated images come to the data: FID, KID, IS and mode coverage, offline.

The metrics are torchmetrics' (FID: Heusel et al. 2017; KID: Binkowski et al. 2018; IS: Salimans et al.
2016); what they see is a feature extractor, chosen with `eval.extractor`:

  * `classifier` (default): a small CNN that gantrain trains once on a labelled data set's training
    split (all labels, a fixed seed and schedule), caches under ~/.cache/gantrain/extractors/ and reuses.
    Its penultimate layer gives the features, its logits the class probabilities for IS and coverage.
    No network needed, and the numbers are stable from run to run; they are comparable only between
    runs scored by the same extractor (its file name carries the data set's fingerprint and VERSION).
  * `inception`: the standard Inception-v3 of FID/IS papers (torch-fidelity), from the weights file
    named by `eval.inception_weights`, for numbers comparable with the literature.

Precision and recall (Kynkaanniemi et al. 2019, torch-fidelity's code) in the same feature space.
Coverage (mode collapse made visible): the classifier's class histogram of the samples, how many classes
get at least COVERED_SHARE of the expected count, and KL(p_samples || p_data) over classes.
"""

import hashlib
import math
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.core.pixels import to_unit_range

VERSION = 1  # of the classifier extractor's architecture and training recipe: a change retrains
ROBUST_VERSION = 1  # of the robust recipe (train_classifier(augment=True)), CycleGAN's domain judges
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
EXTRACTORS = ("classifier", "inception", "none")  # none: the sliced Wasserstein distance alone (no network)
TRAIN_STEPS = 1500  # the classifier's training recipe: steps of batch 64, Adam 1e-3, seed 0
ROBUST_STEP_FACTOR = 2  # the robust recipe sees each image deformed: it trains twice as many steps
# and its network is twice as wide: on the MNIST-M-like digits (2,000 training images) width 64 reaches
# 94.6% held-out accuracy against 92.2% at 32 (AMD EPYC Zen 3, 2026-12-06, 3,000 steps each)
ROBUST_WIDTH = 64
# the robust recipe's deformations (deform): a shift of up to this share of the side each way, a zoom of
# the content in this range, a rotation of up to this many degrees, and an elastic displacement of up to
# this share of the side (Simard et al. 2003, "Best practices for CNNs applied to visual document analysis")
SHIFT, ZOOM, ROTATE, ELASTIC = 0.1, (0.75, 1.25), 12.0, 0.03
# what robustness() reports beside the clean accuracy: a shift by 2 px (each of the 4 ways), zooms of 0.8, 1.2
ROBUSTNESS_SHIFT, ROBUSTNESS_ZOOMS = 2, (0.8, 1.2)
COVERED_SHARE = 0.1  # a class is covered when it gets at least 10% of the samples a uniform share would give it


class DataClassifier(nn.Module):
    """The offline extractor: two strided conv layers and two linear ones. Input (B, C, S, S) in [-1, 1];
    `features` (B, 128), the penultimate layer divided by its RMS over the training images (so FID and
    KID come out on a scale that does not depend on the training run); `forward` the class logits (B, K)."""

    num_features = 128

    def __init__(self, channels: int, image_size: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.channels, self.image_size, self.num_classes, self.width = channels, image_size, num_classes, width
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),  # (B, w, S/2, S/2)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),  # (B, 2w, S/4, S/4)
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),  # (B, 2w * 16): any image size
            nn.Linear(2 * width * 16, self.num_features),
            nn.ReLU(),
        )
        self.head = nn.Linear(self.num_features, num_classes)
        self.register_buffer("feature_scale", torch.ones(()))

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x) / self.feature_scale

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))


class _Uint8Input(nn.Module):
    """torchmetrics' view of the classifier: uint8 images (B, C, S, S) -> features or logits."""

    def __init__(self, classifier: DataClassifier, output: str) -> None:
        super().__init__()
        self.classifier, self.output = classifier, output
        self.num_features = classifier.num_features if output == "features" else classifier.num_classes

    def forward(self, images: Tensor) -> Tensor:
        x = to_unit_range(images)
        return self.classifier.features(x) if self.output == "features" else self.classifier(x)


class _LastBatch(nn.Module):
    """A feature map that remembers its last input batch and output: FID, KID, precision/recall (and IS
    and coverage, for the logits) all read each batch, and each would otherwise run the network again."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        if hasattr(net, "num_features"):  # torchmetrics reads it (or probes the network without it)
            self.num_features = net.num_features
        self._last: tuple[Tensor, Tensor] | None = None

    def forward(self, images: Tensor) -> Tensor:
        if self._last is not None and self._last[0] is images:  # the very same tensor object, unchanged
            return self._last[1]
        out = self.net(images)
        self._last = (images, out)
        return out

    def forget(self) -> None:
        self._last = None


def cache_dir() -> Path:
    """$GANTRAIN_CACHE, or $XDG_CACHE_HOME/gantrain, or ~/.cache/gantrain."""
    if os.environ.get("GANTRAIN_CACHE"):
        return Path(os.environ["GANTRAIN_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "gantrain"


def fingerprint(images: Tensor, labels: Tensor) -> str:
    """A short hash of a labelled training set: its size, shape and every 97th image and label."""
    h = hashlib.sha1(f"{tuple(images.shape)}".encode())
    h.update(images[::97].contiguous().numpy().tobytes())
    h.update(labels[::97].to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


@dataclass
class Extractor:
    classifier: DataClassifier
    path: Path  # its cache file
    test_accuracy: float  # on the held-out images it was checked on
    trained_now: bool  # False: loaded from the cache
    robust: bool = False  # trained on deformed images (train_classifier(augment=True))


def warp(x: Tensor, theta: Tensor, displacement: Tensor | None = None) -> Tensor:
    """Images x (B, C, H, W) resampled through the affine maps theta (B, 2, 3) of the output's normalised
    coordinates to the input's (affine_grid's convention), plus an optional displacement (B, H, W, 2) in
    the same coordinates; the border pixels extend outwards (a dark MNIST ground, a textured one alike)."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    if displacement is not None:
        grid = grid + displacement
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def similarity(zoom: Tensor, angle: Tensor, shift: Tensor) -> Tensor:
    """theta (B, 2, 3) that zooms the content by zoom (B,), turns it by angle (B,) radians and moves it by
    shift (B, 2) (x, y) shares of the side. The grid maps output to input, so it is the inverse map."""
    cos, sin = angle.cos() / zoom, angle.sin() / zoom
    tx, ty = -2 * shift[:, 0], -2 * shift[:, 1]  # a share of the side is twice that in [-1, 1] coordinates
    return torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)


def deform(x: Tensor, generator: torch.Generator) -> Tensor:
    """A random shift, zoom, rotation and elastic displacement of each image x (B, C, S, S) in [-1, 1]
    (SHIFT, ZOOM, ROTATE, ELASTIC): the robust recipe's augmentation, drawn from `generator`."""
    b, s = x.shape[0], x.shape[-1]
    u = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731 -- uniform in [0, 1)
    zoom = ZOOM[0] + (ZOOM[1] - ZOOM[0]) * u(b)
    angle = (2 * u(b) - 1) * math.radians(ROTATE)
    shift = (2 * u(b, 2) - 1) * SHIFT
    # the elastic part: a displacement field smooth over a quarter of the side (4x4 knots, bicubic)
    knots = (2 * u(b, 2, 4, 4) - 1) * (2 * ELASTIC)
    field = F.interpolate(knots, size=(s, s), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)  # (B, S, S, 2)
    return warp(x, similarity(zoom, angle, shift), field)


def train_classifier(
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    steps: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    augment: bool = False,
) -> DataClassifier:
    """Train the extractor on uint8 images (N, C, S, S) with their labels: Adam 1e-3, a fixed seed. With
    `augment` (the robust recipe), every batch is deformed at random (deform) and the default number of
    steps is ROBUST_STEP_FACTOR times TRAIN_STEPS."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DataClassifier(images.shape[1], images.shape[2], num_classes, width=ROBUST_WIDTH if augment else 32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    if steps is None:
        steps = TRAIN_STEPS * (ROBUST_STEP_FACTOR if augment else 1)
    for _ in range(steps):
        idx = torch.randint(len(images), (batch_size,), generator=g)
        x = to_unit_range(images[idx])  # (B, C, S, S) in [-1, 1]
        if augment:
            x = deform(x, g)
        loss = F.cross_entropy(model(x), labels[idx].long())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval().requires_grad_(False)
    with torch.no_grad():
        sample = to_unit_range(images[torch.randperm(len(images), generator=g)[:5000]])
        model.feature_scale.copy_(model.trunk(sample).pow(2).mean().sqrt().clamp_min(1e-6))
    return model


@torch.no_grad()
def accuracy(classifier: DataClassifier, images: Tensor, labels: Tensor, batch_size: int = 500) -> float:
    right = 0
    for start in range(0, len(images), batch_size):
        logits = classifier(to_unit_range(images[start : start + batch_size]))
        right += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    return right / max(1, len(images))


@torch.no_grad()
def transformed(images: Tensor, *, zoom: float = 1.0, shift: tuple[float, float] = (0.0, 0.0)) -> Tensor:
    """uint8 images (N, C, S, S) with their content zoomed by `zoom` and moved by `shift` (x, y) pixels."""
    n, s = len(images), images.shape[-1]
    theta = similarity(torch.full((n,), zoom), torch.zeros(n), torch.tensor(shift, dtype=torch.float32).div(s).expand(n, 2))
    out = warp(images.float(), theta)
    return out.round().clamp(0, 255).to(torch.uint8)


def robustness(classifier: DataClassifier, images: Tensor, labels: Tensor) -> dict[str, float]:
    """The classifier's accuracy on held-out uint8 images (N, C, S, S) as they are ("clean"), shifted by
    ROBUSTNESS_SHIFT pixels (the mean over left, right, up and down: "shifted") and with their content
    zoomed by each of ROBUSTNESS_ZOOMS ("zoom_0.8", ...): how much of a judge's verdict is the judge's."""
    d = float(ROBUSTNESS_SHIFT)
    shifted = [accuracy(classifier, transformed(images, shift=way), labels) for way in ((d, 0.0), (-d, 0.0), (0.0, d), (0.0, -d))]
    out = {"clean": accuracy(classifier, images, labels), "shifted": sum(shifted) / len(shifted)}
    out.update({f"zoom_{z:g}": accuracy(classifier, transformed(images, zoom=z), labels) for z in ROBUSTNESS_ZOOMS})
    return out


def robustness_line(numbers: dict[str, float]) -> str:
    """robustness()'s numbers in words: 'clean 97.2%, shifted 2 px 95.0%, zoom 0.8 93.1%, zoom 1.2 96.0%'."""
    words = {"clean": "clean", "shifted": f"shifted {ROBUSTNESS_SHIFT} px"}
    return ", ".join(f"{words.get(k, k.replace('_', ' '))} {100 * v:.1f}%" for k, v in numbers.items())


def data_classifier(
    name: str, train: tuple[Tensor, Tensor], held_out: tuple[Tensor, Tensor], num_classes: int, *, robust: bool = False
) -> Extractor:
    """The cached extractor of a labelled data set, trained on `train` (uint8 images, labels) the first
    time and checked on `held_out`; a cache file of another VERSION or a damaged one is replaced.
    `robust`: the robust recipe (train_classifier(augment=True), ROBUST_VERSION), cached apart."""
    images, labels = train
    recipe = f"robust-classifier-v{ROBUST_VERSION}" if robust else f"classifier-v{VERSION}"
    path = cache_dir() / "extractors" / f"{name}-{recipe}-{fingerprint(images, labels)}.pt"
    cached = _load_cached(path, robust)
    if cached is not None:
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    # the jobs of a sweep started together: one trains the classifier, the others wait for it and load it
    with _exclusive(path.with_suffix(".lock")):
        cached = _load_cached(path, robust)
        if cached is not None:
            return cached
        return _train_and_cache(path, images, labels, held_out, num_classes, robust)


def _load_cached(path: Path, robust: bool = False) -> "Extractor | None":
    """The extractor in `path`; None when there is none, or one of another VERSION, or a damaged one."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("version") != (ROBUST_VERSION if robust else VERSION) or bool(state.get("robust", False)) != robust:
            return None
        model = DataClassifier(**state["shape"])
        model.load_state_dict(state["weights"])
        return Extractor(model.eval().requires_grad_(False), path, float(state["test_accuracy"]), False, robust)
    except Exception:  # noqa: BLE001 -- a damaged cache file: train again and overwrite it
        return None


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """An advisory lock on `lock` for as long as the block runs (none where the file system has no locks)."""
    import fcntl

    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError:  # a file system without locks (some network ones): at worst two processes train it
            pass
        yield  # the lock goes with the file's closing, also when the block raises


def _train_and_cache(
    path: Path, images: Tensor, labels: Tensor, held_out: tuple[Tensor, Tensor], num_classes: int, robust: bool = False
) -> "Extractor":
    model = train_classifier(images, labels, num_classes, augment=robust)
    test_accuracy = accuracy(model, *held_out)
    shape = {"channels": images.shape[1], "image_size": images.shape[2], "num_classes": num_classes, "width": model.width}
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    state = {
        "version": ROBUST_VERSION if robust else VERSION,
        "robust": robust,
        "shape": shape,
        "weights": model.state_dict(),
        "test_accuracy": test_accuracy,
        "made": time.time(),
    }
    torch.save(state, partial)
    os.replace(partial, path)  # atomic: two processes training at once both leave a whole file
    return Extractor(model, path, test_accuracy, True, robust)


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


def _inception_path(weights: str | None) -> str:
    if weights in (None, ""):
        raise ConfigError(
            f"eval.extractor=inception needs its weights file {INCEPTION_FILE} (no download at run time): fetch "
            f"{INCEPTION_URL} on a machine with network and pass eval.inception_weights=PATH"
        )
    path = Path(os.path.expanduser(str(weights)))
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(f"eval.inception_weights={weights} {what}: it must be the file {INCEPTION_FILE} ({INCEPTION_URL})")
    return str(path)


def _inception(weights: str, features: str) -> nn.Module:
    """torchmetrics' FID Inception (the TF port) with the weights file at `weights`, returning `features`."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    try:
        return NoTrainInceptionV3(name="inception-v3-compat", features_list=[features], feature_extractor_weights_path=weights)
    except Exception as e:  # noqa: BLE001 -- pickle, zip, torch's and the state dict's errors alike: the file is not the weights
        raise ConfigError(
            f"eval.inception_weights={weights} is not the weights file {INCEPTION_FILE} ({type(e).__name__}: "
            f"{' '.join(str(e).split())[:120]}): "
            f"fetch it again from {INCEPTION_URL}"
        ) from None


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


def precision_recall(fake_features: Tensor, real_features: Tensor, k: int = 3) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019), torch-fidelity's implementation: the
    share of fakes inside the real manifold (each real feature's ball reaching its k-th nearest real
    neighbour), and of reals inside the fake one. Low recall with fine precision is mode dropping."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    if min(len(fake_features), len(real_features)) <= k:
        return {}
    out = prc_features_to_metric(
        fake_features.cpu(), real_features.cpu(), prc_neighborhood=k, prc_batch_size=5000, save_cpu_ram=True, verbose=False
    )
    return {"eval/precision": float(out["precision"]), "eval/recall": float(out["recall"])}


class Scorer:
    """Scores sets of generated images against one set of real ones, whose features are computed once:
    FID, KID (mean over subsets of up to 1,000), IS and, with the classifier, class coverage; and the
    sliced Wasserstein distance (gantrain/metrics/swd.py), which needs no network (extractor="none": SWD alone)."""

    def __init__(
        self,
        real: Tensor,
        *,
        extractor: str = "classifier",
        classifier: DataClassifier | None = None,
        data_share: Tensor | None = None,
        inception_weights: str | None = None,
        batch_size: int = 250,
        sliced: bool = True,
    ) -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

        from gantrain.metrics import swd

        if extractor not in EXTRACTORS:
            raise ConfigError(f"eval.extractor must be classifier, inception or none (got {extractor!r})")
        if extractor == "none" and not sliced:
            raise ValueError("a Scorer with extractor='none' scores SWD alone: it needs sliced=True")
        # the sliced Wasserstein distance's real side: its descriptors, drawn once (SWD needs no network).
        # sliced=False leaves SWD out: a caller that reports FID/KID alone saves its sorts (seconds a call)
        self.swd_real = swd.descriptors(real.cpu()) if sliced else None
        self.networks = extractor != "none"
        if not self.networks:
            self.coverage = False
            return
        self.rgb = extractor == "inception"  # Inception reads RGB: grey images are repeated to 3 channels
        if extractor == "classifier":
            if classifier is None:
                raise ConfigError("eval.extractor=classifier needs a labelled data set (its classifier is trained on the labels)")
            self.features: nn.Module = _Uint8Input(classifier, "features")
            self.logits: nn.Module = _Uint8Input(classifier, "logits")
        else:
            weights = _inception_path(inception_weights)
            self.features, self.logits = _inception(weights, "2048"), _inception(weights, "logits_unbiased")
        self.features, self.logits = _LastBatch(self.features), _LastBatch(self.logits)
        self.coverage = extractor == "classifier"
        self.data_share, self.batch_size = data_share, batch_size
        with warnings.catch_warnings():  # "will save all extracted features in buffer": yes, n of them, by design
            warnings.filterwarnings("ignore", message=".*will save all extracted features", category=UserWarning)
            self.fid = FrechetInceptionDistance(feature=self.features, reset_real_features=False)
            self.kid = KernelInceptionDistance(feature=self.features, subset_size=min(1000, len(real)), reset_real_features=False)
        # the metrics' running sums, their feature network and the images on one device: the reals'
        self.device = real.device
        self.fid.to(self.device)
        self.kid.to(self.device)
        real_features = []
        for batch in self._batches(real):
            self.fid.update(batch, real=True)
            self.kid.update(batch, real=True)
            real_features.append(self.features(batch).float())
        self.real_features = torch.cat(real_features)  # (N, F): precision / recall's real side
        self.features.forget()

    def _batches(self, images: Tensor) -> Any:
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            yield batch.expand(-1, 3, -1, -1) if self.rgb and batch.shape[1] == 1 else batch

    @torch.no_grad()
    def __call__(self, fake: Tensor) -> tuple[dict[str, float], Tensor | None]:
        """The numbers for uint8 fakes (N, C, S, S), and their class histogram under the classifier."""
        from torchmetrics.image.inception import InceptionScore

        from gantrain.metrics import swd

        sliced = swd.swd(self.swd_real, fake.cpu()) if self.swd_real is not None else {}
        if not self.networks:
            return sliced, None

        self.fid.reset()  # the fakes' statistics only: the real ones stay
        self.kid.reset()
        self.kid.subset_size = min(1000, len(fake), self.kid.subset_size)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*will save all extracted features", category=UserWarning)
            inception_score = InceptionScore(feature=self.logits, splits=10).to(self.device)
        fake_logits, fake_features = [], []
        for batch in self._batches(fake.to(self.device)):
            self.fid.update(batch, real=False)
            self.kid.update(batch, real=False)
            inception_score.update(batch)
            fake_features.append(self.features(batch).float())
            if self.coverage:
                fake_logits.append(self.logits(batch))
        self.features.forget()
        self.logits.forget()
        kid_mean, _ = self.kid.compute()
        is_mean, _ = inception_score.compute()
        numbers = {"eval/fid": float(self.fid.compute()), "eval/kid": float(kid_mean), "eval/is": float(is_mean), **sliced}
        numbers.update(precision_recall(torch.cat(fake_features), self.real_features))
        histogram = None
        if fake_logits:
            logits = torch.cat(fake_logits).cpu()
            k = logits.shape[1]
            share = self.data_share if self.data_share is not None else torch.full((k,), 1.0 / k)
            numbers.update(class_coverage(logits, share))
            histogram = torch.bincount(logits.argmax(1), minlength=k)
        return {k: (v if math.isfinite(v) else float("nan")) for k, v in numbers.items()}, histogram


def score(real: Tensor, fake: Tensor, **settings: Any) -> tuple[dict[str, float], Tensor | None]:
    """FID, KID, IS (and, with the classifier, coverage) of uint8 fakes against uint8 reals, once
    (`settings` as for Scorer). Returns the numbers and the samples' class histogram."""
    return Scorer(real, **settings)(fake)
