"""The discriminator as a representation: pooled features of every convolutional D, the linear probe, guided
backpropagation, and task=probe / task=dfilters on short real runs (issue 34)."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import run_cli, scalars
from PIL import Image
from torch import nn

from gantrain.core.errors import ConfigError
from gantrain.metrics.representation import class_balanced, guided, guided_gradients, linear_probe_error, pooled_features
from gantrain.models.base import Network, Representation, activations
from gantrain.models.catgan import ConvPoolDiscriminator
from gantrain.models.cgan import ConditionalDCGANDiscriminator
from gantrain.models.cyclegan import PatchDiscriminator
from gantrain.models.dcgan import DCGANDiscriminator
from gantrain.models.pix2pix import PatchGANDiscriminator
from gantrain.models.progan import ProGANDiscriminator
from gantrain.tasks.probe import parse_budgets


def grid(side: int) -> int:
    """The side of a layer's map after pooling to 4 x 4 (a smaller map is kept)."""
    return min(side, 4)


# (D, image size, channels, [(C_l, side_l) of each conv layer]): the shapes each D's layers must have
CASES = [
    ("dcgan", lambda: DCGANDiscriminator(image_size=32, channels=1, width=8), 32, 1, [(8, 16), (16, 8), (32, 4)]),
    ("dcgan64", lambda: DCGANDiscriminator(image_size=64, channels=3, width=4), 64, 3, [(4, 32), (8, 16), (16, 8), (32, 4)]),
    (
        "cdcgan",
        lambda: ConditionalDCGANDiscriminator(image_size=32, channels=1, width=8, num_classes=10),
        32,
        1,
        [(8, 16), (16, 8), (32, 4)],
    ),
    (
        "catgan",
        lambda: ConvPoolDiscriminator(image_size=28, channels=1, num_classes=10, width=4),
        28,
        1,
        [(4, 28), (8, 14), (8, 14), (16, 7), (10, 7)],
    ),
    (
        "progan",
        lambda: ProGANDiscriminator(image_size=32, channels=1, fmap_base=64, fmap_max=16),
        32,
        1,
        [(4, 32), (4, 32), (8, 32), (8, 16), (16, 16), (16, 8), (16, 8)],
    ),  # (not the layer after minibatch stddev)
    (
        "pix2pix",
        lambda: PatchGANDiscriminator(image_size=32, in_channels=1, out_channels=1, patch_size=34, width=4),
        32,
        1,
        [(4, 16), (8, 8), (16, 7)],
    ),
    ("cyclegan", lambda: PatchDiscriminator(image_size=32, channels=1, patch_size=34, width=4), 32, 1, [(4, 16), (8, 8), (16, 7)]),
]


@pytest.mark.parametrize("name,make,size,channels,layers", CASES, ids=[c[0] for c in CASES])
def test_pooled_features_have_each_conv_layers_shape(name, make, size, channels, layers) -> None:
    D = make()
    assert isinstance(D, Representation)
    images = torch.randint(0, 256, (5, channels, size, size), dtype=torch.uint8)
    D.eval()
    with torch.no_grad():
        raw = D.layer_features(images.float() / 127.5 - 1)
    assert [(a.shape[1], a.shape[2]) for a in raw] == layers
    features = pooled_features(D, images, device=torch.device("cpu"), batch_size=2)
    assert features.shape == (5, sum(c * grid(s) ** 2 for c, s in layers))
    # pooling is a max over each cell: the first layer's top-left cell holds its largest activation there
    first, cell = raw[0][0, 0], raw[0].shape[-1] // 4
    if raw[0].shape[-1] % 4 == 0:
        assert features[0, 0] == pytest.approx(float(first[:cell, :cell].max()), rel=1e-5)
    # an image's features do not depend on its batch (eval mode)
    alone = pooled_features(D, images[2:3], device=torch.device("cpu"))
    torch.testing.assert_close(alone[0], features[2], rtol=1e-4, atol=1e-5)


