"""StyleGAN2's networks in plain torch (gantrain/models/stylegan2.py): the modulated convolution against
hand-computed numbers and a per-image reference, the resampling filters, style mixing, truncation and
the sizes it refuses."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gantrain.core.errors import ConfigError
from gantrain.models.progan import minibatch_stddev
from gantrain.models.stylegan2 import (
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    check_size,
    downsample2d,
    fir_kernel,
    modulated_conv2d,
    upsample2d,
)


def test_modulation_and_demodulation_by_hand() -> None:
    x = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)  # one pixel, two input features
    weight = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)  # one output feature
    styles = torch.tensor([[0.5, 2.0]])
    # w' = s * w = [1.5, 8]; out = 1 * 1.5 + 2 * 8 = 17.5; demodulated: / sqrt(1.5^2 + 8^2) = / sqrt(66.25)
    assert modulated_conv2d(x, weight, styles, demodulate=False).item() == pytest.approx(17.5)
    assert modulated_conv2d(x, weight, styles).item() == pytest.approx(17.5 / math.sqrt(66.25), rel=1e-6)


def test_the_grouped_form_is_each_image_convolved_with_its_own_weights() -> None:
    g = torch.Generator().manual_seed(0)
    x, weight, styles = torch.randn(3, 4, 6, 6, generator=g), torch.randn(5, 4, 3, 3, generator=g), torch.randn(3, 4, generator=g)
    out = modulated_conv2d(x, weight, styles)
    for i in range(3):
        w = weight * styles[i].view(1, 4, 1, 1)
        w = w / (w.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()
        assert torch.allclose(out[i : i + 1], F.conv2d(x[i : i + 1], w, padding=1), atol=1e-5)
    # demodulation: unit-variance inputs give outputs of about unit variance, whatever the styles' scale
    big = torch.randn(64, 32, 8, 8, generator=g)
    scaled = modulated_conv2d(big, torch.randn(16, 32, 3, 3, generator=g), 10 * torch.rand(64, 32, generator=g) + 0.1)
    assert 0.7 < scaled[:, :, 1:-1, 1:-1].std().item() < 1.3


def test_resampling_keeps_a_flat_image_flat_and_spreads_an_impulse_by_the_filter() -> None:
    kernel = fir_kernel()
    assert torch.allclose(kernel, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)
    flat = torch.ones(1, 2, 8, 8)
    assert upsample2d(flat, kernel).shape == (1, 2, 16, 16) and torch.allclose(upsample2d(flat, kernel)[..., 2:-2, 2:-2], torch.ones(1))
    assert downsample2d(flat, kernel).shape == (1, 2, 4, 4) and torch.allclose(downsample2d(flat, kernel)[..., 1:-1, 1:-1], torch.ones(1))
    impulse = torch.zeros(1, 1, 6, 6)
    impulse[0, 0, 2, 3] = 1.0
    up = upsample2d(impulse, kernel)[0, 0]
    # stuffed to (4, 6), padded 2 before: the filter (x4) lands on rows 3..6 and columns 5..8
    assert torch.allclose(up[3:7, 5:9], kernel * 4) and up.sum().item() == pytest.approx(4.0)


def test_styles_mix_only_in_training_and_truncation_pulls_to_the_mean_w() -> None:
    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=8, w_dim=8, image_size=8, channels=1, channel_base=64, channel_max=8, style_mixing=1.0)
    assert G.num_ws == 4  # 4x4: one layer; 8x8: two; and the last toRGB
    z = torch.randn(16, 8)
    ws = G.ws(z)
    assert any(not torch.equal(ws[i, 0], ws[i, -1]) for i in range(16))  # every image mixed, at some layer >= 1
    G.eval()
    ws = G.ws(z)
    assert torch.equal(ws[:, 0], ws[:, -1])  # no mixing outside training
    G.mapping.w_avg.fill_(0.25)
    assert torch.allclose(G.ws(z, psi=0.0), torch.full_like(ws, 0.25)) and torch.allclose(G.ws(z, psi=1.0), ws)
    G.train()
    G.style_mixing = 0.0
    ws = G.ws(z)
    assert torch.equal(ws[:, 0], ws[:, -1])
    assert not torch.allclose(G.mapping.w_avg, torch.full((8,), 0.25))  # G's step moved the mean of w


def test_images_of_every_power_of_two_and_one_score_each() -> None:
    for size in (8, 16, 32):
        G = StyleGAN2Generator(z_dim=8, w_dim=8, image_size=size, channels=3, channel_base=128, channel_max=16)
        D = StyleGAN2Discriminator(image_size=size, channels=3, channel_base=128, channel_max=16)
        images = G(torch.randn(4, 8))
        assert images.shape == (4, 3, size, size) and D(images).shape == (4,)
        D(images).sum().backward()
        assert all(p.grad is not None for p in G.parameters())


@pytest.mark.parametrize("size", [4, 12, 48, 0, True, "32"])
def test_a_size_that_is_not_a_power_of_two_of_at_least_8_is_one_line(size: object) -> None:
    with pytest.raises(ConfigError, match="model=stylegan2 draws square images of a power-of-two side >= 8"):
        check_size(size)
    with pytest.raises(ConfigError, match="model.style_mixing must be a probability in"):
        StyleGAN2Generator(image_size=8, style_mixing=1.5)


def _small_objective(**kwargs: object) -> "tuple":
    from gantrain.losses.stylegan2 import StyleGAN2Loss

    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=8, w_dim=8, image_size=8, channels=1, channel_base=64, channel_max=8)
    D = StyleGAN2Discriminator(image_size=8, channels=1, channel_base=64, channel_max=8)
    return G, D, StyleGAN2Loss(**kwargs)


def test_the_lazy_regularisers_run_on_their_schedules_with_their_weights() -> None:
    from gantrain.core.priors import Latent
    from gantrain.losses.base import Batch

    G, D, objective = _small_objective(r1_gamma=1.0, r1_every=3, pl_weight=2.0, pl_every=2)
    batch = Batch(x=torch.rand(8, 1, 8, 8) * 2 - 1)
    r1_at, pl_at = [], []
    for step in range(7):
        latent = Latent(torch.randn(8, 8))
        if "loss/r1" in objective.discriminator_step(G, D, batch, latent).logs:
            r1_at.append(step)
        if "loss/pl" in objective.generator_step(G, D, batch, latent).logs:
            pl_at.append(step)
    # R1 at the 3rd and 6th D steps (AdversarialGAN counts the step first), path lengths at G steps 0, 2, 4, 6
    assert r1_at == [2, 5] and pl_at == [0, 2, 4, 6]
    assert objective.state_dict()["g_steps"] == 7 and objective.state_dict()["pl_mean"] > 0
    # the term added is pl_weight * pl_every * E[(a - mean_a)^2]: against the same step without it
    torch.manual_seed(1)
    G_step = objective.generator_step(G, D, batch, Latent(torch.randn(8, 8)))  # g_steps 7: no penalty
    assert "loss/pl" not in G_step.logs
    objective.g_steps = 8
    torch.manual_seed(1)
    with_pl = objective.generator_step(G, D, batch, Latent(torch.randn(8, 8)))
    assert with_pl.logs["loss/pl"] >= 0 and "loss/pl_mean" in with_pl.logs


def test_path_lengths_are_the_norm_of_the_jacobian_transposed_times_a_pixel_direction() -> None:
    from gantrain.core.priors import Latent
    from gantrain.losses.stylegan2 import path_lengths

    G, _, _ = _small_objective()
    G.eval()  # no style mixing: ws repeat one w
    torch.manual_seed(3)
    z = torch.randn(2, 8)
    torch.manual_seed(4)
    lengths = path_lengths(G, Latent(z))
    # the same by hand: image(ws), y drawn as path_lengths draws it, J^T y by autograd, its norm per image
    ws = G.ws(z).detach().requires_grad_()
    torch.manual_seed(4)
    images = G.synthesis(ws)
    y = torch.randn_like(images) / 8
    (grad,) = torch.autograd.grad((images * y).sum(), ws)
    assert torch.allclose(lengths, grad.square().sum(2).mean(1).sqrt(), rtol=1e-4)


SMALL = ["model=stylegan2", "model.channel_base=256", "model.channel_max=16", "model.z_dim=16", "model.w_dim=16"]


@pytest.fixture(scope="module")
def stylegan2_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-step StyleGAN2 run on the bundled digits, shared by the tests that read one."""
    from conftest import run_cli

    folder = tmp_path_factory.mktemp("stylegan2")
    args = [*SMALL, "train.steps=4", "train.batch_size=8", "train.log_every=1", "eval.every=0", "device=cpu", "hydra.run.dir=run"]
    done = run_cli(*args, cwd=folder)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return folder / "run"


