"""CycleGAN's evaluation (gantrain/metrics/cycle_metrics.py) on two tiny synthetic domains with known labels.

Domain A: a light bar on a dark ground, horizontal for class 0 and vertical for class 1. Domain B: A
transposed and inverted, so a dark bar on a light ground, vertical for class 0. The true A -> B map is
x -> -x^T (in [-1, 1]), its own inverse; left untranslated, an A image shows B's classifier the other
class's orientation, so the source-only baseline is poor. Pixels stay in [64, 191], so a translator
that adds a constant of up to 0.25 in [-1, 1] twice is never clipped."""

import pytest
import torch
from torch import Tensor, nn

from gantrain.metrics import classifier
from gantrain.metrics.cycle_metrics import CycleMetrics, Domains, domain_classifiers

SIZE = 16
KEYS = {
    "eval/labels_ab",
    "eval/labels_ba",
    "eval/source_only_ab",
    "eval/source_only_ba",
    "eval/fid_ab",
    "eval/fid_ba",
    "eval/kid_ab",
    "eval/kid_ba",
    "eval/cycle_l1_a",
    "eval/cycle_l1_b",
    "eval/fid",
    "eval/labels_ab_plain",
    "eval/labels_ba_plain",
    "eval/source_only_ab_plain",
    "eval/source_only_ba_plain",
}
STEPS = 50  # the classifiers' training steps here: half a second each


