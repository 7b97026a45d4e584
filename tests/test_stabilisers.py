"""The criteria and stabilisers of issue 32: each criterion and penalty as a small pure function (hand-computed
values; the gradient penalty and R1 against finite differences on a tiny network, float64), spectral
normalisation, and the moving average of G."""

import pytest
import torch
from torch import nn

from gantrain.losses import functional as fn
from gantrain.losses.criteria import Hinge, LeastSquares, Wasserstein

REAL = torch.tensor([2.0, 0.5, -1.0])
FAKE = torch.tensor([-2.0, 0.0, 1.5])


def test_hinge_by_hand() -> None:
    # D: mean(relu(1 - [2, .5, -1])) = mean(0, .5, 2) = 2.5/3; mean(relu(1 + [-2, 0, 1.5])) = mean(0, 1, 2.5) = 3.5/3
    assert float(fn.hinge_discriminator_loss(REAL, FAKE)) == pytest.approx(6.0 / 3)
    assert float(fn.hinge_generator_loss(FAKE)) == pytest.approx(-(-2.0 + 0.0 + 1.5) / 3)
    assert float(Hinge().judged_real(REAL)) == pytest.approx(2 / 3)


def test_wasserstein_by_hand() -> None:
    # E[D(fake)] - E[D(real)] = (-0.5/3) - (1.5/3)
    assert float(fn.wasserstein_discriminator_loss(REAL, FAKE)) == pytest.approx(-2.0 / 3)
    assert float(fn.wasserstein_generator_loss(FAKE)) == pytest.approx(0.5 / 3)
    assert float(Wasserstein().discriminator_loss(REAL, FAKE)) == pytest.approx(-2.0 / 3)


def test_least_squares_by_hand() -> None:
    # mean((2-1)^2, (.5-1)^2, (-1-1)^2) = (1 + .25 + 4)/3; mean(4, 0, 2.25) = 6.25/3
    assert float(fn.least_squares_discriminator_loss(REAL, FAKE)) == pytest.approx(5.25 / 3 + 6.25 / 3)
    assert float(fn.least_squares_generator_loss(FAKE)) == pytest.approx((9 + 1 + 0.25) / 3)
    assert float(LeastSquares().generator_loss(FAKE)) == pytest.approx((9 + 1 + 0.25) / 3)


def _tiny_critic() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1), nn.Flatten(0)).double()


def _numeric_input_gradient(critic: nn.Module, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """d critic(x_i) / d x_i for each row, by central differences."""
    grad = torch.zeros_like(x)
    with torch.no_grad():
        for j in range(x.shape[1]):
            step = torch.zeros_like(x)
            step[:, j] = h
            grad[:, j] = (critic(x + step) - critic(x - step)) / (2 * h)
    return grad


def test_gradient_penalty_against_finite_differences() -> None:
    critic = _tiny_critic()
    real, fake = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    epsilon = torch.tensor([[0.0], [0.3], [0.7], [1.0]], dtype=torch.float64)
    x_hat = epsilon * real + (1 - epsilon) * fake
    expected = (_numeric_input_gradient(critic, x_hat).norm(dim=1) - 1).pow(2).mean()
    assert float(fn.gradient_penalty(critic, real, fake, epsilon).detach()) == pytest.approx(float(expected), rel=1e-6)


def test_r1_against_finite_differences() -> None:
    critic = _tiny_critic()
    real = torch.randn(6, 3, dtype=torch.float64)
    expected = _numeric_input_gradient(critic, real).pow(2).sum(dim=1).mean()
    assert float(fn.r1_penalty(critic, real).detach()) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("penalty", ["gp", "r1"])
def test_the_penalties_gradients_reach_the_critics_weights(penalty: str) -> None:
    """D's step descends the penalty: its gradient with respect to D's weights (a double backward) matches
    finite differences of the penalty over one weight."""
    critic = _tiny_critic()
    real, fake = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    epsilon = torch.rand(4, 1, dtype=torch.float64)

    def value() -> torch.Tensor:
        return fn.gradient_penalty(critic, real, fake, epsilon) if penalty == "gp" else fn.r1_penalty(critic, real)

    weight = critic[0].weight
    (analytic,) = torch.autograd.grad(value(), weight)
    h = 1e-6
    with torch.no_grad():
        weight[1, 2] += h
    up = float(value().detach())
    with torch.no_grad():
        weight[1, 2] -= 2 * h
    down = float(value().detach())
    assert float(analytic[1, 2]) == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)


