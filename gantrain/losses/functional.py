"""The GAN value function of Goodfellow et al. (2014), written with logits for numerical stability.

With D(x) = sigmoid(l) for a logit l, two identities carry everything here:
    log D(x)       = log sigmoid(l)     = -softplus(-l)
    log(1 - D(x))  = log sigmoid(-l)    = -softplus(l)
softplus never overflows or takes log(0), so these stay finite where sigmoid saturates.
"""

import torch.nn.functional as F
from torch import Tensor


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-[log D(x) + log(1 - D(G(z)))], batch means: D ascends V(D, G) by descending this."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    """log(1 - D(G(z))) = -softplus(l): the saturating form that G minimises in the paper's minimax game.

    Its gradient, -sigmoid(l) dl, vanishes as D(G(z)) -> 0, i.e. early on when D wins easily.
    """
    return -F.softplus(fake_logits).mean()


def non_saturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """-log D(G(z)) = softplus(-l): G maximises log D(G(z)) (the paper's practical alternative).

    Its gradient, -(1 - sigmoid(l)) dl, is largest exactly where the minimax one vanishes.
    """
    return F.softplus(-fake_logits).mean()
