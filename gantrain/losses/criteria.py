"""Adversarial criteria: how a discriminator's raw outputs (one per image, or one per patch) become D's and
G's losses. Every GAN objective takes one as a value (a GAN's loss=hinge|lsgan|wgan_gp, an image translator's
`loss/criterion=...`):

  * non_saturating: D is a logistic classifier, -[log D(x) + log(1 - D(G(z)))]; G maximises log D(G(z))
    (Goodfellow et al. 2014, section 3), written with logits (softplus) for stability; the GANs' and
    Pix2Pix's default.
  * minimax: the same D, and G minimises log(1 - D(G(z))): the game of Goodfellow et al.'s eq. 1, whose
    gradient for G vanishes while D confidently rejects its samples.
  * hinge: Lim & Ye (2017), Miyato et al. (2018): D descends E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))],
    G descends -E[D(G(z))].
  * wasserstein: the critic of Arjovsky et al. (2017), D descends E[D(G(z))] - E[D(x)]; with the
    gradient penalty of Gulrajani et al. (2017) it is WGAN-GP (loss=wgan_gp).
  * least_squares: LSGAN (Mao et al. 2017) with targets 1 for real and 0 for fake: D descends
    E[(D(x) - 1)^2] + E[D(G(z))^2], G descends E[(D(G(z)) - 1)^2]; CycleGAN's default (Zhu et al. 2017,
    section 4: "more stable ... higher quality"). Mao et al. write each term with a factor 1/2, a constant
    scale that the objectives' own weights take up (both translators halve D's loss, as their papers do).
"""

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from gantrain.losses import functional as fn
from gantrain.losses.functional import discriminator_loss, non_saturating_generator_loss


class Criterion(ABC):
    """D's outputs on real and on generated images -> the two players' losses (batch and patch means).

    The one protocol of the adversarial game: every GAN here (gantrain/losses/adversarial.py), ProGAN,
    Pix2Pix and CycleGAN take a Criterion as a value, chosen by conf/loss/criterion/. A new criterion is
    a subclass and a YAML file there (docs/extending.md)."""

    # whether D's outputs are logits of "real" (log D / (1 - D)): only such a criterion serves a classifier
    # D (model=sgan), whose real/fake logit is derived from its class logits
    logistic: bool = False

    @abstractmethod
    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        """The loss D descends, from its outputs on real (B, ...) and generated (B, ...) images."""

    @abstractmethod
    def generator_loss(self, fake: Tensor) -> Tensor:
        """The loss G descends, from D's outputs on G's images."""

    @abstractmethod
    def judged_real(self, outputs: Tensor) -> Tensor:
        """How real D finds images, as the number logged (d/real, d/fake): about 1 for real, 0 for fake."""


class NonSaturating(Criterion):
    """The logistic game with G's non-saturating loss; D's outputs are logits."""

    logistic = True

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return discriminator_loss(real, fake)  # softplus(-l_real) + softplus(l_fake), means

    def generator_loss(self, fake: Tensor) -> Tensor:
        return non_saturating_generator_loss(fake)  # softplus(-l) = -log D(G(z))

    def judged_real(self, outputs: Tensor) -> Tensor:
        return torch.sigmoid(outputs).mean()  # mean D(x)


class Minimax(NonSaturating):
    """The logistic game as eq. 1 writes it: D's loss as NonSaturating's, G descends log(1 - D(G(z)))."""

    def generator_loss(self, fake: Tensor) -> Tensor:
        return fn.minimax_generator_loss(fake)  # -softplus(l) = log(1 - D(G(z)))


class LeastSquares(Criterion):
    """LSGAN's squared distances to the targets 1 (real) and 0 (fake); D's outputs are scores."""

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return fn.least_squares_discriminator_loss(real, fake)

    def generator_loss(self, fake: Tensor) -> Tensor:
        return fn.least_squares_generator_loss(fake)

    def judged_real(self, outputs: Tensor) -> Tensor:
        return outputs.mean()  # the score itself, which D pulls towards 1 on real and 0 on fake


class Hinge(Criterion):
    """The hinge loss (Lim & Ye 2017; Miyato et al. 2018): D's scores pushed past +1 on real and -1 on fake."""

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return fn.hinge_discriminator_loss(real, fake)

    def generator_loss(self, fake: Tensor) -> Tensor:
        return fn.hinge_generator_loss(fake)

    def judged_real(self, outputs: Tensor) -> Tensor:
        return (outputs > 0).float().mean()  # the share D puts on the real side of the margin's centre


class Wasserstein(Criterion):
    """The Wasserstein critic (Arjovsky et al. 2017): D's scores are unbounded, and only a Lipschitz
    constraint (WGAN-GP's gradient penalty, loss.gp_lambda) makes them a distance."""

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return fn.wasserstein_discriminator_loss(real, fake)

    def generator_loss(self, fake: Tensor) -> Tensor:
        return fn.wasserstein_generator_loss(fake)

    def judged_real(self, outputs: Tensor) -> Tensor:
        return (outputs > 0).float().mean()  # (the scores have no scale; their sign is what can be shown)
