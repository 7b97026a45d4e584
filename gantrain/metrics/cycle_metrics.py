"""How well a CycleGAN translates between two unpaired domains, scored with labels training never sees.

CycleGAN (Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks") learns G_ab: A -> B and G_ba: B -> A from unpaired images. Its offline tasks in
gantrain are MNIST (domain A) <-> the UCI 8x8 handwritten digits scikit-learn ships (data=mnist_uci) and
MNIST <-> MNIST-M-like colour digits (data=mnist_mnistm); each side has digit labels, used here only to
evaluate.

Two protocols of pixel-level domain adaptation:

  * label preservation (every evaluation): a classifier trained on the TARGET domain (the judge) labels
    the translated SOURCE images, scored against the source labels. `eval/labels_ab`: B's judge on
    G_ab(test A) against A's labels; `eval/labels_ba` the other way. `eval/source_only_ab`, `_ba`: the
    judge on the untranslated source images, the baseline a translator must beat. The judge is
    gantrain.metrics.fidelity's robust classifier (trained on shifted, zoomed, turned and elastically deformed
    images), so a digit drawn a little off-centre or smaller is not counted as lost; the same numbers by
    the plain classifier of earlier releases (trained on the images as they are, and brittle: a 2 px
    shift costs it a quarter of the UCI test digits) are reported as `eval/labels_ab_plain`, ... for one
    release, so the change of judge is visible.
  * transfer, CyCADA's protocol (Hoffman et al. 2018; PixelDA, Bousmalis et al. 2017), once at the end
    of a run (Evaluator.closing): a fresh classifier (the plain recipe) trained on G_ab(train A) with A's
    labels, tested on B's real test images: `eval/transfer_ab`. Beside it `eval/transfer_source_only_ab`
    (trained on train A as it is) and `eval/transfer_target_only_ab` (trained on train B itself, the
    ceiling); `_ba` the other way.

And `eval/fid_ab`: FID between G_ab(test A) and test B in B's judge's features (and `eval/kid_ab`, the
unbiased KID that gantrain.metrics.fidelity.Scorer computes alongside); `_ba` likewise. `eval/cycle_l1_a`: mean
|G_ba(G_ab(a)) - a| on the [0, 1] pixel scale over test A; `_b` likewise.

The judges are trained once per data set and cached (`domain_classifiers`).
"""

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

from gantrain.core.pixels import to_uint8, to_unit_range, to_zero_one, zero_one_to_uint8
from gantrain.metrics import classifier as judges
from gantrain.metrics import extractor_cache, fidelity
from gantrain.metrics.evaluation import Evaluator, predict_classes
from gantrain.metrics.sample_metrics import FID, KID
from gantrain.models.batch_norm import buffers_kept


class DomainClassifier(Protocol):
    """What scores one domain: judges.DataClassifier, or any module with the same interface, in eval
    mode, on the evaluation device. fidelity.Scorer reads `num_features` and `num_classes` too."""

    num_features: int
    num_classes: int

    def __call__(self, x: Tensor) -> Tensor: ...  # (B, C, S, S) in [-1, 1] -> logits (B, K)

    def features(self, x: Tensor) -> Tensor: ...  # (B, C, S, S) in [-1, 1] -> (B, F)


TRANSFER_IMAGES = 10_000  # at most this many training images of each side are translated for the transfer score


@dataclass
class Domains:
    """Each domain's labelled training images, uint8 (N, C, S, S) with labels (N,): what the transfer
    protocol translates and trains on (at most TRANSFER_IMAGES of each, evenly spread)."""

    train_a: Tensor
    labels_a: Tensor
    train_b: Tensor
    labels_b: Tensor


def accuracy(predictions: Tensor, labels: Tensor) -> float:
    """The share of predictions (N,) equal to labels (N,)."""
    return float((predictions == labels.to(predictions.device).long()).float().mean())


@contextmanager
def evaluating(nets: Mapping[str, nn.Module]) -> Iterator[None]:
    """Inside, every net is in eval mode (batch norm on its running statistics, no dropout); on the way out
    each gets back its mode and its buffers as they were, so evaluation never changes what training sees."""
    with ExitStack() as stack:
        for net in {id(n): n for n in nets.values()}.values():  # each module once, even if named twice
            stack.enter_context(buffers_kept(net))  # restores buffers and mode on exit (it enters in train mode)
            net.eval()
        yield