def test_r1_is_lazy_every_r1_every_steps_with_the_weight_scaled() -> None:
    from gantrain.core.objective import Batch
    from gantrain.core.priors import Latent
    from gantrain.losses.adversarial import AdversarialGAN

    objective = AdversarialGAN(r1_gamma=2.0, r1_every=3)
    G = nn.Sequential(nn.Linear(2, 3))
    D = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0))
    batch = Batch(x=torch.randn(4, 3))
    seen = []
    for _ in range(7):
        terms = objective.discriminator_step(G, D, batch, Latent(torch.randn(4, 2)))
        seen.append("loss/r1" in terms.logs)
    assert seen == [False, False, True, False, False, True, False]
    assert objective.state_dict() == {"d_steps": 7}
    # on a penalised step the loss is the logistic loss + gamma / 2 * r1_every * R1
    objective.load_state_dict({"d_steps": 2})
    latent = Latent(torch.randn(4, 2))
    terms = objective.discriminator_step(G, D, batch, latent)
    plain = AdversarialGAN().discriminator_step(G, D, batch, latent)
    assert float(terms.loss.detach()) == pytest.approx(float(plain.loss.detach()) + 2.0 / 2 * 3 * float(terms.logs["loss/r1"]), rel=1e-6)


@pytest.mark.parametrize("value", [-1.0, float("nan"), "x", True])
def test_r1_gamma_must_be_a_number_at_least_zero(value: object) -> None:
    from gantrain.core.errors import ConfigError
    from gantrain.losses.adversarial import AdversarialGAN

    with pytest.raises(ConfigError, match="loss.r1_gamma must be a number >= 0"):
        AdversarialGAN(r1_gamma=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", ["dcgan", "patchgan"])
def test_spectral_norm_holds_every_weight_to_a_largest_singular_value_of_one(target: str) -> None:
    from gantrain.models.dcgan import DCGANDiscriminator
    from gantrain.models.pix2pix import PatchGANDiscriminator

    torch.manual_seed(0)
    if target == "dcgan":
        D, inputs = DCGANDiscriminator(image_size=32, channels=1, width=8, norm="none", spectral_norm=True), (torch.randn(4, 1, 32, 32),)
    else:
        D, inputs = (
            PatchGANDiscriminator(image_size=32, in_channels=1, out_channels=1, patch_size=16, width=8, spectral_norm=True),
            (torch.randn(4, 1, 32, 32),) * 2,
        )
    layers = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    with torch.no_grad():
        for _ in range(30):  # each training forward takes one step of power iteration
            D(*inputs)
        D.eval()
        sigmas = [float(torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)) for m in layers]
    assert all(abs(s - 1) < 0.02 for s in sigmas), sigmas
    # (the raw weights, N(0, 0.02) at initialisation, are far from it: the normalisation is what holds them at 1)
    assert all(
        abs(float(torch.linalg.matrix_norm(m.parametrizations.weight.original.detach().flatten(1), ord=2)) - 1) > 0.1 for m in layers
    )


def test_g_ema_is_kept_in_the_checkpoint_and_draws_the_tasks_pictures(tmp_path) -> None:
    import numpy as np
    from conftest import TINY_GAN, run_cli, task_file

    from gantrain.models.inference import generate_images
    from gantrain.tasks.trained import latent_prior, load_run
    from gantrain.training.checkpoint import load_checkpoint

    done = run_cli(*TINY_GAN, "train.steps=6", "train.g_ema=0.5", "eval.every=0", "device=cpu", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    live, average = state["networks"]["generator"], state["averages"]["generator"]
    assert live.keys() == average.keys() and any(not torch.equal(live[k], average[k]) for k in live)
    trained = load_run(tmp_path / "run", torch.device("cpu"))
    assert trained.G is trained.averages["generator"]  # the tasks draw with the average
    assert run_cli("task=sample", "run=run", "n=8", "npy=true", "device=cpu", cwd=tmp_path).returncode == 0
    drawn = np.load(task_file(tmp_path / "run" / "sample", "samples_n8_seed0.npy"))
    latent, _ = latent_prior(trained).grid(8, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))
    assert np.array_equal(drawn, generate_images(trained.averages["generator"], latent).numpy())
    assert not np.array_equal(drawn, generate_images(trained.nets["generator"], latent).numpy())


