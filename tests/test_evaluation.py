"""Evaluation against hand-computed values: batched prediction, classification and clustering error,
and the parameter average."""

import copy
import math

import pytest
import torch
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.core.pixels import to_unit_range
from gantrain.metrics.evaluation import classification_error, clustering_error, contingency_matrix, match_clusters, predict_classes
from gantrain.models.base import Network
from gantrain.training.averaging import ParameterAverage

CPU = torch.device("cpu")


# --- predict_classes ---------------------------------------------------------------------------------------------


def test_predict_classes_batches_and_scales_to_unit_range() -> None:
    # constant images: 0 -> -1, 128 -> 128/127.5 - 1 = 1/255, 255 -> +1
    values = [0, 255, 128, 0, 255, 128, 0]  # N = 7, not a multiple of the batch size 3
    images = torch.tensor(values, dtype=torch.uint8).view(7, 1, 1, 1).expand(7, 1, 4, 4).contiguous()
    centres = torch.tensor([-1.0, 0.0, 1.0])
    batch_sizes: list[int] = []
    seen: set[float] = set()

    def classify(x: Tensor) -> Tensor:
        batch_sizes.append(len(x))
        seen.update(x.unique().tolist())
        mean = x.mean(dim=(1, 2, 3))  # (B,)
        return -((mean[:, None] - centres) ** 2)  # (B, 3): the nearest centre wins

    predictions = predict_classes(classify, images, batch_size=3, device=CPU)
    assert batch_sizes == [3, 3, 1]
    assert sorted(seen) == pytest.approx([-1.0, 1.0 / 255.0, 1.0], abs=1e-6)  # scaled like training data, not to [0, 1]
    assert predictions.dtype == torch.int64 and predictions.device == CPU
    assert predictions.tolist() == [0, 2, 1, 0, 2, 1, 0]


def test_predict_classes_rejects_float_images() -> None:
    with pytest.raises(ValueError, match="uint8"):
        predict_classes(lambda x: x.flatten(1), torch.zeros(2, 1, 2, 2), device=CPU)


def test_predict_classes_rejects_logits_of_the_wrong_shape() -> None:
    images = torch.zeros(2, 1, 2, 2, dtype=torch.uint8)
    with pytest.raises(ValueError, match="logits"):
        predict_classes(lambda x: x.mean(dim=(1, 2, 3)), images, device=CPU)  # (B,), not (B, K)


# --- classification_error ----------------------------------------------------------------------------------------


def test_classification_error_by_hand() -> None:
    # positions 1 and 3 are wrong: 2 of 4
    assert classification_error(torch.tensor([0, 1, 2, 1]), torch.tensor([0, 2, 2, 0])) == pytest.approx(0.5)
    assert classification_error(torch.tensor([3, 1]), torch.tensor([3, 1])) == 0.0


def test_classification_error_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="predictions and labels"):
        classification_error(torch.tensor([0, 1]), torch.tensor([0, 1, 2]))


# --- contingency_matrix, match_clusters, clustering_error --------------------------------------------------------

LABELS = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
CLUSTERS = torch.tensor([2, 2, 1, 0, 0, 2, 1, 1, 1, 0])
# rows: clusters, columns: classes
COUNTS = [
    [0, 2, 1],  # cluster 0 holds two 1s and one 2
    [1, 0, 3],  # cluster 1 holds one 0 and three 2s
    [2, 1, 0],  # cluster 2 holds two 0s and one 1
]


def test_contingency_matrix_by_hand() -> None:
    assert contingency_matrix(CLUSTERS, LABELS, 3, 3).tolist() == COUNTS


def test_contingency_matrix_rejects_out_of_range_clusters() -> None:
    with pytest.raises(ValueError, match="predictions must lie in"):
        contingency_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3, 2)


