"""How well a CycleGAN translates between two unpaired domains, scored with labels training never sees.

CycleGAN (Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks") learns G_ab: A -> B and G_ba: B -> A from unpaired images. Its offline task in
gantrain is MNIST (domain A) <-> the UCI 8x8 handwritten digits scikit-learn ships (domain B), both
grey at one common size; each side has digit labels, used here only to evaluate.

The protocol is that of pixel-level domain adaptation, as CyCADA (Hoffman et al. 2018) scores MNIST -> USPS:
a classifier trained on the TARGET domain labels the translated SOURCE images, scored against the
source labels. Translation that keeps the digit and lands in the target's style scores high.

  * `eval/labels_ab`: accuracy of B's classifier on G_ab(test A) against A's labels (label preservation
    A -> B); `eval/labels_ba` the other way.
  * `eval/source_only_ab`, `eval/source_only_ba`: the same classifier on the source images as they are
    (already at the common size): what no translation gets, the baseline a translator must beat.
  * `eval/fid_ab`: FID between G_ab(test A) and test B in B's classifier feature space (and `eval/kid_ab`,
    the unbiased KID that gantrain.fidelity.Scorer computes alongside); `_ba` likewise.
  * `eval/cycle_l1_a`: mean |G_ba(G_ab(a)) - a| on the [0, 1] pixel scale over test A; `_b` likewise.

The classifiers are gantrain.fidelity's offline DataClassifier, trained once per data set and cached
(`domain_classifiers`).
"""

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Protocol

import torch
from torch import Tensor, nn

from gantrain import fidelity
from gantrain.data.base import to_unit_range
from gantrain.evaluation import Evaluator, predict_classes
from gantrain.batch_norm import buffers_kept


class DomainClassifier(Protocol):
    """What scores one domain: fidelity.DataClassifier, or any module with the same interface, in eval
    mode, on the evaluation device. fidelity.Scorer reads `num_features` and `num_classes` too."""

    num_features: int
    num_classes: int

    def __call__(self, x: Tensor) -> Tensor: ...  # (B, C, S, S) in [-1, 1] -> logits (B, K)

    def features(self, x: Tensor) -> Tensor: ...  # (B, C, S, S) in [-1, 1] -> (B, F)


def to_uint8(images: Tensor) -> Tensor:
    """float [0, 1] -> uint8 [0, 255], as an image file would hold them."""
    return images.mul(255).round().clamp(0, 255).to(torch.uint8)


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
    """The evaluator of a CycleGAN run: label preservation, its source-only baseline, FID (and KID) and
    cycle L1, both ways, on held-out labelled images of each domain (see the module's docstring).

    test_a: uint8 (N_a, C, S, S), labels_a: (N_a,); test_b, labels_b likewise, of the same C and S.
    classifier_a, classifier_b: each trained on its own domain's training images (`domain_classifiers`).
    The source-only baseline and each domain's real features for FID are computed once, here."""

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
    ) -> None:
        for images, labels, side in ((test_a, labels_a, "a"), (test_b, labels_b, "b")):
            if images.dtype != torch.uint8 or images.dim() != 4 or labels.shape != images.shape[:1]:
                raise ValueError(f"test_{side} must be uint8 (N, C, S, S) with labels_{side} (N,), got {images.dtype} {tuple(images.shape)} and {tuple(labels.shape)}")
        if test_a.shape[1:] != test_b.shape[1:]:
            # the source-only baseline shows each classifier the other domain's images as they are
            raise ValueError(f"the domains must share channels and size, got {tuple(test_a.shape[1:])} and {tuple(test_b.shape[1:])}")
        self.test_a, self.labels_a, self.test_b, self.labels_b = test_a, labels_a.long(), test_b, labels_b.long()
        self.classifier_a, self.classifier_b = classifier_a, classifier_b
        self.device, self.batch_size = device, batch_size
        # the target classifier on the untranslated source images: what translation has to improve on
        self.source_only_ab = accuracy(predict_classes(classifier_b, test_a, device=device), self.labels_a)
        self.source_only_ba = accuracy(predict_classes(classifier_a, test_b, device=device), self.labels_b)
        # FID's real side: each target domain's test images in its own classifier's features, computed once;
        # SWD is not reported here, and its sorts cost more than the rest of an evaluation
        self.scorer_b = fidelity.Scorer(test_b.to(device), classifier=classifier_b, batch_size=batch_size, sliced=False)  # type: ignore[arg-type]
        self.scorer_a = fidelity.Scorer(test_a.to(device), classifier=classifier_a, batch_size=batch_size, sliced=False)  # type: ignore[arg-type]

    @torch.no_grad()
    def _there_and_back(self, G_there: nn.Module, G_back: nn.Module, sources: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 sources (N, C, S, S) -> (G_there(x), G_back(G_there(x))), float (N, C, S, S) in [0, 1]
        on the CPU. G_back reads G_there's float output, not a re-quantised image: the cycle as trained."""
        there, back = [], []
        for start in range(0, len(sources), self.batch_size):
            x = to_unit_range(sources[start : start + self.batch_size].to(self.device, non_blocking=True))  # (B, C, S, S) in [-1, 1]
            y = G_there(x).float().clamp(-1, 1)  # the translator's range; a no-op for a tanh output
            x_cycled = G_back(y).float().clamp(-1, 1)
            there.append(y.add(1).div(2).cpu())
            back.append(x_cycled.add(1).div(2).cpu())
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

    def __call__(self, nets: Mapping[str, nn.Module]) -> dict[str, float]:
        """The numbers for nets["generator_ab"] (A -> B) and nets["generator_ba"] (B -> A), each (B, C, S, S) in [-1, 1] to the same."""
        out = self.translate_all(nets)
        fake_b, fake_a = to_uint8(out["ab"]), to_uint8(out["ba"])  # as images: classified and scored like real ones
        numbers = {
            "eval/labels_ab": accuracy(predict_classes(self.classifier_b, fake_b, device=self.device), self.labels_a),
            "eval/labels_ba": accuracy(predict_classes(self.classifier_a, fake_a, device=self.device), self.labels_b),
            "eval/source_only_ab": self.source_only_ab,
            "eval/source_only_ba": self.source_only_ba,
        }
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
) -> tuple[fidelity.DataClassifier, fidelity.DataClassifier, str]:
    """Each domain's offline classifier, on `device` in eval mode, and a line describing both.

    Images uint8 (N, C, S, S), labels (N,). fidelity.data_classifier trains each on its training images
    the first time (fidelity's recipe: TRAIN_STEPS steps of batch 64, Adam 1e-3, seed 0), checks it on
    the held-out ones and caches it under $GANTRAIN_CACHE/extractors/ by `names` and the data's
    fingerprint, so a second run loads it instead."""
    described = []
    classifiers = []
    for name, train, labels, held, held_labels in ((names[0], train_a, labels_a, held_a, held_labels_a), (names[1], train_b, labels_b, held_b, held_labels_b)):
        found = fidelity.data_classifier(name, (train, labels.long()), (held, held_labels.long()), num_classes)
        how = "trained now" if found.trained_now else "cached"
        described.append(f"{name}: gantrain's classifier v{fidelity.VERSION} ({how}, {100 * found.test_accuracy:.2f}% held-out accuracy; {found.path})")
        classifiers.append(found.classifier.to(device))
    return classifiers[0], classifiers[1], "; ".join(described)


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