@pytest.mark.parametrize(
    ("value", "said"), [("1.0", "must be in [0, 1)"), ("-0.1", "must be in [0, 1)"), ("true", "must be a number (got true)")]
)
def test_g_ema_out_of_range_is_refused(value: str, said: str, tmp_path) -> None:
    from conftest import TINY_GAN, run_cli

    done = run_cli(*TINY_GAN, f"train.g_ema={value}", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 2 and f"train.g_ema {said}" in done.stderr, done.stderr


def test_g_ema_half_life_is_counted_in_images_whatever_the_batch() -> None:
    """train.g_ema_images: after h images the old weights weigh 1/2, at batch 50 or 25 alike; with the ramp
    the half-life is at most g_ema_rampup x the images seen, and the first update copies G."""
    from gantrain.training.settings import TrainSettings

    plain = TrainSettings(g_ema_images=1000)
    for batch in (50, 25, 7):
        assert plain.g_ema_decay(10**9, batch) ** (1000 / batch) == pytest.approx(0.5)
    ramped = TrainSettings(g_ema_images=1000, g_ema_rampup=0.1)
    assert ramped.g_ema_decay(0, 50) == 0.0
    assert ramped.g_ema_decay(5000, 50) == pytest.approx(0.5 ** (50 / 500))  # 10% of 5,000 images
    assert ramped.g_ema_decay(10**6, 50) == pytest.approx(0.5 ** (50 / 1000))  # the cap
    assert TrainSettings(g_ema=0.99).g_ema_decay(10**6, 50) == 0.99  # a fixed decay per step stays one


def test_an_average_update_takes_the_schedules_decay() -> None:
    from gantrain.training.averaging import ParameterAverage

    net = torch.nn.Linear(2, 1)
    average = ParameterAverage(net, decay=0.999)
    before = average.average.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    average.update(net, decay=0.25)
    assert torch.allclose(average.average.weight, 0.25 * before + 0.75 * net.weight)


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (["train.g_ema=0.99", "train.g_ema_images=1000"], "both set the moving average of G"),
        (["train.g_ema_rampup=0.05"], "train.g_ema_rampup ramps the half-life of train.g_ema_images"),
        (["train.g_ema_images=0"], "train.g_ema_images must be a number > 0"),
        (["train.g_ema_images=1000", "train.g_ema_rampup=-1"], "train.g_ema_rampup must be a number > 0"),
    ],
)
def test_a_contradictory_or_wrong_ema_half_life_is_refused(overrides: list[str], said: str) -> None:
    from gantrain.core.errors import ConfigError
    from gantrain.training.settings import TrainSettings

    values = {o.split("=")[0].removeprefix("train."): float(o.split("=")[1]) for o in overrides}
    with pytest.raises(ConfigError, match=said):
        TrainSettings(**values)


def test_progan_refuses_a_fixed_g_ema_beside_its_half_life_in_one_line(tmp_path) -> None:
    from conftest import run_cli

    done = run_cli("model=progan", "train.g_ema=0.999", "device=cpu", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 2 and "train.g_ema_images=null" in done.stderr and not (tmp_path / "run" / "checkpoints").exists(), (
        done.stderr
    )
    fixed = run_cli(
        "model=progan",
        "train.g_ema=0.9",
        "train.g_ema_images=null",
        "train.g_ema_rampup=null",
        "train.steps=2",
        "model.fmap_base=32",
        "model.fmap_max=8",
        "eval.every=0",
        "device=cpu",
        "hydra.run.dir=fixed",
        cwd=tmp_path,
    )
    assert fixed.returncode == 0, fixed.stderr[-1500:]


def test_r1_stays_in_a_classifier_ds_loss_beside_the_supervised_term() -> None:
    """A semi-supervised D (K class logits, labelled batch): its loss is supervised + unsupervised + R1."""
    from gantrain.core.objective import Batch
    from gantrain.core.priors import Latent
    from gantrain.losses.adversarial import AdversarialGAN
    from gantrain.models.sgan import SemiSupervisedMLPDiscriminator

    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 16), nn.Unflatten(1, (1, 4, 4)))
    D = SemiSupervisedMLPDiscriminator(image_size=4, channels=1, num_classes=3, hidden=[8])
    x, y = torch.randn(6, 1, 4, 4), torch.randint(0, 3, (6,))
    batch, latent = Batch(x=x, x_lab=x, y_lab=y), Latent(torch.randn(6, 2))
    torch.manual_seed(1)  # (D's noise layers draw from torch's RNG: the same draws for both)
    with_r1 = AdversarialGAN(r1_gamma=4.0, r1_every=1).discriminator_step(G, D, batch, latent)
    torch.manual_seed(1)
    plain = AdversarialGAN().discriminator_step(G, D, batch, latent)
    assert "loss/d_supervised" in with_r1.logs and "loss/r1" in with_r1.logs
    expected = float(plain.loss.detach()) + 4.0 / 2 * float(with_r1.logs["loss/r1"])
    assert float(with_r1.loss.detach()) == pytest.approx(expected, rel=1e-5)