def test_perfect_clustering_under_a_permutation() -> None:
    labels = torch.arange(20) % 5
    perm = torch.tensor([3, 0, 4, 1, 2])  # class c is put in cluster perm[c]
    clusters = perm[labels]
    assert clustering_error(clusters, labels, 5, 5) == 0.0
    assert classification_error(clusters, labels) > 0.5  # the raw labels disagree: matching is what fixes it
    assert match_clusters(clusters, labels, 5, 5) == {3: 0, 0: 1, 4: 2, 1: 3, 2: 4}


def test_clustering_error_by_hand() -> None:
    # the six one-to-one matchings of COUNTS agree with 0, 4, 3, 7, 3 and 3 labels;
    # the best, 0->1, 1->2, 2->0, gets 2 + 3 + 2 = 7 of 10 right
    assert match_clusters(CLUSTERS, LABELS, 3, 3) == {0: 1, 1: 2, 2: 0}
    assert clustering_error(CLUSTERS, LABELS, 3, 3) == pytest.approx(0.3)


def test_more_clusters_than_classes_counts_unmatched_clusters_as_errors() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    clusters = torch.tensor([0, 0, 2, 1, 1, 3])  # counts: c0 [2, 0], c1 [0, 2], c2 [1, 0], c3 [0, 1]
    assert match_clusters(clusters, labels, 4, 2) == {0: 0, 1: 1}
    # clusters 2 and 3 get no class, so their two samples are wrong (a many-to-one vote would say 0)
    assert clustering_error(clusters, labels, 4, 2) == pytest.approx(2 / 6)


def test_majority_matching_lets_clusters_share_a_class() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    clusters = torch.tensor([0, 0, 2, 1, 1, 3])  # counts: c0 [2, 0], c1 [0, 2], c2 [1, 0], c3 [0, 1]
    # each cluster takes its most common class: 0, 1, 0, 1 -> all six right (one-to-one: 2 wrong, above)
    assert clustering_error(clusters, labels, 4, 2, match="majority") == 0.0
    merged = torch.tensor([0, 0, 0, 0, 0, 1])  # counts: c0 [3, 2], c1 [0, 1]: both clusters' majority...
    assert clustering_error(merged, labels, 2, 2, match="majority") == pytest.approx(2 / 6)  # ...c0 -> 0, c1 -> 1
    assert clustering_error(merged, labels, 2, 2) == pytest.approx(2 / 6)
    tied = torch.tensor([0, 0, 0, 1, 1, 1])
    assert clustering_error(tied, torch.tensor([0, 0, 1, 0, 0, 1]), 2, 2, match="majority") == pytest.approx(2 / 6)
    # c0 [2, 1], c1 [2, 1]: majority gives both class 0 (4 right), one-to-one must give one of them class 1 (3 right)
    assert clustering_error(tied, torch.tensor([0, 0, 1, 0, 0, 1]), 2, 2) == pytest.approx(3 / 6)
    with pytest.raises(ValueError, match="match must be one of one_to_one, majority"):
        clustering_error(clusters, labels, 4, 2, match="vote")


def test_fewer_clusters_than_classes() -> None:
    labels = torch.tensor([0, 1, 2, 2])
    clusters = torch.tensor([0, 1, 1, 1])  # counts: c0 [1, 0, 0], c1 [0, 1, 2]
    assert match_clusters(clusters, labels, 2, 3) == {0: 0, 1: 2}
    assert clustering_error(clusters, labels, 2, 3) == pytest.approx(0.25)


# --- ParameterAverage --------------------------------------------------------------------------------------------


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))


def _fill(net: nn.Sequential, value: float) -> None:
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)


def test_parameter_average_by_hand() -> None:
    net = _net()
    _fill(net, 1.0)
    avg = ParameterAverage(net, decay=0.5)
    _fill(net, 3.0)
    avg.update(net)
    for p in avg.average.parameters():  # 0.5 * 1 + 0.5 * 3
        assert torch.equal(p, torch.full_like(p, 2.0))
    avg.decay = 0.9
    _fill(net, 12.0)
    avg.update(net)
    for p in avg.average.parameters():  # 0.9 * 2 + 0.1 * 12
        assert torch.allclose(p, torch.full_like(p, 3.0))
    for p in net.parameters():  # the trained module is untouched
        assert torch.equal(p, torch.full_like(p, 12.0))


