"""A GAN whose game is a Criterion (gantrain/losses/criteria.py): hinge, least squares, or the Wasserstein
critic, with WGAN-GP's gradient penalty and ProGAN's drift term as switches. For every model with a
one-score discriminator (gan, dcgan, cgan, progan); the conf/loss files name the papers' settings:

    gantrain loss=wgan_gp          # Gulrajani et al. (2017): Wasserstein critic, lambda = 10
    gantrain loss=hinge            # Lim & Ye (2017); Miyato et al. (2018) with model.discriminator.spectral_norm=true
    gantrain loss=lsgan            # Mao et al. (2017)
"""

import torch
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.core.priors import Latent
from gantrain.losses.base import AdversarialObjective, Batch, discriminate_fake, generate, is_classifier
from gantrain.losses.criteria import Criterion
from gantrain.losses.functional import gradient_penalty
from gantrain.models.base import declared


class CriterionGAN(AdversarialObjective):
    """D descends criterion.discriminator_loss(D(x), D(G(z))) (+ gp_lambda * GP + drift * E[D(x)^2] + R1),
    G descends criterion.generator_loss(D(G(z)))."""

    def __init__(
        self,
        criterion: Criterion,
        gp_lambda: float = 0.0,
        drift: float = 0.0,
        r1_gamma: float = 0.0,
        r1_every: int = 16,
        name: str = "this loss",
        unsupervised_weight: float = 1.0,
    ) -> None:
        # (unsupervised_weight: only a classifier D's, which check_pair refuses; taken so that model=sgan's
        # settings, which set it, reach that clear refusal)
        super().__init__(unsupervised_weight, r1_gamma, r1_every)
        for key, value in (("gp_lambda", gp_lambda), ("drift", drift)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ConfigError(f"loss.{key} must be a number >= 0 (got {value!r})")
        if not isinstance(criterion, Criterion):
            raise ConfigError(f"loss.criterion must be one of conf/loss/criterion/ (got {criterion!r})")
        self.criterion, self.gp_lambda, self.drift, self.name = criterion, float(gp_lambda), float(drift), name

    def check_pair(self, G: nn.Module, D: nn.Module, data: object) -> None:
        super().check_pair(G, D, data)
        if is_classifier(D):
            k = declared(D).num_classes
            raise ConfigError(
                f"{self.name} scores each image with one number, but this discriminator outputs {k} class logits "
                "(model=sgan, catgan): use loss=non_saturating or minimax with it, or a model whose D gives one score (gan, dcgan, "
                "cgan, progan)"
            )

    def unsupervised_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return self.criterion.discriminator_loss(real_logits, fake_logits)

    def judged_real(self, logits: Tensor) -> Tensor:
        return self.criterion.judged_real(logits)

    def penalties(self, D: nn.Module, batch: Batch, fake: Tensor, latent: Latent, real_logits: Tensor) -> dict[str, tuple[Tensor, float]]:
        terms = super().penalties(D, batch, fake, latent, real_logits)
        if self.gp_lambda > 0:
            epsilon = torch.rand(len(batch.x), *([1] * (batch.x.dim() - 1)), device=batch.x.device)  # (B, 1, 1, 1)
            # a conditional D scores each line's points with the real image's label
            terms["loss/gp"] = (gradient_penalty(lambda x: discriminate_fake(D, x, batch.y), batch.x, fake, epsilon), self.gp_lambda)
        if self.drift > 0:  # ProGAN's epsilon_drift: keeps the critic's scores near 0 (Karras et al. 2018, A.1)
            # on the step's own scores of the real batch, as tkarras' code: no second pass of D
            terms["loss/drift"] = (real_logits.float().pow(2).mean(), self.drift)
        return terms

    def generator_loss(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> tuple[Tensor, dict[str, Tensor]]:
        return self.criterion.generator_loss(discriminate_fake(D, generate(G, latent), latent.y)), {}
