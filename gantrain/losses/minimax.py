"""The minimax game as written in Goodfellow et al. (2014), eq. 1: G minimises log(1 - D(G(z)))."""

from torch import Tensor

from gantrain.losses.base import LogitGeneratorLoss
from gantrain.losses.functional import minimax_generator_loss


class Minimax(LogitGeneratorLoss):
    """min_G max_D V(D, G); G's loss saturates when D confidently rejects its samples."""

    def generator_loss_from_logits(self, fake_logits: Tensor) -> Tensor:
        return minimax_generator_loss(fake_logits)