def test_parameter_average_copies_buffers_as_they_are() -> None:
    net = _net()
    avg = ParameterAverage(net, decay=0.5)
    bn = net[1]
    bn.running_mean.copy_(torch.tensor([5.0, 6.0]))
    bn.num_batches_tracked.fill_(7)
    avg.update(net)
    assert avg.average[1].running_mean.tolist() == [5.0, 6.0]  # averaged would be [2.5, 3.0]
    assert int(avg.average[1].num_batches_tracked) == 7


def test_parameter_average_is_a_frozen_eval_copy() -> None:
    net = _net().train()
    avg = ParameterAverage(net)
    assert not avg.average.training and avg.average[1].training is False
    assert all(not p.requires_grad for p in avg.average.parameters())
    assert all(p.requires_grad for p in net.parameters())
    assert avg.average[0].weight.data_ptr() != net[0].weight.data_ptr()


def test_parameter_average_with_decay_zero_tracks_the_module() -> None:
    net = _net()
    avg = ParameterAverage(net, decay=0.0)
    _fill(net, -4.0)
    avg.update(net)
    assert all(torch.equal(p, torch.full_like(p, -4.0)) for p in avg.average.parameters())


@pytest.mark.parametrize("decay", [-0.1, 1.0, 1.5])
def test_parameter_average_rejects_decay_out_of_range(decay: float) -> None:
    with pytest.raises(ConfigError, match="eval.ema") as info:
        ParameterAverage(_net(), decay=decay)
    assert "\n" not in str(info.value)


def test_parameter_average_rejects_a_different_module() -> None:
    avg = ParameterAverage(_net())
    with pytest.raises(ValueError, match="do not match"):
        avg.update(nn.Linear(2, 2))


def test_parameter_average_state_dict_round_trip(tmp_path) -> None:
    net = _net()
    _fill(net, 1.0)
    avg = ParameterAverage(net, decay=0.5)
    _fill(net, 2.0)
    net[1].num_batches_tracked.fill_(3)
    avg.update(net)
    torch.save(avg.state_dict(), tmp_path / "ema.pt")
    state = torch.load(tmp_path / "ema.pt", weights_only=True)

    restored = ParameterAverage(_net(), decay=0.5)
    restored.load_state_dict(state)
    for name, value in avg.average.state_dict().items():
        assert torch.equal(restored.average.state_dict()[name], value), name
    assert torch.equal(restored.average[0].weight, torch.full((2, 2), 1.5))
    # the loaded average keeps averaging in place: 0.5 * 1.5 + 0.5 * 2.0
    restored.update(net)
    assert torch.equal(restored.average[0].weight, torch.full((2, 2), 1.75))


# --- batch-norm statistics for evaluation -------------------------------------------------------------------------


class _BatchNormClassifier(Network):
    """(B, 1, 4, 4) -> (B, 3) logits, with dropout, batch norm and the attributes TestError reads."""

    num_classes, fake_class = 3, False

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def test_statistics_of_re_estimates_batch_norm_on_the_images_and_puts_the_old_ones_back() -> None:
    from gantrain.models.batch_norm import statistics_of

    torch.manual_seed(0)
    D = _BatchNormClassifier()
    bn = D.net[3]
    bn.running_mean.fill_(5.0)  # stale statistics, as after training on other weights
    before = {k: b.clone() for k, b in D.state_dict().items()}
    images = torch.randint(0, 256, (250, 1, 4, 4), dtype=torch.uint8)
    x = to_unit_range(images)
    with torch.no_grad():
        h = D.net[2](x.flatten(1))  # (250, 8): what the batch-norm layer sees, dropout off
    D.eval()
    with statistics_of(D, images, device=torch.device("cpu"), batch_size=100):
        # the plain average of the batches' statistics (batches of 100, 100 and 50)
        batches = h.split(100)
        mean = torch.stack([b.mean(0) for b in batches]).mean(0)
        var = torch.stack([b.var(0) for b in batches]).mean(0)  # unbiased, as batch norm keeps it
        assert torch.allclose(bn.running_mean, mean, atol=1e-5) and torch.allclose(bn.running_var, var, atol=1e-5)
        assert not bn.training and not D.net[1].training
        inside = D(x)
    for k, b in D.state_dict().items():
        assert torch.equal(b, before[k]), k
    assert bn.momentum == 0.1 and not bn.training
    assert not torch.allclose(D(x), inside)  # the stale statistics are back


