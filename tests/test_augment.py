"""Augmentation of D's inputs for small data sets: DiffAugment's transforms (whole-pixel shifts, cutout,
colour), differentiable and drawn once for an image and its paired source, applied to real and generated
batches alike in both players' steps, for every model with a discriminator."""

from pathlib import Path

import pytest
import torch
from conftest import run_cli, tiny_data
from torch import Tensor

from gantrain.augment.diffaugment import DiffAugment
from gantrain.core.errors import ConfigError
from gantrain.core.priors import LatentPrior
from gantrain.losses.adversarial import AdversarialGAN
from gantrain.models.dcgan import DCGANDiscriminator, DCGANGenerator


def _images(n: int = 16, c: int = 3, h: int = 32, w: int = 32, seed: int = 0) -> Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_each_policy_keeps_the_shape_and_passes_the_gradient(policy: str) -> None:
    x = _images(c=3, h=24, w=40).requires_grad_()  # a non-square batch too
    (out,) = DiffAugment(policy)(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_is_a_whole_pixel_shift_with_zeros_where_nothing_came_in() -> None:
    torch.manual_seed(0)
    x = _images(n=32, c=1)
    (out,) = DiffAugment("translation")(x)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))  # 1/8 of 32: up to 4 pixels each way
    for i in range(len(x)):
        shifts = [
            (dy, dx) for dy in range(-4, 5) for dx in range(-4, 5) if torch.equal(out[i], padded[i, :, 4 + dy : 36 + dy, 4 + dx : 36 + dx])
        ]
        assert len(shifts) == 1, i
    assert not torch.equal(out, x)  # some image moved


def test_cutout_zeroes_one_square_of_half_the_side_at_most() -> None:
    torch.manual_seed(0)
    ones = torch.ones(64, 1, 32, 32)
    (out,) = DiffAugment("cutout")(ones)
    cut = (out == 0).sum(dim=(1, 2, 3))
    assert cut.max() == 16 * 16 and cut.min() > 0  # whole squares, and ones hanging over an edge
    for i in range(len(out)):
        rows, cols = (out[i, 0] == 0).nonzero(as_tuple=True)
        assert (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) == cut[i]  # one rectangle


def test_colour_moves_brightness_and_contrast_and_leaves_a_grey_image_grey() -> None:
    torch.manual_seed(0)
    grey = _images(c=1)
    (out,) = DiffAugment("color")(grey)
    assert not torch.allclose(out, grey)
    rgb_grey = grey.expand(-1, 3, -1, -1)
    (out,) = DiffAugment("color")(rgb_grey)
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])  # saturation keeps grey grey


def test_an_image_and_its_paired_source_get_the_same_draw() -> None:
    torch.manual_seed(0)
    x = _images(c=3)
    source = x[:, :1].clone()  # Pix2Pix's D sees (source, image): one draw for both
    out, out_source = DiffAugment("translation,cutout")(x, source)
    assert torch.equal(out[:, :1], out_source)
    out, out_source = DiffAugment("color")(x, x.clone())
    assert torch.equal(out, out_source)


def test_the_same_draw_for_real_and_fake_inputs_given_the_same_random_state() -> None:
    augment, x = DiffAugment(), _images()
    torch.manual_seed(5)
    (as_real,) = augment(x)
    torch.manual_seed(5)
    (as_fake,) = augment(x.clone().requires_grad_())
    assert torch.equal(as_real, as_fake.detach())  # one function: whether a batch is real or fake plays no part


class Recording(DiffAugment):
    """DiffAugment that notes each batch it transforms: (batch size, whether it carries a gradient)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, bool]] = []

    def __call__(self, x: Tensor, *paired: Tensor) -> tuple[Tensor, ...]:
        self.calls.append((len(x), x.requires_grad))
        return super().__call__(x, *paired)


def test_real_and_generated_batches_go_through_it_in_both_players_steps() -> None:
    torch.manual_seed(0)
    G, D = DCGANGenerator(z_dim=8, image_size=28, channels=1, width=4), DCGANDiscriminator(image_size=28, channels=1, width=4)
    nets = {"generator": G, "discriminator": D}
    augment = Recording()
    objective = AdversarialGAN(augment=augment)
    batch = next(iter(tiny_data().stream(8, seed=0, device=torch.device("cpu"))))
    latent = LatentPrior(8, "normal").sample(8, device=torch.device("cpu"))
    d_phase, g_phase = objective.phases(1)
    d_phase.loss(nets, batch, latent).loss.backward()
    assert sorted(augment.calls) == [(8, False), (8, False)]  # the real batch, and the fakes (detached in D's step)
    augment.calls.clear()
    G.zero_grad()
    g_phase.loss(nets, batch, latent).loss.backward()
    assert augment.calls == [(8, True)]  # G's fakes, with their gradient
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters() if p.requires_grad)  # through it to G


def test_a_bad_policy_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"augment.policy: there is no policy 'colour'; choose from color, translation, cutout"):
        DiffAugment("colour,cutout")
    with pytest.raises(ConfigError, match="augment.policy names no transform"):
        DiffAugment("")
    with pytest.raises(ConfigError, match="augment.policy names a policy more than once"):
        DiffAugment(["cutout", "cutout"])


SMALL = {
    "gan": ["model=gan", "model.generator.hidden=[16]", "model.discriminator.hidden=[8]"],
    "dcgan": ["model.generator.width=4", "model.discriminator.width=4"],
    "cgan": ["model=cgan", "model.generator.hidden=[16]", "model.discriminator.hidden=[8]"],
    "cdcgan": ["model=cdcgan", "model.generator.width=4", "model.discriminator.width=4"],
    "sgan": ["model=sgan", "data.labeled_per_class=2", "model.generator.hidden=[16]", "model.discriminator.hidden=[16,8]"],
    "catgan": ["model=catgan", "data.labeled_per_class=0", "model.generator.width=4", "model.discriminator.width=4"],
    "progan": ["model=progan", "data.image_size=16", "model.phase_images=4", "model.fmap_base=32", "model.fmap_max=8", "model.z_dim=8"],
    "pix2pix": ["model=pix2pix", "model.generator.width=4", "model.discriminator.width=4", "model.patch_size=16"],
    "cyclegan": ["model=cyclegan", "model.generator_ab.width=4", "model.discriminator_a.width=4", "model.generator_ab.blocks=1"],
}


@pytest.mark.parametrize("model", list(SMALL))
def test_every_model_with_a_discriminator_trains_with_diffaugment(model: str, tmp_path: Path) -> None:
    args = [*SMALL[model], "augment=diffaugment", "train.steps=2", "train.batch_size=4", "eval.every=0", "device=cpu"]
    done = run_cli(*args, "augment.policy=color,translation,cutout", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()


def test_the_vae_has_no_discriminator_to_augment(tmp_path: Path) -> None:
    done = run_cli("model=vae", "augment=diffaugment", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 2 and "augment" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "run").exists()