def test_progan_features_follow_its_stage() -> None:
    D = ProGANDiscriminator(image_size=32, channels=1, fmap_base=64, fmap_max=16)
    D.grow_to(1, 0.5)  # 8 x 8, mid fade-in
    with torch.no_grad():
        raw = D.layer_features(torch.zeros(4, 1, 32, 32))
    assert [(a.shape[1], a.shape[2]) for a in raw] == [(16, 8), (16, 8), (16, 8)]
    E = ProGANDiscriminator(image_size=32, channels=1, fmap_base=64, fmap_max=16, minibatch_stddev=False)
    E.grow_to(1, 0.5)
    with torch.no_grad():
        assert [(a.shape[1], a.shape[2]) for a in E.layer_features(torch.zeros(4, 1, 32, 32))] == [(16, 8), (16, 8), (16, 8), (16, 4)]


def test_a_conditional_d_reads_zeros_for_what_it_is_told() -> None:
    """cDCGAN's D without its label input, Pix2Pix's without its source: the same as zeros given."""
    D = ConditionalDCGANDiscriminator(image_size=32, channels=1, width=8, num_classes=10).eval()
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        ours = D.layer_features(x)
        zeros = activations(D.features, torch.cat([x, torch.zeros(3, 10, 32, 32)], dim=1))
    for a, b in zip(ours, zeros):
        torch.testing.assert_close(a, b)
    P = PatchGANDiscriminator(image_size=32, in_channels=3, out_channels=1, patch_size=16, width=4).eval()
    with torch.no_grad():
        ours = P.layer_features(x)
        zeros = activations(P.net, torch.cat([torch.zeros(3, 3, 32, 32), x], dim=1))
    for a, b in zip(ours, zeros):
        torch.testing.assert_close(a, b)


def test_the_probe_recovers_a_separable_task_and_not_random_labels() -> None:
    g = torch.Generator().manual_seed(0)
    means = torch.randn(10, 50, generator=g) * 4  # ten well-separated clusters in 50 dimensions

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 10
        return means[y] + torch.randn(n, 50, generator=g), y

    x, y = draw(100)
    tx, ty = draw(2000)
    assert linear_probe_error(x, y, tx, ty) < 0.01
    shuffled = ty[torch.randperm(len(ty), generator=g)]  # labels unrelated to the features: chance (90% error)
    assert linear_probe_error(x, y, tx, shuffled) > 0.8


def test_class_balanced_draws() -> None:
    labels = torch.arange(1000) % 10
    chosen = class_balanced(labels, 100, 10, seed=3)
    assert torch.bincount(labels[chosen], minlength=10).tolist() == [10] * 10
    assert len(torch.unique(chosen)) == 100
    torch.testing.assert_close(chosen, class_balanced(labels, 100, 10, seed=3))
    assert not torch.equal(chosen, class_balanced(labels, 100, 10, seed=4))
    counts = torch.bincount(labels[class_balanced(labels, 25, 10, seed=0)], minlength=10)
    assert counts.sum() == 25 and set(counts.tolist()) == {2, 3}
    with pytest.raises(ConfigError, match="fewer than one image per class"):
        class_balanced(labels, 5, 10, seed=0)
    with pytest.raises(ConfigError, match="class 0"):
        class_balanced(torch.tensor([0] * 3 + [1] * 100), 20, 2, seed=0)


@pytest.mark.parametrize(
    "given,expected",
    [(100, [100]), ("all", [None]), ("100,all", [100, None]), ([1000, "all", 1000], [1000, None]), ("ALL", [None]), (1e3, [1000])],
)
def test_label_budgets(given, expected) -> None:
    assert parse_budgets(given) == expected


@pytest.mark.parametrize("given", [0, -5, "abc", 1.5, "100,0", True, float("inf"), float("nan")])
def test_bad_label_budgets(given) -> None:
    with pytest.raises(ConfigError, match="labels="):
        parse_budgets(given)