def test_a_short_run_and_bad_settings(stylegan2_run: Path, tmp_path: Path) -> None:
    from conftest import run_cli, scalars

    small = SMALL
    assert [step for step, _ in scalars(stylegan2_run, "loss/pl")] == [1]  # (g_steps 0; the next at 4)
    for args, said in (
        (["data.image_size=48"], "model=stylegan2 draws square images of a power-of-two side >= 8, and data.image_size=48 is not: use 64"),
        (["model.generator.style_mixing=2"], "model.style_mixing must be a probability in [0, 1]"),
        (["loss.pl_every=0"], "loss.pl_every must be an integer >= 1"),
    ):
        refused = run_cli(*small, *args, "hydra.run.dir=bad", cwd=tmp_path)
        assert refused.returncode == 2 and said in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert not (tmp_path / "bad").exists()


def test_truncation_in_the_tasks_pulls_samples_to_the_mean_and_names_its_files(stylegan2_run: Path) -> None:
    from conftest import run_cli

    tmp_path = stylegan2_run.parent
    for psi in ("1", "0.5", "0"):
        done = run_cli("task=sample", "run=run", "n=4", "npy=true", f"psi={psi}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    import numpy as np

    images = {
        psi: np.load(next((tmp_path / "run" / "sample").glob(f"*seed0{suffix}.npy")))
        for psi, suffix in ((1, ""), (0.5, "_psi0.5"), (0, "_psi0"))
    }
    spread = {psi: images[psi].astype(float).std(axis=0).mean() for psi in images}
    assert spread[0] < spread[0.5] < spread[1]  # psi 0: every image the mean w's (up to the noise inputs)
    for task in (["task=interpolate", "n=2", "length=3"], ["task=arithmetic", "expression=0 - 1"]):
        assert run_cli(*task, "run=run", "psi=0.7", cwd=tmp_path).returncode == 0
    assert list((tmp_path / "run" / "interpolate").glob("*_psi0.7.png"))
    walked = run_cli("task=interpolate", "run=run", "space=w", "mode=lerp", "n=2", "length=3", cwd=tmp_path)  # straight lines in W
    assert walked.returncode == 0 and list((tmp_path / "run" / "interpolate").glob("lerp_w_step4_n2_seed0.png")), walked.stderr
    for args, said in ((["space=w"], "space=w walks straight lines in W"), (["space=x"], "space must be z")):
        refused = run_cli("task=interpolate", "run=run", *args, cwd=tmp_path)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
    refused = run_cli("task=sample", "run=run", "psi=1.5", cwd=tmp_path)
    assert refused.returncode == 2 and "psi must be a number in [0, 1]" in refused.stderr


def test_truncating_a_generator_without_a_mapping_network_is_refused() -> None:
    from gantrain.models.dcgan import DCGANGenerator
    from gantrain.tasks.trained import truncated

    G = DCGANGenerator(z_dim=8, image_size=28, channels=1, width=4)
    assert truncated(G, 1.0) is G
    with pytest.raises(ConfigError, match="psi=0.5 truncates a StyleGAN2's w towards its mean, and this run's generator is DCGANGenerator"):
        truncated(G, 0.5)


def test_a_projection_discriminator_adds_the_class_embedding_times_the_features() -> None:
    from gantrain.models.cgan import ConditionalDCGANDiscriminator

    torch.manual_seed(0)
    x, y, other = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3]), torch.tensor([1, 1, 1, 1])
    D = ConditionalDCGANDiscriminator(image_size=28, channels=1, width=4, num_classes=4, conditioning="projection")
    phi = D.features(x).sum(dim=(2, 3))  # (B, C): D's last features summed over space
    assert torch.allclose(D(x, y) - D(x, other), ((D.embed(y) - D.embed(other)) * phi).sum(1), atol=1e-5)
    assert torch.allclose(
        D(x, y) - (D.embed(y) * phi).sum(1), D.head(D.features(x)).flatten(), atol=1e-5
    )  # psi(phi(x)): the class-free score
    S = StyleGAN2Discriminator(image_size=8, channels=1, channel_base=64, channel_max=8, num_classes=4, conditional=True)
    onehot = lambda labels: F.one_hot(labels, 4).float()  # noqa: E731
    x8 = torch.randn(4, 1, 8, 8)
    h = S.fc(S.conv(minibatch_stddev(S.blocks(S.from_rgb(x8)), 4)).flatten(1))  # (B, C): its last features
    assert torch.allclose(
        S(x8, y) - S(x8, other), ((S.embed(onehot(y)) - S.embed(onehot(other))) * h).sum(1) / math.sqrt(h.shape[1]), atol=1e-5
    )
    with pytest.raises(ConfigError, match="model.discriminator.conditioning must be one of concat, projection"):
        ConditionalDCGANDiscriminator(image_size=28, channels=1, conditioning="inner")


