"""Augmentation of D's inputs for small data sets: DiffAugment's transforms (whole-pixel shifts, cutout,
colour), differentiable and drawn once for an image and its paired source, applied to real and generated
batches alike in both players' steps, for every model with a discriminator."""

import re
from pathlib import Path

import pytest
import torch
from conftest import SMALL_MODELS as SMALL
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


@pytest.mark.parametrize("model", list(SMALL))
def test_every_model_with_a_discriminator_trains_with_diffaugment_and_lecam(model: str, tmp_path: Path) -> None:
    """A short run of each model with DiffAugment and, on every adversarial loss (all but CatGAN's), LeCam's
    regulariser (gantrain/losses/lecam.py): logged at each step, its anchors in the checkpoint."""
    from conftest import scalars

    from gantrain.training.checkpoint import load_checkpoint

    lecam = [] if model == "catgan" else ["loss.lecam=0.3"]
    args = [*SMALL[model], "augment=diffaugment", *lecam, "train.steps=2", "train.batch_size=4", "train.log_every=1", "eval.every=0"]
    done = run_cli(*args, "device=cpu", "augment.policy=color,translation,cutout", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    if lecam:
        judges = ["_a", "_b"] if model == "cyclegan" else [""]
        for suffix in judges:
            logged = scalars(tmp_path / "run", f"loss/lecam{suffix}")
            assert [step for step, _ in logged] == [1, 2] and all(value >= 0 for _, value in logged)
        assert sorted(state["objective"]["lecam"]) == sorted(f"discriminator{suffix}" for suffix in judges)


def test_the_vae_has_no_discriminator_to_augment(tmp_path: Path) -> None:
    done = run_cli("model=vae", "augment=diffaugment", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 2 and "augment" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "run").exists()


# ----- ADA ---------------------------------------------------------------------------------------
def test_ada_moves_p_by_the_images_seen_towards_its_target() -> None:
    from gantrain.augment.ada import ADA

    ada = ADA(target=0.6, ada_kimg=1, interval=2)  # 0 -> 1 in 1,000 images
    for _ in range(2):
        ada.observe(torch.ones(50))  # D sure of every real image: r_t = 1 > 0.6
    assert ada.rt == 1.0 and ada.p == pytest.approx(100 / 1000)
    for _ in range(2):
        ada.observe(-torch.ones(50))  # r_t = -1 < 0.6: p comes down as fast
    assert ada.p == pytest.approx(0.0)
    for _ in range(2):
        ada.observe(-torch.ones(50))
    assert ada.p == 0.0  # kept in [0, 1]
    logged = ada.logs()
    assert set(logged) == {"augment/p", "augment/rt"} and float(logged["augment/rt"]) == -1.0


def test_ada_keeps_its_state_and_a_fixed_p_stays() -> None:
    from gantrain.augment.ada import ADA

    ada = ADA(ada_kimg=1, interval=3)
    for _ in range(4):
        ada.observe(torch.ones(10))
    copy = ADA(ada_kimg=1, interval=3)
    copy.load_state_dict(ada.state_dict())
    assert copy.state_dict() == ada.state_dict() and ada.steps == 1 and ada.count == 10  # mid-interval sums too
    fixed = ADA(p=0.3, adaptive=False)
    fixed.observe(torch.ones(100))
    assert fixed.p == 0.3


def test_ada_at_p_0_is_the_identity_and_at_p_1_transforms_differentiably_with_one_draw_for_a_pair() -> None:
    from gantrain.augment.ada import ADA

    x = _images(c=3)
    assert ADA(p=0.0)(x)[0] is x
    torch.manual_seed(0)
    source = x[:, :1].clone().requires_grad_()
    y = x.clone().requires_grad_()
    out, out_source = ADA(p=1.0, color=False)(y, source)  # geometry alone: the pair moves together
    assert out.shape == x.shape and not torch.allclose(out, x)
    assert torch.allclose(out[:, :1], out_source, atol=1e-6)
    (out.sum() + out_source.sum()).backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    for part in ("xflip", "rotate90", "xint", "scale", "aniso", "color"):  # each part alone changes the images
        alone = {name: name == part for name in ("xflip", "rotate90", "xint", "scale", "aniso", "color")}
        torch.manual_seed(1)
        assert not torch.allclose(ADA(p=1.0, **alone)(x)[0], x), part


@pytest.mark.parametrize(
    "kwargs, said",
    [
        ({"p": 1.5}, "augment.p must be a probability in [0, 1]"),
        ({"p": -0.1}, "augment.p must be a probability in [0, 1]"),
        ({"target": 0}, "augment.target must be in (0, 1]"),
        ({"target": 1.2}, "augment.target must be in (0, 1]"),
        ({"ada_kimg": 0}, "augment.ada_kimg must be a number > 0"),
        ({"interval": 0}, "augment.interval must be an integer >= 1"),
        ({"xflip": "yes"}, "augment.xflip must be true or false"),
    ],
)
def test_bad_ada_settings_are_one_line(kwargs: dict, said: str) -> None:
    from gantrain.augment.ada import ADA

    with pytest.raises(ConfigError, match=re.escape(said)):
        ADA(**kwargs)


@pytest.mark.parametrize("model", [m for m in SMALL if m != "catgan"])
def test_models_train_with_ada_and_log_p_and_rt(model: str, tmp_path: Path) -> None:
    from conftest import scalars

    args = [
        *SMALL[model],
        "augment=ada",
        "augment.p=0.5",
        "augment.ada_kimg=0.01",
        "augment.interval=1",
        "train.steps=3",
        "train.batch_size=4",
    ]
    done = run_cli(*args, "train.log_every=1", "eval.every=0", "device=cpu", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    p = [value for _, value in scalars(tmp_path / "run", "augment/p")]
    assert len(p) == 3 and all(0.0 <= v <= 1.0 for v in p) and len(set(p)) > 1  # it moved
    assert len(scalars(tmp_path / "run", "augment/rt")) == 3
    from gantrain.training.checkpoint import load_checkpoint

    kept = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["objective"]["augment"]
    assert kept["p"] == pytest.approx(p[-1], abs=1e-6)


def test_catgan_takes_ada_at_a_fixed_p_and_refuses_an_adaptive_one(tmp_path: Path) -> None:
    """CatGAN's D gives class posteriors, no real/fake score for r_t: a fixed p only, said in one line."""
    from conftest import scalars

    args = [*SMALL["catgan"], "augment=ada", "train.steps=2", "train.batch_size=4", "train.log_every=1", "eval.every=0", "device=cpu"]
    refused = run_cli(*args, "hydra.run.dir=refused", cwd=tmp_path)
    assert refused.returncode == 2 and "augment.adaptive=false" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "refused").exists()
    done = run_cli(*args, "augment.adaptive=false", "augment.p=0.5", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert [value for _, value in scalars(tmp_path / "run", "augment/p")] == [0.5, 0.5]
