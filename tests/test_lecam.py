"""LeCam regularisation (Tseng et al. 2021) as loss.lecam=lambda: the regulariser against hand-computed
numbers, its anchors' moving averages, its place in every adversarial loss's D step, its state on resume
and its bad values. Every model with a D trains with it in tests/test_augment.py's DiffAugment runs, and
resumes with it in tests/test_resume_models.py."""

from pathlib import Path

import pytest
import torch
from conftest import run_cli
from torch import Tensor

from gantrain.core.errors import ConfigError
from gantrain.core.priors import Latent
from gantrain.losses.adversarial import AdversarialGAN
from gantrain.losses.base import Batch
from gantrain.losses.criteria import Hinge
from gantrain.losses.lecam import LeCam


def test_the_regulariser_and_its_anchors_by_hand() -> None:
    lecam = LeCam()
    real, fake = torch.tensor([2.0, 0.0], requires_grad=True), torch.tensor([-1.0, 1.0], requires_grad=True)
    # first step: alpha_R = mean(real) = 1, alpha_F = mean(fake) = 0
    # R = mean(relu([2, 0] - 0)^2) + mean(relu(1 - [-1, 1])^2) = (4 + 0) / 2 + (4 + 0) / 2 = 4
    value = lecam(real, fake)
    assert value.item() == pytest.approx(4.0)
    value.backward()
    assert torch.allclose(real.grad, torch.tensor([2.0, 0.0])) and torch.allclose(fake.grad, torch.tensor([-2.0, 0.0]))  # 2 * 2 / 2
    # second step: the anchors move 1% of the way: alpha_R = 0.99 * 1 + 0.01 * 0 = 0.99, alpha_F = 0.99 * 0 + 0.01 * 3 = 0.03
    value = lecam(torch.zeros(2), torch.full((2,), 3.0))
    assert lecam.alpha_real.item() == pytest.approx(0.99) and lecam.alpha_fake.item() == pytest.approx(0.03)
    assert value.item() == pytest.approx(0.0)  # real under alpha_F, fake over alpha_R: nothing past an anchor
    value = lecam(torch.ones(3, 2, 2), -torch.ones(3, 2, 2))  # a PatchGAN's grid: every output counts
    alpha_real, alpha_fake = 0.99 * 0.99 + 0.01, 0.99 * 0.03 - 0.01
    assert value.item() == pytest.approx((1 - alpha_fake) ** 2 + (alpha_real + 1) ** 2, rel=1e-5)


def test_the_anchors_survive_a_state_round_trip_and_a_fresh_one_keeps_none() -> None:
    lecam = LeCam()
    assert lecam.state_dict() == {}
    lecam(torch.randn(8), torch.randn(8))
    again = LeCam()
    again.load_state_dict(lecam.state_dict())
    x, y = torch.randn(8), torch.randn(8)
    assert torch.equal(lecam(x, y), again(x, y))


class _Critic(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)


def test_d_descends_the_criterion_plus_lambda_times_lecam_and_keeps_its_anchors() -> None:
    torch.manual_seed(0)
    G, D = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Unflatten(1, (1, 4, 4))), _Critic()
    batch, latent = Batch(x=torch.randn(8, 1, 4, 4)), Latent(torch.randn(8, 4))
    plain, regularised = AdversarialGAN(Hinge()), AdversarialGAN(Hinge(), lecam=0.5)
    without, with_lecam = plain.discriminator_step(G, D, batch, latent), regularised.discriminator_step(G, D, batch, latent)
    assert "loss/lecam" not in without.logs and plain.state_dict() == {"d_steps": 1}
    real, fake = D(batch.x), D(G(latent.z))
    expected = LeCam()(real, fake)
    assert with_lecam.logs["loss/lecam"].item() == pytest.approx(expected.item())
    assert with_lecam.loss.item() == pytest.approx(without.loss.item() + 0.5 * expected.item())
    kept = regularised.state_dict()["lecam"]["discriminator"]
    assert kept["alpha_real"].item() == pytest.approx(real.mean().item()) and kept["alpha_fake"].item() == pytest.approx(fake.mean().item())
    resumed = AdversarialGAN(Hinge(), lecam=0.5)
    resumed.load_state_dict(regularised.state_dict())
    assert torch.equal(resumed.discriminator_step(G, D, batch, latent).loss, regularised.discriminator_step(G, D, batch, latent).loss)


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), True])
def test_a_bad_weight_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match="loss.lecam must be a number >= 0"):
        AdversarialGAN(lecam=value)


def test_a_loss_without_an_adversarial_criterion_has_no_lecam_key(tmp_path: Path) -> None:
    done = run_cli("model=catgan", "data.labeled_per_class=0", "loss.lecam=0.3", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 2 and "loss.lecam" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "run").exists()
