"""The GAN losses against hand-computed values, and the saturation that tells minimax from non-saturating."""

import math

import pytest
import torch
from torch import nn

from gantrain.losses.base import Batch
from gantrain.losses.functional import (
    discriminator_loss,
    minimax_generator_loss,
    non_saturating_generator_loss,
)
from gantrain.losses.minimax import Minimax
from gantrain.losses.non_saturating import NonSaturating

# logits chosen so that D(x) = sigmoid(l) is 1/2, 3/4 on real and 1/2, 1/4 on fake
REAL = torch.tensor([0.0, math.log(3.0)])
FAKE = torch.tensor([0.0, -math.log(3.0)])


def test_discriminator_loss_by_hand() -> None:
    # -[mean log D(x) + mean log(1 - D(G(z)))] = -[(ln 1/2 + ln 3/4)/2 + (ln 1/2 + ln 3/4)/2]
    expected = -(math.log(0.5) + math.log(0.75))
    assert discriminator_loss(REAL, FAKE).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.980829, rel=1e-5)


def test_minimax_generator_loss_by_hand() -> None:
    # mean log(1 - D(G(z))) = (ln(1 - 1/2) + ln(1 - 1/4)) / 2
    expected = (math.log(0.5) + math.log(0.75)) / 2
    assert minimax_generator_loss(FAKE).item() == pytest.approx(expected, rel=1e-6)


def test_non_saturating_generator_loss_by_hand() -> None:
    # -mean log D(G(z)) = -(ln 1/2 + ln 1/4) / 2
    expected = -(math.log(0.5) + math.log(0.25)) / 2
    assert non_saturating_generator_loss(FAKE).item() == pytest.approx(expected, rel=1e-6)


def test_minimax_gradient_vanishes_where_d_rejects_fakes_but_non_saturating_does_not() -> None:
    # D(G(z)) = sigmoid(-12) ~ 6e-6: D confidently rejects the fakes, as early in training
    logit = torch.tensor([-12.0], requires_grad=True)
    (g_minimax,) = torch.autograd.grad(minimax_generator_loss(logit), logit)
    (g_non_sat,) = torch.autograd.grad(non_saturating_generator_loss(logit), logit)
    assert abs(g_minimax.item()) < 1e-5  # -sigmoid(l): vanishes
    assert abs(g_non_sat.item()) > 0.999  # -(1 - sigmoid(l)): full strength
    # and where D is fooled (D(G(z)) -> 1) the roles swap
    logit = torch.tensor([12.0], requires_grad=True)
    (g_minimax,) = torch.autograd.grad(minimax_generator_loss(logit), logit)
    (g_non_sat,) = torch.autograd.grad(non_saturating_generator_loss(logit), logit)
    assert abs(g_minimax.item()) > 0.999 and abs(g_non_sat.item()) < 1e-5


def test_losses_stay_finite_for_extreme_logits() -> None:
    huge = torch.tensor([1e4, -1e4])
    for value in (discriminator_loss(huge, huge), minimax_generator_loss(huge), non_saturating_generator_loss(huge)):
        assert torch.isfinite(value)


class _ConstantD(nn.Module):
    """A 'discriminator' that outputs a fixed logit per image: its mean pixel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).mean(1)


class _ShiftG(nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(len(z), 1, 1, 1)


@pytest.mark.parametrize("objective, g_loss", [(Minimax(), minimax_generator_loss), (NonSaturating(), non_saturating_generator_loss)])
def test_objectives_run_g_and_d_and_report_hierarchical_names(objective, g_loss) -> None:
    G, D = _ShiftG(), _ConstantD()
    batch = Batch(x=REAL.view(2, 1, 1, 1))
    z = FAKE.view(2, 1)
    d_terms = objective.discriminator_step(G, D, batch, z)
    assert d_terms.loss.item() == pytest.approx(discriminator_loss(REAL, FAKE).item())
    assert set(d_terms.logs) == {"loss/d", "d/real", "d/fake"}
    assert d_terms.logs["d/real"].item() == pytest.approx((0.5 + 0.75) / 2)
    assert d_terms.logs["d/fake"].item() == pytest.approx((0.5 + 0.25) / 2)
    g_terms = objective.generator_step(G, D, batch, z)
    assert g_terms.loss.item() == pytest.approx(g_loss(FAKE).item())
    assert set(g_terms.logs) == {"loss/g"}