def test_a_conditional_stylegan2_and_a_projection_cdcgan_train(tmp_path) -> None:
    from conftest import run_cli

    small = [
        "model=stylegan2",
        "model.channel_base=256",
        "model.channel_max=16",
        "model.z_dim=16",
        "model.w_dim=16",
        "model.conditional=true",
    ]
    common = ["train.steps=2", "train.batch_size=10", "eval.every=0", "device=cpu"]
    done = run_cli(*small, *common, "train.sample_every=2", "hydra.run.dir=sg", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    cdcgan = ["model=cdcgan", "model.discriminator.conditioning=projection", "model.generator.width=4", "model.discriminator.width=4"]
    done = run_cli(*cdcgan, *common, "hydra.run.dir=cd", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_samples_repeat_outside_training_and_the_d_block_downsamples_as_the_authors() -> None:
    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=8, w_dim=8, image_size=8, channels=1, channel_base=64, channel_max=8).eval()
    for layer in G.layers:
        layer.noise_strength.data.fill_(1.0)  # noise that shows
    z = torch.randn(2, 8)
    assert torch.equal(G(z), G(z))  # const noise outside training: a seed's samples and a walk's frames repeat
    assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))
    from gantrain.models.stylegan2 import DiscriminatorBlock

    block = DiscriminatorBlock(1, 1)
    with torch.no_grad():
        block.conv0.weight.zero_()
        block.conv0.weight[0, 0, 1, 1] = 3.0  # (x 1/3 gain): conv0 passes its input through, then leaky ReLU x sqrt 2
        block.skip.weight.zero_()
    impulse = torch.zeros(1, 1, 16, 16)
    impulse[0, 0, 8, 8] = 1.0
    block.conv1.activation = False
    touched = block(impulse)[0, 0].ne(0).sum().item()
    assert touched <= 9  # blur then 3x3 taps at stride 2 on the full grid: at most 3 x 3 outputs (16 when convolved at half size)
