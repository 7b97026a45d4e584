"""The metrics chosen by name (eval.metrics, conf/metrics/, gantrain/metrics/sample_metrics.py): density and
coverage by hand, the defaults of each extractor, and the one-line refusals of a name or a need."""

import pytest
import torch

from gantrain.core.errors import ConfigError
from gantrain.metrics import fidelity
from gantrain.metrics.sample_metrics import FID, PRDC, SWD, Classes, ImageSet, density_coverage
from gantrain.training.settings import EvalSettings
from gantrain.training.setup import build_metrics, metric_names


def test_density_and_coverage_by_hand() -> None:
    # four real points on a line, k = 1: each ball reaches the nearest other real point (radius 1)
    real = torch.tensor([[0.0], [1.0], [2.0], [10.0]])  # radii 1, 1, 1, 8
    fake = torch.tensor([[0.5], [0.6], [9.0]])
    # 0.5 lies strictly inside the balls of 0 and 1 (distance .5 < 1), 0.6 likewise (.6, .4), 9.0 inside 10's
    # (1 < 8) only: 5 ball memberships over k * M = 3
    numbers = density_coverage(real, fake, k=1)
    assert numbers["eval/density"] == pytest.approx(5 / 3)
    assert numbers["eval/coverage"] == pytest.approx(3 / 4)  # the ball of 2 holds no fake
    # the same in chunks of one point (the memory-bounded path)
    assert density_coverage(real, fake, k=1, chunk=1) == numbers


def test_prdc_of_a_set_against_itself_covers_everything() -> None:
    features = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    metric = PRDC(k=3)
    images = torch.zeros(200, 1, 2, 2, dtype=torch.uint8)
    views = _Fixed(features)
    metric.prepare(ImageSet(images, views))
    numbers = metric(ImageSet(images, views))
    assert numbers["eval/precision"] == 1.0 and numbers["eval/recall"] == 1.0 and numbers["eval/coverage"] == 1.0
    assert numbers["eval/density"] >= 1.0  # each point sits in its own ball and in its neighbours'


class _Fixed:
    """Views that hand back given features whatever the images."""

    def __init__(self, features: torch.Tensor) -> None:
        self.all, self.at = features, 0

    def features(self, images: torch.Tensor) -> torch.Tensor:
        out = self.all[self.at : self.at + len(images)]
        self.at = (self.at + len(images)) % len(self.all)
        return out

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        raise AssertionError("not asked for")


def test_each_extractor_serves_its_metrics_by_default() -> None:
    def names(metrics: list) -> list[str]:
        return [type(m).__name__ for m in metrics]

    assert names(fidelity.default_metrics("classifier")) == ["FID", "KID", "IS", "SWD", "PRDC", "Classes"]
    assert names(fidelity.default_metrics("inception")) == ["FID", "KID", "IS", "SWD", "PRDC"]  # no data classes
    assert names(fidelity.default_metrics("none")) == ["SWD"]
    assert "SWD" not in names(fidelity.default_metrics("classifier", sliced=False))


def test_metrics_are_found_by_name_and_a_wrong_one_is_one_line() -> None:
    assert {"fid", "kid", "is", "swd", "prdc", "classes"} <= set(metric_names())
    built = build_metrics(["fid", "swd"], "classifier")
    assert [type(m) for m in built] == [FID, SWD]
    assert build_metrics(None, "classifier") is None  # the extractor's defaults
    with pytest.raises(ConfigError, match=r"no metric 'fdi'; choose from classes, fid, is, kid, prdc, swd"):
        build_metrics(["fdi"], "classifier")
    with pytest.raises(ConfigError, match="no metric"):  # a path is never a name
        build_metrics(["../conf/metrics/fid"], "classifier")
    with pytest.raises(ConfigError, match="eval.metrics: fid needs an extractor's features, and eval.extractor=none"):
        build_metrics(["swd", "fid"], "none")
    with pytest.raises(ConfigError, match="eval.metrics: classes counts the data's own classes"):
        build_metrics(["classes"], "inception")
    for bad in ("fid", [1]):
        with pytest.raises(ConfigError, match="eval.metrics must be a list of metric names"):
            EvalSettings(metrics=bad)
    with pytest.raises(ConfigError, match=r"eval.metrics=\[\] names no metric: leave it out .* or set eval.n=0"):
        build_metrics([], "classifier")
    with pytest.raises(ConfigError, match="eval.metrics names fid more than once"):
        build_metrics(["fid", "kid", "fid"], "classifier")


def test_a_metric_that_needs_no_network_needs_no_classifier() -> None:
    real = torch.randint(0, 256, (40, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    numbers, histogram = fidelity.score(real, real.flip(0), metrics=[SWD()], extractor="classifier", classifier=None)
    assert set(numbers) == {"eval/swd", "eval/swd_16"} and histogram is None
    with pytest.raises(ConfigError, match="needs a labelled data set"):
        fidelity.score(real, real, metrics=[Classes()], extractor="classifier", classifier=None)
