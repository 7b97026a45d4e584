"""Shapes and structure of the MLP GAN and of DCGAN at every image size the data sets give."""

import pytest
import torch
from torch import nn

from gantrain.core.errors import ConfigError
from gantrain.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_layout
from gantrain.models.gan import MLPDiscriminator, MLPGenerator
from gantrain.models.sgan import WeightNormLinear


@pytest.mark.parametrize("size, base, n", [(28, 7, 2), (32, 4, 3), (48, 6, 3), (64, 4, 4), (96, 6, 4), (128, 4, 5)])
def test_dcgan_layout_derives_the_layer_count_from_the_size(size: int, base: int, n: int) -> None:
    assert dcgan_layout(size) == (base, n)


@pytest.mark.parametrize("size", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size: int, channels: int) -> None:
    G = DCGANGenerator(z_dim=16, image_size=size, channels=channels, width=8)
    D = DCGANDiscriminator(image_size=size, channels=channels, width=8)
    x = G(torch.randn(3, 16))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert D(x).shape == (3,)
    _, n = dcgan_layout(size)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in G.modules()) == n + 1  # projection + n-1 + output
    assert sum(isinstance(m, nn.Conv2d) for m in D.modules()) == n + 1  # n strided + the logit


def test_dcgan_follows_the_papers_architecture_rules() -> None:
    G = DCGANGenerator(z_dim=100, image_size=64, channels=3, width=64)
    D = DCGANDiscriminator(image_size=64, channels=3, width=64)
    g_layers, d_layers = list(G.net), list(D.features)
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)  # no BN on G's output
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU)  # no BN on D's input
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d)) for m in [*G.modules(), *D.modules()])
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules()) and any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == [512, 256, 128, 64, 3]
    weights = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert weights.mean().abs() < 1e-3 and abs(weights.std().item() - 0.02) < 1e-3  # N(0, 0.02)


@pytest.mark.parametrize("size", [0, 2, 30, 36, 100])
def test_dcgan_rejects_sizes_it_cannot_build(size: int) -> None:
    with pytest.raises(ConfigError, match="DCGAN cannot build image_size"):
        DCGANGenerator(image_size=size)


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3)])
def test_mlp_gan_shapes(size: int, channels: int) -> None:
    G = MLPGenerator(z_dim=10, image_size=size, channels=channels, hidden=[32, 32])
    D = MLPDiscriminator(image_size=size, channels=channels, hidden=[16, 8], pieces=3)
    x = G(torch.rand(4, 10) * 2 - 1)
    assert x.shape == (4, channels, size, size)
    assert D(x).shape == (4,)
    assert sum(isinstance(m, nn.Dropout) for m in D.modules()) == 2


def test_mlp_generator_hidden_activation_is_chosen_by_name() -> None:
    relu = MLPGenerator(z_dim=10, image_size=8, channels=1, hidden=[16, 16])
    softplus = MLPGenerator(z_dim=10, image_size=8, channels=1, hidden=[16, 16], activation="softplus")
    assert sum(isinstance(m, nn.ReLU) for m in relu.modules()) == 2
    assert sum(isinstance(m, nn.Softplus) for m in softplus.modules()) == 2
    assert not any(isinstance(m, nn.ReLU) for m in softplus.modules())
    with pytest.raises(ConfigError, match="model.generator.activation must be one of relu, softplus"):
        MLPGenerator(z_dim=10, image_size=8, channels=1, activation="tanh")


def test_mlp_generator_batch_norm_without_a_gain_learns_the_shift_alone() -> None:
    G = MLPGenerator(z_dim=6, image_size=4, channels=1, hidden=[5], batch_norm=True, batch_norm_scale=False)
    bn = G.net[1]
    assert isinstance(bn, nn.BatchNorm1d) and bn.weight is None  # no gain at all, not a frozen one
    assert [n for n, _ in G.named_parameters()] == ["net.0.weight", "net.0.bias", "net.1.shift", "net.3.weight", "net.3.bias"]
    with torch.no_grad():
        bn.shift.copy_(torch.arange(5.0))
    h = torch.randn(8, 5)
    expected = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + bn.eps) + torch.arange(5.0)
    assert torch.allclose(bn(h), expected, atol=1e-5)  # (B, 5): normalised over the batch, then shifted
    gained = MLPGenerator(z_dim=6, image_size=4, channels=1, hidden=[5], batch_norm=True)
    assert gained.net[1].weight is not None and gained.net[1].weight.requires_grad  # the default keeps its gain


