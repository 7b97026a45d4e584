"""The non-saturating game of Goodfellow et al. (2014), section 3: G maximises log D(G(z))."""

from torch import Tensor

from gantrain.losses.base import LogitGeneratorLoss
from gantrain.losses.functional import non_saturating_generator_loss


class NonSaturating(LogitGeneratorLoss):
    """Same fixed point as the minimax game, but strong gradients for G early in training."""

    def generator_loss_from_logits(self, fake_logits: Tensor) -> Tensor:
        return non_saturating_generator_loss(fake_logits)