class CycleMetrics(Evaluator):
    """The evaluator of a CycleGAN run: label preservation by two judges, its source-only baseline, FID (and
    KID) and cycle L1 every evaluation, and CyCADA's transfer score at the end, both ways, on held-out
    labelled images of each domain (see the module's docstring).

    test_a: uint8 (N_a, C, S, S), labels_a: (N_a,); test_b, labels_b likewise, of the same C and S.
    classifier_a, classifier_b: the judges, each trained on its own domain's training images (the robust
    recipe, `domain_classifiers`). plain: the same domains' plain classifiers, whose label numbers are
    reported with a `_plain` suffix; they are also the transfer protocol's source-only and target-only
    classifiers, so `domains` (the training images) needs them. The fixed numbers (baselines, each
    domain's real features for FID) are computed once, here."""

    name = "eval/labels_ab"  # the headline: how much of A's digit survives translation to B
    select_by = "eval/fid"  # best.pt: by the mean of both ways' FID

    def __init__(
        self,
        test_a: Tensor,
        labels_a: Tensor,
        test_b: Tensor,
        labels_b: Tensor,
        classifier_a: DomainClassifier,
        classifier_b: DomainClassifier,
        device: torch.device,
        batch_size: int = 50,
        *,
        plain: tuple[DomainClassifier, DomainClassifier] | None = None,
        domains: Domains | None = None,
    ) -> None:
        for images, labels, side in ((test_a, labels_a, "a"), (test_b, labels_b, "b")):
            if images.dtype != torch.uint8 or images.dim() != 4 or labels.shape != images.shape[:1]:
                raise ValueError(
                    f"test_{side} must be uint8 (N, C, S, S) with labels_{side} (N,), got {images.dtype} {tuple(images.shape)} and "
                    f"{tuple(labels.shape)}"
                )
        if test_a.shape[1:] != test_b.shape[1:]:
            # the source-only baseline shows each classifier the other domain's images as they are
            raise ValueError(f"the domains must share channels and size, got {tuple(test_a.shape[1:])} and {tuple(test_b.shape[1:])}")
        if domains is not None and plain is None:
            raise ValueError("the transfer score (domains) compares with the plain classifiers: pass plain= too")
        self.test_a, self.labels_a, self.test_b, self.labels_b = test_a, labels_a.long(), test_b, labels_b.long()
        self.classifier_a, self.classifier_b = classifier_a, classifier_b
        self.plain, self.domains = plain, domains
        self.device, self.batch_size = device, batch_size
        # each judge on the untranslated source images: what translation has to improve on
        self.source_only_ab = accuracy(predict_classes(classifier_b, test_a, device=device), self.labels_a)
        self.source_only_ba = accuracy(predict_classes(classifier_a, test_b, device=device), self.labels_b)
        self.baselines: dict[str, float] = {}
        if plain is not None:
            self.baselines["eval/source_only_ab_plain"] = accuracy(predict_classes(plain[1], test_a, device=device), self.labels_a)
            self.baselines["eval/source_only_ba_plain"] = accuracy(predict_classes(plain[0], test_b, device=device), self.labels_b)
        # FID's real side: each target domain's test images in its own judge's features, computed once;
        # SWD is not reported here, and its sorts cost more than the rest of an evaluation
        # FID and KID of each direction's translations in the target domain's judge features
        self.scorer_b = fidelity.Scorer(test_b.to(device), metrics=[FID(), KID()], classifier=classifier_b, batch_size=batch_size)  # type: ignore[arg-type]
        self.scorer_a = fidelity.Scorer(test_a.to(device), metrics=[FID(), KID()], classifier=classifier_a, batch_size=batch_size)  # type: ignore[arg-type]

    @torch.no_grad()
    def _translated(self, G: nn.Module, sources: Tensor) -> Tensor:
        """uint8 sources (N, C, S, S) -> G(x), float (N, C, S, S) in [-1, 1] on the evaluation device."""
        out = []
        for start in range(0, len(sources), self.batch_size):
            x = to_unit_range(sources[start : start + self.batch_size].to(self.device, non_blocking=True))  # (B, C, S, S) in [-1, 1]
            out.append(G(x).float().clamp(-1, 1))  # the translator's range; a no-op for a tanh output
        return torch.cat(out)

    def _there_and_back(self, G_there: nn.Module, G_back: nn.Module, sources: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 sources (N, C, S, S) -> (G_there(x), G_back(G_there(x))), float (N, C, S, S) in [0, 1]
        on the CPU. G_back reads G_there's float output, not a re-quantised image: the cycle as trained."""
        there, back = [], []
        for start in range(0, len(sources), self.batch_size):
            y = self._translated(G_there, sources[start : start + self.batch_size])
            with torch.no_grad():
                x_cycled = G_back(y).float().clamp(-1, 1)
            there.append(to_zero_one(y).cpu())
            back.append(to_zero_one(x_cycled).cpu())
        return torch.cat(there), torch.cat(back)

    def translate_all(self, nets: Mapping[str, nn.Module]) -> dict[str, Tensor]:
        """Both test sets translated and cycled back, float (N, C, S, S) in [0, 1] on the CPU:
        "ab" = G_ab(test A), "aba" = G_ba(G_ab(test A)), "ba" = G_ba(test B), "bab" = G_ab(G_ba(test B)).
        The nets run in eval mode and come back in their own mode with their buffers unchanged."""
        G_ab, G_ba = nets["generator_ab"], nets["generator_ba"]
        with evaluating(nets):
            ab, aba = self._there_and_back(G_ab, G_ba, self.test_a)
            ba, bab = self._there_and_back(G_ba, G_ab, self.test_b)
        return {"ab": ab, "aba": aba, "ba": ba, "bab": bab}

    def _labels_kept(
        self, judge_a: DomainClassifier, judge_b: DomainClassifier, fake_a: Tensor, fake_b: Tensor, suffix: str = ""
    ) -> dict[str, float]:
        """Label preservation both ways by one pair of judges: B's reads G_ab(test A), A's reads G_ba(test B)."""
        return {
            f"eval/labels_ab{suffix}": accuracy(predict_classes(judge_b, fake_b, device=self.device), self.labels_a),
            f"eval/labels_ba{suffix}": accuracy(predict_classes(judge_a, fake_a, device=self.device), self.labels_b),
        }

    def __call__(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        """The numbers for nets["generator_ab"] (A -> B) and nets["generator_ba"] (B -> A), each (B, C, S, S) in [-1, 1] to the same."""
        out = self.translate_all(nets)
        fake_b, fake_a = zero_one_to_uint8(out["ab"]), zero_one_to_uint8(out["ba"])  # as images: classified and scored like real ones
        numbers = self._labels_kept(self.classifier_a, self.classifier_b, fake_a, fake_b)
        numbers.update({"eval/source_only_ab": self.source_only_ab, "eval/source_only_ba": self.source_only_ba})
        if self.plain is not None:
            numbers.update(self._labels_kept(*self.plain, fake_a, fake_b, suffix="_plain"))
            numbers.update(self.baselines)
        # KID draws its subsets from torch's global RNG: a fixed seed in a forked RNG makes the numbers
        # repeatable and leaves training's random stream where it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            scored_ab, _ = self.scorer_b(fake_b.to(self.device))
            scored_ba, _ = self.scorer_a(fake_a.to(self.device))
        numbers.update({"eval/fid_ab": scored_ab["eval/fid"], "eval/kid_ab": scored_ab["eval/kid"]})
        numbers.update({"eval/fid_ba": scored_ba["eval/fid"], "eval/kid_ba": scored_ba["eval/kid"]})
        numbers["eval/fid"] = (numbers["eval/fid_ab"] + numbers["eval/fid_ba"]) / 2  # both ways, for best.pt
        a, b = self.test_a.float().div(255), self.test_b.float().div(255)  # [0, 1], as the cycled images
        numbers["eval/cycle_l1_a"] = float((out["aba"] - a).abs().mean())
        numbers["eval/cycle_l1_b"] = float((out["bab"] - b).abs().mean())
        return numbers

    def closing(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        """CyCADA's transfer score both ways (see the module's docstring); {} without training images."""
        if self.domains is None or self.plain is None:
            return {}
        d, (plain_a, plain_b) = self.domains, self.plain
        numbers: dict[str, float] = {}
        for way, G, train, labels, test, test_labels, source, target in (
            ("ab", nets["generator_ab"], d.train_a, d.labels_a, self.test_b, self.labels_b, plain_a, plain_b),
            ("ba", nets["generator_ba"], d.train_b, d.labels_b, self.test_a, self.labels_a, plain_b, plain_a),
        ):
            chosen = torch.linspace(0, len(train) - 1, min(len(train), TRANSFER_IMAGES)).round().long().unique()
            with evaluating(nets):
                translated = to_uint8(self._translated(G, train[chosen]).cpu())  # (N, C, S, S) uint8
            # the plain recipe (fidelity's seed and schedule): the same that trained the source-only and target-only ones
            with torch.random.fork_rng(devices=[]):
                trained = judges.train_classifier(translated, labels[chosen].long(), plain_a.num_classes).to(self.device)
            numbers[f"eval/transfer_{way}"] = accuracy(predict_classes(trained, test, device=self.device), test_labels)
            numbers[f"eval/transfer_source_only_{way}"] = accuracy(predict_classes(source, test, device=self.device), test_labels)
            numbers[f"eval/transfer_target_only_{way}"] = accuracy(predict_classes(target, test, device=self.device), test_labels)
        return numbers


@dataclass
class Judges:
    """Each domain's two classifiers, on the evaluation device in eval mode: the robust judges (a, b) and
    the plain classifiers (a, b); `described`, a line saying what each is and how it does on held-out
    images as they are, shifted and zoomed (judges.robustness)."""

    robust: tuple[judges.DataClassifier, judges.DataClassifier]
    plain: tuple[judges.DataClassifier, judges.DataClassifier]
    described: str


def domain_classifiers(
    train_a: Tensor,
    labels_a: Tensor,
    held_a: Tensor,
    held_labels_a: Tensor,
    train_b: Tensor,
    labels_b: Tensor,
    held_b: Tensor,
    held_labels_b: Tensor,
    *,
    num_classes: int,
    names: tuple[str, str] = ("domain_a", "domain_b"),
    device: torch.device = torch.device("cpu"),
) -> Judges:
    """Each domain's offline classifiers, robust and plain.

    Images uint8 (N, C, S, S), labels (N,). extractor_cache.data_classifier trains each on its training images
    the first time (fidelity's recipes: TRAIN_STEPS steps of batch 64, Adam 1e-3, seed 0, and the robust
    one twice as long on deformed images), checks it on the held-out ones and caches it under
    $GANTRAIN_CACHE/extractors/ by `names`, recipe and the data's fingerprint, so a second run loads it."""
    described: list[str] = []
    found: dict[bool, list[judges.DataClassifier]] = {True: [], False: []}
    for name, train, labels, held, held_labels in (
        (names[0], train_a, labels_a, held_a, held_labels_a),
        (names[1], train_b, labels_b, held_b, held_labels_b),
    ):
        for robust in (True, False):
            got = extractor_cache.data_classifier(name, (train, labels.long()), (held, held_labels.long()), num_classes, robust=robust)
            how = "trained now" if got.trained_now else "cached"
            held_out = judges.robustness_line(judges.robustness(got.classifier, held, held_labels.long()))
            recipe = f"robust v{judges.ROBUST_VERSION}" if robust else f"plain v{judges.VERSION}"
            described.append(f"{name} {recipe} ({how}; held-out {held_out}; {got.path})")
            found[robust].append(got.classifier.to(device))
    robust_a, robust_b = found[True]
    plain_a, plain_b = found[False]
    return Judges((robust_a, robust_b), (plain_a, plain_b), "; ".join(described))


class CycleConsistency(Evaluator):
    """A CycleGAN run on domains without labels (a folder of trainA/, trainB/): the cycle L1 of the held-out
    images both ways, `eval/cycle_l1_a` and `eval/cycle_l1_b`, on the [0, 1] pixel scale."""

    name = "eval/cycle_l1_a"
    select_by = "eval/cycle_l1"  # best.pt: by the mean of both ways

    def __init__(self, test_a: Tensor, test_b: Tensor, device: torch.device, batch_size: int = 50) -> None:
        self.test_a, self.test_b, self.device, self.batch_size = test_a, test_b, device, batch_size

    def __call__(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        G_ab, G_ba = nets["generator_ab"], nets["generator_ba"]
        numbers = {}
        with evaluating(nets), torch.no_grad():
            for name, images, there, back in (("a", self.test_a, G_ab, G_ba), ("b", self.test_b, G_ba, G_ab)):
                total = 0.0
                for start in range(0, len(images), self.batch_size):
                    x = to_unit_range(images[start : start + self.batch_size].to(self.device))  # (B, C, S, S) in [-1, 1]
                    cycled = back(there(x).float().clamp(-1, 1)).float().clamp(-1, 1)
                    total += float((cycled - x).abs().sum()) / 2  # |.| on [0, 1] is half of it on [-1, 1]
                numbers[f"eval/cycle_l1_{name}"] = total / images.numel()
        numbers["eval/cycle_l1"] = (numbers["eval/cycle_l1_a"] + numbers["eval/cycle_l1_b"]) / 2
        return numbers