class Tiny(Network, Representation):
    """conv -> leaky ReLU -> conv -> leaky ReLU, for checking guided backpropagation by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(3, 2, 3, padding=1)
        self.a1, self.a2 = nn.LeakyReLU(0.2), nn.LeakyReLU(0.2)

    def layer_features(self, images):
        h = self.a1(self.c1(images))
        return [h, self.a2(self.c2(h))]


def test_guided_backprop_gives_the_masked_gradient() -> None:
    torch.manual_seed(0)
    net = Tiny().double()
    x = torch.randn(1, 1, 6, 6, dtype=torch.float64)
    channel = 1
    got = guided_gradients(net, x, layer=1, channel=channel)
    # by hand: forward keeping pre-activations, then backward with each ReLU passing only where its input
    # and the gradient coming back are both positive
    with torch.no_grad():
        p1 = net.c1(x)
        h1 = F.leaky_relu(p1, 0.2)
        p2 = net.c2(h1)
        a = F.leaky_relu(p2, 0.2)[0, channel]
        at = a.flatten().argmax()
        g = torch.zeros_like(p2)
        g[0, channel].view(-1)[at] = 1.0  # d max / d a2
        g = g.clamp(min=0) * (p2 > 0)
        g = torch.nn.grad.conv2d_input(h1.shape, net.c2.weight, g, padding=1)
        g = g.clamp(min=0) * (p1 > 0)
        expected = torch.nn.grad.conv2d_input(x.shape, net.c1.weight, g, padding=1)
    torch.testing.assert_close(got, expected)
    # and it is not the plain gradient (which passes negative gradients and the leaky side)
    xr = x.clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(net.layer_features(xr)[1][0, channel].max(), xr)
    assert not torch.allclose(plain, got)
    # the hooks are gone afterwards: plain gradients again
    (again,) = torch.autograd.grad(net.layer_features(xr)[1][0, channel].max(), xr)
    torch.testing.assert_close(again, plain)
    with pytest.raises(ConfigError, match="no \\(leaky\\) ReLU"):
        with guided(nn.Conv2d(1, 1, 1)):
            pass


def test_guided_backprop_through_inplace_relus_of_dcgan() -> None:
    """DCGAN's D uses in-place leaky ReLUs: the hooks still see each unit's sign."""
    D = DCGANDiscriminator(image_size=32, channels=1, width=4).eval()
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    grads = guided_gradients(D, x, layer=2, channel=0)
    assert grads.shape == x.shape and torch.isfinite(grads).all() and grads.abs().sum() > 0


# ---- the tasks on short real runs ---------------------------------------------------------------------------

TINY_DCGAN = [
    "data.image_size=32",
    "model.generator.width=8",
    "model.discriminator.width=8",
    "train.batch_size=16",
    "train.steps=3",
    "device=cpu",
]


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("probe")
    result = run_cli(*TINY_DCGAN, "hydra.run.dir=run", cwd=where)
    assert result.returncode == 0, result.stderr[-2000:]
    return where / "run"


def test_probe_writes_its_table_json_and_scalars(dcgan_run: Path) -> None:
    result = run_cli("task=probe", f"run={dcgan_run}", "labels=20,all", "draws=2", "device=cpu", cwd=dcgan_run.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((dcgan_run / "probe" / "probe_step3_labels20-all_draws2_seed0.json").read_text())
    assert record["budgets"] == ["20", "all"] and record["draws"] == 2 and record["test_images"] == 1000
    rows = {r["name"]: r for r in record["rows"]["discriminator"]}
    assert set(rows) == {"D (trained)", "D (random weights)", "raw pixels"}
    assert rows["D (trained)"]["features"] == 8 * 16 + 16 * 16 + 32 * 16 and rows["raw pixels"]["features"] == 32 * 32
    for r in rows.values():
        assert len(r["errors"]["20"]) == 2 and len(r["errors"]["all"]) == 1
        assert all(0 <= e <= 1 for e in r["errors"]["20"] + r["errors"]["all"])
        assert r["errors"]["all"][0] < 0.5  # every one of the 4,000 bundled labels: far better than chance
    table = (dcgan_run / "probe" / "probe_step3_labels20-all_draws2_seed0.md").read_text()
    assert "| D (random weights) |" in table and "20 labels" in table and "all labels" in table
    assert scalars(dcgan_run, "probe/discriminator/trained/labels_all")[0][0] == 3
    assert "D (trained)" in result.stdout


def test_dfilters_writes_trained_and_random_pictures(dcgan_run: Path, tmp_path: Path) -> None:
    result = run_cli("task=dfilters", f"run={dcgan_run}", "n=3", "device=cpu", f"output={tmp_path}", cwd=dcgan_run.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    for which in ("trained", "random"):
        picture = Image.open(tmp_path / f"dfilters_{which}_step3_n3_seed0.png")
        assert picture.size[1] == 3 * 34 + 2  # three filters, a row each of 32-pixel tiles
    assert "dfilters_trained" in result.stdout


@pytest.mark.parametrize(
    "args,said",
    [
        (["labels=0"], "labels=0: a label budget must be a whole number >= 1"),
        (["labels=4001"], "labels=4001 is more than the 4,000 labelled training images"),
        (["labels=5"], "labels=5 gives fewer than one image per class"),
        (["draws=0"], "draws must be an integer >= 1"),
        (["labels=x"], "labels='x'"),
        (["labels=100,"], "labels=100, has an empty value between its commas"),
        (["labels=,all"], "labels=,all has an empty value between its commas"),
    ],
)
def test_probe_refuses_bad_budgets_in_one_line(dcgan_run: Path, args: list[str], said: str) -> None:
    result = run_cli("task=probe", f"run={dcgan_run}", *args, "device=cpu", cwd=dcgan_run.parent)
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_probe_keys_belong_to_probe(dcgan_run: Path) -> None:
    result = run_cli("task=sample", f"run={dcgan_run}", "labels=100", cwd=dcgan_run.parent)
    assert result.returncode == 2 and "labels= is a setting of task=probe" in result.stderr


def test_probe_refuses_a_missing_run(tmp_path: Path) -> None:
    result = run_cli("task=probe", f"run={tmp_path / 'nowhere'}", cwd=tmp_path)
    assert result.returncode == 2 and "nowhere" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_probe_refuses_an_mlp_discriminator(tmp_path: Path) -> None:
    args = [
        "model=gan",
        "model.generator.hidden=[16]",
        "model.discriminator.hidden=[16]",
        "train.batch_size=8",
        "train.steps=1",
        "device=cpu",
    ]
    assert run_cli(*args, "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    for task in ("probe", "dfilters"):
        result = run_cli(f"task={task}", "run=run", cwd=tmp_path)
        assert result.returncode == 2 and "multilayer perceptron" in result.stderr and "model=dcgan" in result.stderr, result.stderr


def test_probe_refuses_data_without_labels(tmp_path: Path) -> None:
    """Pix2Pix's built-in edges -> digits pairs carry no labels: said, naming what to train on instead."""
    args = [
        "model=pix2pix",
        "model.generator.width=4",
        "model.discriminator.width=4",
        "train.steps=1",
        "train.batch_size=2",
        "eval.every=0",
        "device=cpu",
    ]
    assert run_cli(*args, "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    result = run_cli("task=probe", "run=run", cwd=tmp_path)
    assert result.returncode == 2 and "labels" in result.stderr and "data=mnist" in result.stderr, result.stderr
    done = run_cli("task=dfilters", "run=run", "n=2", cwd=tmp_path)  # the pictures need no labels
    assert done.returncode == 0, done.stderr[-2000:]