def test_test_error_of_a_moving_average_uses_statistics_of_the_averaged_weights() -> None:
    # eval.ema with a batch-norm D: the average's copied running statistics belong to the live weights;
    # re-estimated on real images, the average classifies as a copy given its own statistics does
    from gantrain.metrics.evaluation import TestError  # imported here: pytest would take the name for a test class

    torch.manual_seed(0)
    live = _BatchNormClassifier()
    average = ParameterAverage(live, decay=0.5)
    with torch.no_grad():
        for p in live.parameters():
            p.mul_(3.0).add_(1.0)  # live weights move far from the average's
    live.train()
    live(torch.randn(64, 1, 4, 4) * 4)  # the live statistics, copied into the average by update()
    average.update(live)
    images = torch.randint(0, 256, (300, 1, 4, 4), dtype=torch.uint8)
    test = torch.randint(0, 256, (200, 1, 4, 4), dtype=torch.uint8), torch.randint(0, 3, (200,))
    score = TestError(*test, 3, clustering=False, device=torch.device("cpu"), statistics_images=images)
    own = copy.deepcopy(average.average)
    own.net[3].reset_running_stats()
    own.net[3].momentum = None
    own.train()
    own.net[1].eval()
    with torch.no_grad():
        for start in range(0, 300, 100):
            own(images[start : start + 100].float().div(127.5).sub(1))
    own.eval()
    expected = classification_error(own(test[0].float().div(127.5).sub(1)).argmax(1), test[1])
    assert score({"discriminator": average.average})["eval/test_error"] == pytest.approx(expected)
    stale = TestError(*test, 3, clustering=False, device=torch.device("cpu"))({"discriminator": average.average})["eval/test_error"]
    assert stale != pytest.approx(expected)  # the copied statistics classify otherwise


class _FixedClusters(Network):
    """Puts each (B, 1, 1, 1) image in the cluster its pixel codes: uint8 value v -> cluster v % 4 of K = 4."""

    num_classes, fake_class = 4, False

    def forward(self, x: Tensor) -> Tensor:
        v = ((x.flatten(1)[:, 0] + 1) * 127.5).round().long()  # back from [-1, 1] to the uint8 value
        return nn.functional.one_hot(v % 4, 4).float()  # (B, 4)