def test_mlp_generator_output_weight_norm_ignores_the_size_of_v() -> None:
    torch.manual_seed(0)
    G = MLPGenerator(z_dim=6, image_size=4, channels=1, hidden=[5], output_weight_norm=True).eval()
    out = G.net[-2]
    assert isinstance(out, WeightNormLinear) and isinstance(out.g, nn.Parameter)  # the scale learns
    assert torch.equal(out.g, torch.full((16,), 0.5))  # from their sigmoid's 1, halved for tanh; no data init
    z = torch.rand(3, 6)
    before = G(z)
    with torch.no_grad():
        out.v.mul_(7.0)
    assert torch.allclose(G(z), before, atol=1e-6)


def test_mlp_generator_glorot_init_draws_within_glorot_bounds_and_zeroes_biases() -> None:
    torch.manual_seed(0)
    G = MLPGenerator(z_dim=10, image_size=10, channels=1, hidden=[500, 500], init="glorot", output_weight_norm=True)
    second, out = G.net[2], G.net[4]
    glorot, pytorch = (6 / (500 + 500)) ** 0.5, 1 / 500**0.5  # 0.077 and 0.045: the two bounds differ here
    w = second.weight.abs().max().item()
    assert pytorch < w <= glorot and w > 0.95 * glorot
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in G.net if isinstance(m, nn.Linear))
    bound = (6 / (500 + 100)) ** 0.5
    assert 0.95 * bound < out.v.abs().max().item() <= bound  # the weight-normalised output layer's v too
    torch.manual_seed(0)
    default = MLPGenerator(z_dim=10, image_size=10, channels=1, hidden=[500, 500])
    assert default.net[2].weight.abs().max().item() <= pytorch


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"init": "xavier"}, "model.generator.init must be one of pytorch, glorot \\(got 'xavier'\\)"),
        ({"batch_norm_scale": "no"}, "model.generator.batch_norm_scale must be true or false"),
        ({"output_weight_norm": 1}, "model.generator.output_weight_norm must be true or false"),
    ],
)
def test_mlp_generator_rejects_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MLPGenerator(z_dim=10, image_size=8, channels=1, **kwargs)


def test_mlp_gan_rejects_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="hidden"):
        MLPGenerator(z_dim=10, image_size=28, channels=1, hidden=[])
    with pytest.raises(ConfigError, match="dropout"):
        MLPDiscriminator(image_size=28, channels=1, dropout=1.5)


def test_conditional_mlps_use_the_label() -> None:
    from gantrain.models.cgan import ConditionalMLPDiscriminator, ConditionalMLPGenerator

    torch.manual_seed(0)
    G = ConditionalMLPGenerator(z_dim=8, image_size=28, channels=1, num_classes=10, hidden=[32], batch_norm=True).eval()
    D = ConditionalMLPDiscriminator(image_size=28, channels=1, num_classes=10, hidden=[16], pieces=2, dropout=0.0)
    z = torch.randn(4, 8)
    a, b = G(z, torch.tensor([0, 1, 2, 3])), G(z, torch.tensor([3, 2, 1, 0]))
    assert a.shape == (4, 1, 28, 28) and not torch.allclose(a, b)  # same z, other label: another image
    assert D(a, torch.tensor([0, 1, 2, 3])).shape == (4,)
    assert not torch.allclose(D(a, torch.tensor([0, 1, 2, 3])), D(a, torch.tensor([3, 2, 1, 0])))


@pytest.mark.parametrize("fake_class, outputs", [(False, 10), (True, 11)])
def test_sgan_discriminator_outputs_k_or_k_plus_1_logits_with_noise_only_in_training(fake_class: bool, outputs: int) -> None:
    from gantrain.models.sgan import SemiSupervisedMLPDiscriminator

    D = SemiSupervisedMLPDiscriminator(image_size=28, channels=1, num_classes=10, hidden=[64, 32], fake_class=fake_class)
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    assert D(x).shape == (5, outputs)
    assert not torch.equal(D(x), D(x))  # Gaussian noise on input and hidden layers while training
    D.eval()
    assert torch.equal(D(x), D(x))  # and none in evaluation
    assert any(isinstance(m, WeightNormLinear) for m in D.modules())  # weight normalisation


def test_sgan_discriminator_init_sd_sets_the_size_of_v_and_must_be_positive() -> None:
    from gantrain.models.sgan import SemiSupervisedMLPDiscriminator

    torch.manual_seed(0)
    sds = [
        [m.v.std().item() for m in D.modules() if isinstance(m, WeightNormLinear)]
        for D in (SemiSupervisedMLPDiscriminator(image_size=28, channels=1, hidden=[300, 200], init_sd=sd) for sd in (0.05, 0.1))
    ]
    assert all(abs(sd - 0.05) < 0.005 for sd in sds[0]) and all(abs(sd - 0.1) < 0.01 for sd in sds[1])
    with pytest.raises(ConfigError, match="model.discriminator.init_sd must be a number > 0 \\(got 0\\)"):
        SemiSupervisedMLPDiscriminator(image_size=28, channels=1, init_sd=0)


