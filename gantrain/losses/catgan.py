"""CatGAN: Springenberg, "Unsupervised and Semi-supervised Learning with Categorical Generative
Adversarial Networks" (ICLR 2016), eqs. 7-9.

D outputs K class logits. It wants to be certain of the class of each real sample (low conditional
entropy), uncertain of each generated one (high conditional entropy), and to use all classes equally
over the real data (high marginal entropy); with labels, it also fits them (cross-entropy, weight
lambda_ce). G wants its samples classified with certainty and spread evenly over the classes.

    L_D = -lambda_marginal * H[E_x p(y|x)] + E_x H[p(y|x)] - E_z H[p(y|G(z))] + lambda_ce * CE(labelled)
    L_G =  E_z H[p(y|G(z))] - lambda_marginal * H[E_z p(y|G(z))]

The paper weighs the marginal entropies by 1 (lambda_marginal = 1, the default). Without labels a
class that D stops predicting gets almost no gradient back from H[E_x p(y|x)] (its share p_k enters
as p_k log p_k), so D can settle on K - 1 clusters; a larger lambda_marginal (the weight of RIM's
class-balance term, Krause et al. 2010) pushes harder towards using all K. marginal="uniform_kl"
replaces -H[p_mean] (= KL(p_mean || u) - log K) by KL(u || p_mean), which keeps a gradient on a class
however small its share.

Without labels, nothing in these terms says that a digit moved by a pixel or two is the same digit, and
D tends to merge similar digits (4, 7, 9) while splitting an easy one. lambda_consistency > 0 adds
IMSAT's self-augmentation term (Hu et al. 2017) to L_D: lambda_consistency * KL(p(y|x) || p(y|T(x))),
T a random shift of up to max_shift pixels. 0, the default, is the paper's CatGAN.

conf/loss/catgan.yaml keeps the paper's values with labels and, without them, sets lambda_marginal = 4,
marginal = "uniform_kl" and lambda_consistency = 5: together they kept all ten MNIST clusters in use where
each alone left an output empty or split a digit over two (README, "Semi-supervised MNIST").
"""

import torch
from torch import nn

from gantrain.augment.base import Augment
from gantrain.core.errors import ConfigError
from gantrain.core.priors import Latent
from gantrain.losses.base import Batch, GANObjective, LossTerms
from gantrain.losses.functional import (
    conditional_entropy,
    consistency_divergence,
    marginal_entropy,
    random_shift,
    supervised_loss,
    uniform_divergence,
)
from gantrain.models.base import declared, generate, is_classifier
from gantrain.models.layers import non_negative

MARGINALS = ("entropy", "uniform_kl")


class CatGAN(GANObjective):
    def __init__(
        self,
        lambda_ce: float = 1.0,
        lambda_marginal: float = 1.0,
        marginal: str = "entropy",
        lambda_consistency: float = 0.0,
        max_shift: int = 2,
        augment: Augment | None = None,
    ) -> None:
        super().__init__(augment)
        if self.augment.adaptive:
            raise ConfigError(
                "augment=ada adapts p to D's real/fake scores on real images, and CatGAN's D gives class posteriors, not "
                "such scores: fix p with augment.adaptive=false augment.p=0.2 (any p), or use augment=diffaugment"
            )
        if marginal not in MARGINALS:
            raise ConfigError(f"loss.marginal must be one of {', '.join(MARGINALS)} (got {marginal!r})")
        self.lambda_ce = non_negative("loss.lambda_ce", lambda_ce)
        self.lambda_marginal = non_negative("loss.lambda_marginal", lambda_marginal)
        self.marginal = marginal
        self.lambda_consistency = non_negative("loss.lambda_consistency", lambda_consistency)
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
            raise ConfigError(f"loss.max_shift must be a whole number of pixels >= 0 (got {max_shift!r})")
        self.max_shift = max_shift

    def _imbalance(self, logits: torch.Tensor, h_marginal: torch.Tensor) -> torch.Tensor:
        """The class-balance term to minimise: -H[p_mean] (the paper's) or KL(u || p_mean)."""
        return -h_marginal if self.marginal == "entropy" else uniform_divergence(logits)

    def check_pair(self, G: nn.Module, D: nn.Module, data: object) -> None:
        super().check_pair(G, D, data)
        if not is_classifier(D) or declared(D).fake_class:
            raise ConfigError("loss=catgan needs a discriminator with K class outputs and no fake class: use model=catgan")

    def discriminator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        with torch.no_grad():
            fake = generate(G, latent)
        # (B, K) logits each, and the labelled batch's (L, K) when its cross-entropy is used
        real_logits, fake_logits, lab_logits = self.run_D_step(D, batch, fake, latent, batch.y_lab is not None and self.lambda_ce > 0)
        h_marginal_real = marginal_entropy(real_logits)
        h_real = conditional_entropy(real_logits)
        h_fake = conditional_entropy(fake_logits)
        loss = self.lambda_marginal * self._imbalance(real_logits, h_marginal_real) + h_real - h_fake
        logs = {"catgan/h_marginal_real": h_marginal_real.detach(), "catgan/h_real": h_real.detach(), "catgan/h_fake": h_fake.detach()}
        if self.lambda_consistency > 0:
            # D on the same real batch, each image shifted: (B, K)
            moved_logits = self.run_D(D, random_shift(batch.x, self.max_shift), real=True, y=batch.y)
            consistency = consistency_divergence(real_logits, moved_logits)
            loss = loss + self.lambda_consistency * consistency
            logs["catgan/consistency"] = consistency.detach()
        if lab_logits is not None:
            supervised = supervised_loss(lab_logits, batch.y_lab)
            loss = loss + self.lambda_ce * supervised
            logs["loss/d_supervised"] = supervised.detach()
        logs["loss/d"] = loss.detach()
        return LossTerms(loss, logs)

    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        fake_logits = self.run_D(D, generate(G, latent), real=False, y=latent.y)
        h_fake, h_marginal_fake = conditional_entropy(fake_logits), marginal_entropy(fake_logits)
        loss = h_fake + self.lambda_marginal * self._imbalance(fake_logits, h_marginal_fake)
        return LossTerms(loss, {"loss/g": loss.detach(), "catgan/h_marginal_fake": h_marginal_fake.detach()})