def test_clustering_evaluation_reports_the_error_and_the_least_used_cluster() -> None:
    from gantrain.metrics.evaluation import TestError  # imported here: pytest would take the name for a test class

    # 10 images in clusters 0,0,0,0,1,1,1,2,2,2 (none in 3); classes 1,1,1,0,0,0,0,2,2,2
    images = torch.tensor([0, 4, 8, 12, 1, 5, 9, 2, 6, 10], dtype=torch.uint8).view(10, 1, 1, 1)
    labels = torch.tensor([1, 1, 1, 0, 0, 0, 0, 2, 2, 2])
    scores = TestError(images, labels, 3, clustering=True, device=CPU)({"discriminator": _FixedClusters()})
    # best one-to-one map: 0->1 (3 right), 1->0 (3), 2->2 (3): one of 10 wrong
    assert scores["eval/cluster_error"] == pytest.approx(0.1)
    assert scores["eval/smallest_cluster"] == 0.0  # cluster 3 is empty
    images[0] = 3  # one image moves to cluster 3
    scores = TestError(images, labels, 3, clustering=True, device=CPU)({"discriminator": _FixedClusters()})
    assert scores["eval/smallest_cluster"] == pytest.approx(0.1)
    assert "eval/smallest_cluster" not in TestError(images, labels, 4, clustering=False, device=CPU)({"discriminator": _FixedClusters()})
    # one-to-one, cluster 3 (its one image of class 1) gets no class: 0->1 (2 right), 1->0 (3), 2->2 (3)
    assert scores["eval/cluster_error"] == pytest.approx(0.2)
    # by majority clusters 0 (classes 1, 1, 0) and 3 (class 1) both take class 1: 1 of 10 wrong
    by_majority = TestError(images, labels, 3, clustering=True, device=CPU, cluster_match="majority")({"discriminator": _FixedClusters()})
    assert by_majority["eval/cluster_error"] == pytest.approx(0.1)


def test_mutual_information_of_cluster_assignments() -> None:
    from gantrain.metrics.evaluation import mutual_information

    sure = torch.tensor([[50.0, 0.0], [0.0, 50.0]])  # each image certain, the two clusters used equally
    assert mutual_information(sure) == pytest.approx(math.log(2), abs=1e-6)
    assert mutual_information(torch.zeros(2, 2)) == pytest.approx(0.0, abs=1e-6)  # D unsure of every image
    assert mutual_information(torch.tensor([[50.0, 0.0], [50.0, 0.0]])) == pytest.approx(0.0, abs=1e-6)  # one cluster for all
    # p(y|x) = (0.75, 0.25) and (0.25, 0.75): H[mean] = log 2, mean H = -(0.75 log 0.75 + 0.25 log 0.25)
    half = torch.tensor([[math.log(3.0), 0.0], [0.0, math.log(3.0)]])
    assert mutual_information(half) == pytest.approx(math.log(2) + 0.75 * math.log(0.75) + 0.25 * math.log(0.25), abs=1e-6)


class _SureClusters(_FixedClusters):
    """_FixedClusters with logits of 50 for the chosen cluster: p(y|x) is one-hot to float precision."""

    def forward(self, x: Tensor) -> Tensor:
        return 50.0 * super().forward(x)


def test_clustering_evaluation_scores_the_probe_images_without_labels() -> None:
    from gantrain.metrics.evaluation import TestError

    images = torch.tensor([0, 1, 2, 3], dtype=torch.uint8).view(4, 1, 1, 1)
    labels = torch.tensor([0, 1, 2, 3])
    balanced = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7], dtype=torch.uint8).view(8, 1, 1, 1)  # clusters 0,1,2,3 twice
    lopsided = torch.tensor([0, 4, 8, 12, 16, 20, 24, 1], dtype=torch.uint8).view(8, 1, 1, 1)  # 7 in cluster 0, 1 in 1
    score = TestError(images, labels, 4, clustering=True, device=CPU, probe_images=balanced)
    assert score.select_by == "eval/mutual_information"
    assert score({"discriminator": _SureClusters()})["eval/mutual_information"] == pytest.approx(math.log(4), abs=1e-5)
    lop = TestError(images, labels, 4, clustering=True, device=CPU, probe_images=lopsided)({"discriminator": _SureClusters()})
    # sure of every image, but 7/8 of them in one cluster: I = H[(7/8, 1/8, 0, 0)]
    assert lop["eval/mutual_information"] == pytest.approx(-(7 / 8 * math.log(7 / 8) + 1 / 8 * math.log(1 / 8)), abs=1e-5)
    assert lop["eval/cluster_error"] == 0.0  # the test images decide the error, the probe images only the score
    supervised = TestError(images, labels, 4, clustering=False, device=CPU, probe_images=balanced)
    assert supervised.select_by == "eval/test_error" and "eval/mutual_information" not in supervised({"discriminator": _FixedClusters()})