def bars(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """n domain-A images uint8 (n, 1, SIZE, SIZE) and their classes (n,): a 2-pixel bar at a random place."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randint(64, 97, (n, 1, SIZE, SIZE), generator=g)  # dark ground
    bright = torch.randint(160, 192, (n, 1, SIZE, SIZE), generator=g)
    where = torch.randint(2, SIZE - 4, (n,), generator=g)
    for i in range(n):
        rows = slice(int(where[i]), int(where[i]) + 2)
        if labels[i] == 0:
            images[i, :, rows, :] = bright[i, :, rows, :]  # horizontal
        else:
            images[i, :, :, rows] = bright[i, :, :, rows]  # vertical
    return images.to(torch.uint8), labels


def to_b(images: Tensor) -> Tensor:
    return (255 - images).transpose(-1, -2).contiguous()  # inverted and transposed: still in [64, 191]


class TrueMap(nn.Module):
    """x -> -x^T: A -> B exactly, and B -> A too (it is an involution)."""

    def forward(self, x: Tensor) -> Tensor:
        return -x.transpose(-1, -2)


class Offset(nn.Module):
    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, x: Tensor) -> Tensor:
        return x + self.c


class Recorder(nn.Module):
    """A batch-norm translator that records the mode it ran in; it moves its running statistics when in train mode."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(1)
        self.modes: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        self.modes.append(self.training)
        return torch.tanh(self.norm(x))


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> CycleMetrics:
    """Each domain's classifiers trained in a second (STEPS), cached in a fresh folder; test sets of 200."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANTRAIN_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setattr(classifier, "TRAIN_STEPS", STEPS)
        train_a, labels_a = bars(600, seed=0)
        train_b, labels_b = bars(600, seed=1)  # other images than A's: the domains are unpaired
        held_a, held_labels_a = bars(200, seed=2)
        held_b, held_labels_b = bars(200, seed=3)
        args = (train_a, labels_a, held_a, held_labels_a, to_b(train_b), labels_b, to_b(held_b), held_labels_b)
        judges = domain_classifiers(*args, num_classes=2, names=("bars_a", "bars_b"))
        # a robust and a plain classifier for each domain, with their held-out accuracy shifted and zoomed
        assert judges.described.count("trained now") == 4 and judges.described.count("robust v") == 2, judges.described
        assert judges.described.count("shifted 2 px") == 4 and judges.described.count("zoom 0.8") == 4
        again = domain_classifiers(*args, num_classes=2, names=("bars_a", "bars_b"))
        assert again.described.count("cached") == 4  # a second run loads them
        for mine, cached in zip(judges.robust + judges.plain, again.robust + again.plain):
            assert all(torch.equal(p, q) for p, q in zip(mine.state_dict().values(), cached.state_dict().values()))
        assert not torch.equal(judges.robust[0].head.weight, judges.plain[0].head.weight)  # two recipes, two files
    test_a, test_labels_a = bars(200, seed=4)
    test_b, test_labels_b = bars(200, seed=5)
    domains = Domains(train_a, labels_a, to_b(train_b), labels_b)
    return CycleMetrics(
        test_a, test_labels_a, to_b(test_b), test_labels_b, *judges.robust, torch.device("cpu"), plain=judges.plain, domains=domains
    )


def test_identity_scores_the_source_only_baseline(metrics: CycleMetrics) -> None:
    numbers = metrics({"generator_ab": nn.Identity(), "generator_ba": nn.Identity()})
    assert set(numbers) == KEYS
    assert numbers["eval/labels_ab"] == numbers["eval/source_only_ab"] == metrics.source_only_ab
    assert numbers["eval/labels_ba"] == numbers["eval/source_only_ba"] == metrics.source_only_ba
    for way in ("ab", "ba"):  # the plain judge's numbers and baseline agree with each other too
        assert numbers[f"eval/labels_{way}_plain"] == numbers[f"eval/source_only_{way}_plain"]
    assert numbers["eval/cycle_l1_a"] == pytest.approx(0.0, abs=1e-6)  # up to float rounding of uint8 -> [-1, 1] -> [0, 1]
    assert numbers["eval/cycle_l1_b"] == pytest.approx(0.0, abs=1e-6)


def test_the_true_map_keeps_labels_and_matches_the_target_better_than_identity(metrics: CycleMetrics) -> None:
    identity = metrics({"generator_ab": nn.Identity(), "generator_ba": nn.Identity()})
    true = metrics({"generator_ab": TrueMap(), "generator_ba": TrueMap()})
    for way in ("ab", "ba"):
        assert true[f"eval/labels_{way}"] >= 0.95  # the classifiers know their own domain
        assert true[f"eval/labels_{way}_plain"] >= 0.95 and true[f"eval/labels_{way}_plain"] > identity[f"eval/labels_{way}_plain"] + 0.3
        assert true[f"eval/labels_{way}"] > identity[f"eval/labels_{way}"] + 0.3
        assert true[f"eval/fid_{way}"] < identity[f"eval/fid_{way}"] / 10
        assert true[f"eval/source_only_{way}"] == identity[f"eval/source_only_{way}"]  # the baseline stays put
    assert true["eval/cycle_l1_a"] == pytest.approx(0.0, abs=1e-6)  # an exact inverse pair
    assert true["eval/cycle_l1_b"] == pytest.approx(0.0, abs=1e-6)


def test_cycle_l1_of_a_constant_offset_pair(metrics: CycleMetrics) -> None:
    # both nets add c = 0.25 in [-1, 1]: the cycle adds 2c = 0.5, which is 0.25 on the [0, 1] scale
    numbers = metrics({"generator_ab": Offset(0.25), "generator_ba": Offset(0.25)})
    assert numbers["eval/cycle_l1_a"] == pytest.approx(0.25, abs=1e-6)
    assert numbers["eval/cycle_l1_b"] == pytest.approx(0.25, abs=1e-6)
    # a pair that undoes each other: +c there, -c back
    assert metrics({"generator_ab": Offset(0.25), "generator_ba": Offset(-0.25)})["eval/cycle_l1_a"] == pytest.approx(0.0, abs=1e-6)


def test_the_nets_run_in_eval_mode_and_come_back_unchanged(metrics: CycleMetrics) -> None:
    torch.manual_seed(0)
    G_ab, G_ba = Recorder(), Recorder().eval()
    G_ab.norm.running_mean.fill_(0.3)  # statistics that a train-mode pass would move
    before = {name: {k: b.clone() for k, b in net.state_dict().items()} for name, net in (("ab", G_ab), ("ba", G_ba))}
    rng = torch.get_rng_state()
    metrics({"generator_ab": G_ab, "generator_ba": G_ba})
    assert G_ab.modes and G_ba.modes and not any(G_ab.modes + G_ba.modes)  # eval mode throughout
    assert G_ab.training and not G_ba.training  # each back in its own mode
    for name, net in (("ab", G_ab), ("ba", G_ba)):
        for k, b in net.state_dict().items():
            assert torch.equal(b, before[name][k]), f"G_{name}.{k} changed"
    assert torch.equal(torch.get_rng_state(), rng)  # KID's subsets did not move training's random stream


def test_the_transfer_score_trains_on_the_translated_source_and_tests_on_the_real_target(
    metrics: CycleMetrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CyCADA's protocol (Evaluator.closing): a classifier trained on G_ab(train A) with A's labels, tested on
    B's test images. The identity translation trains the very classifier source-only names (same images,
    recipe and seed), so the two numbers are equal; the true map trains one as good as on B itself."""
    monkeypatch.setattr(classifier, "TRAIN_STEPS", STEPS)  # the recipe the plain classifiers were trained by
    identity = metrics.closing({"generator_ab": nn.Identity(), "generator_ba": nn.Identity()})
    true = metrics.closing({"generator_ab": TrueMap(), "generator_ba": TrueMap()})
    assert set(identity) == {f"eval/transfer{part}_{way}" for part in ("", "_source_only", "_target_only") for way in ("ab", "ba")}
    for way in ("ab", "ba"):
        assert identity[f"eval/transfer_{way}"] == identity[f"eval/transfer_source_only_{way}"]
        assert identity[f"eval/transfer_source_only_{way}"] < 0.6  # the other domain's orientation: near chance or worse
        assert true[f"eval/transfer_{way}"] >= 0.95 and true[f"eval/transfer_target_only_{way}"] >= 0.95
        assert true[f"eval/transfer_{way}"] > identity[f"eval/transfer_{way}"] + 0.3
        assert true[f"eval/transfer_source_only_{way}"] == identity[f"eval/transfer_source_only_{way}"]


def test_transfer_needs_the_plain_classifiers(metrics: CycleMetrics) -> None:
    domains = Domains(metrics.test_a, metrics.labels_a, metrics.test_b, metrics.labels_b)
    with pytest.raises(ValueError, match="pass plain= too"):
        CycleMetrics(
            metrics.test_a,
            metrics.labels_a,
            metrics.test_b,
            metrics.labels_b,
            metrics.classifier_a,
            metrics.classifier_b,
            torch.device("cpu"),
            domains=domains,
        )
    alone = CycleMetrics(
        metrics.test_a, metrics.labels_a, metrics.test_b, metrics.labels_b, metrics.classifier_a, metrics.classifier_b, torch.device("cpu")
    )
    numbers = alone({"generator_ab": TrueMap(), "generator_ba": TrueMap()})
    assert not any(k.endswith("_plain") for k in numbers) and alone.closing({"generator_ab": TrueMap(), "generator_ba": TrueMap()}) == {}