def test_weight_norm_data_dependent_init_gives_unit_preactivations_and_fixes_hidden_scales() -> None:
    from gantrain.models.sgan import SemiSupervisedMLPDiscriminator

    D = SemiSupervisedMLPDiscriminator(image_size=28, channels=1, num_classes=10, hidden=[64, 32], input_noise=0.0, hidden_noise=0.0)
    x = torch.rand(200, 1, 28, 28) * 2 - 1
    D.initialize_from_data(x)
    layers = [m for m in D.modules() if isinstance(m, WeightNormLinear)]
    h = x.flatten(1)
    for layer in layers:  # each layer's pre-activations on the init batch: mean 0, sd 1 per unit
        t = layer(h)
        assert torch.allclose(t.mean(0), torch.zeros(t.shape[1]), atol=1e-4)
        assert torch.allclose(t.std(0, unbiased=False), torch.ones(t.shape[1]), atol=1e-3)
        h = torch.relu(t)
    # the effective weight is g * v / ||v||: the norm of each row is g
    w = layers[0].direction() * layers[0].g.unsqueeze(1)
    assert torch.allclose(w.norm(dim=1), layers[0].g, atol=1e-5)
    trainable = {name for name, _ in D.named_parameters()}
    assert "head.1.g" in trainable and not any(name.endswith(".g") and not name.startswith("head") for name in trainable)
    assert "features.2.g" in D.state_dict()  # the fixed hidden scales are buffers, saved in checkpoints


@pytest.mark.parametrize("image_size", [28, 32])
def test_conv_pool_discriminator_classifies_with_noise_only_in_training(image_size: int) -> None:
    from gantrain.models.catgan import ConvPoolDiscriminator

    D = ConvPoolDiscriminator(image_size=image_size, channels=1, num_classes=10, hidden_noise=0.5)
    x = torch.rand(6, 1, image_size, image_size) * 2 - 1
    assert D(x).shape == (6, 10)
    assert dict(D.named_modules())["features"](x).shape == (6, 128)  # the layer feature matching reads
    assert not torch.equal(D(x), D(x))  # Gaussian noise on the input and after each pooling
    D.eval()
    assert torch.equal(D(x), D(x))
    assert ConvPoolDiscriminator(image_size=image_size, channels=1, fake_class=True)(x).shape == (6, 11)
    with pytest.raises(ConfigError, match="at least 8x8"):
        ConvPoolDiscriminator(image_size=4, channels=1)
    with pytest.raises(ConfigError, match="width must be at least 1"):
        ConvPoolDiscriminator(image_size=28, channels=1, width=0)
    assert ConvPoolDiscriminator(image_size=28, channels=1, width=8).head.in_features == 32  # fc: 4 x width


def test_dcgan_discriminator_as_a_classifier() -> None:
    D = DCGANDiscriminator(image_size=28, channels=1, width=8, num_classes=10)
    assert D(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert DCGANDiscriminator(image_size=28, channels=1, width=8, num_classes=10, fake_class=True)(torch.randn(3, 1, 28, 28)).shape == (
        3,
        11,
    )
    with pytest.raises(ConfigError, match="fake_class=true needs model.num_classes"):
        DCGANDiscriminator(image_size=28, channels=1, fake_class=True)


def test_conditional_dcgan_uses_the_label_in_both_networks() -> None:
    from gantrain.models.cgan import ConditionalDCGANDiscriminator, ConditionalDCGANGenerator

    torch.manual_seed(0)
    G = ConditionalDCGANGenerator(z_dim=8, image_size=28, channels=1, width=8, num_classes=10).eval()
    D = ConditionalDCGANDiscriminator(image_size=28, channels=1, width=8, num_classes=10).eval()
    z, y, other = torch.randn(3, 8), torch.tensor([0, 1, 2]), torch.tensor([2, 1, 0])
    x = G(z, y)
    assert x.shape == (3, 1, 28, 28) and not torch.allclose(x[0], G(z, other)[0])
    assert D(x, y).shape == (3,) and not torch.allclose(D(x, y)[0], D(x, other)[0])
    assert D.features[0].in_channels == 1 + 10  # the image plus K label maps


def test_weight_norm_forward_is_the_normalised_weight_applied() -> None:
    layer = WeightNormLinear(7, 4)
    with torch.no_grad():
        layer.g.uniform_(0.5, 2.0)
        layer.b.uniform_(-1.0, 1.0)
    x = torch.randn(5, 7)
    w = layer.g.unsqueeze(1) * layer.v / layer.v.norm(dim=1, keepdim=True)  # (out, in): g v / ||v||
    assert torch.allclose(layer(x), x @ w.t() + layer.b, atol=1e-6)
    layer(x).sum().backward()  # v, b and a trainable g all get gradients
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (layer.v, layer.b, layer.g))
