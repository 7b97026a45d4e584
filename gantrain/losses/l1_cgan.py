"""The Pix2Pix objective, Isola et al. (2017), eq. 4:

    G* = arg min_G max_D  gan_weight * L_cGAN(G, D) + lambda_l1 * L_L1(G)
    L_cGAN = E[log D(x, y)] + E[log(1 - D(x, G(x)))]     (x: source image, y: target image)
    L_L1   = E ||y - G(x)||_1

With loss.conditional=false D judges G(x) alone (L_GAN, their unconditional ablation); lambda_l1=0 is
cGAN alone, gan_weight=0 is L1 alone. D's logits are a grid, one per patch (PatchGAN); each patch is a
logistic real/fake decision and the losses average over patches. As in the paper, D's objective is
halved, slowing D relative to G; G maximises log D(x, G(x)) (the non-saturating form).
"""

import torch
from torch import nn

from gantrain.errors import ConfigError
from gantrain.losses.base import Batch, LossTerms, Objective
from gantrain.losses.functional import discriminator_loss, non_saturating_generator_loss, l1_loss
from gantrain.priors import Latent


class L1ConditionalGAN(Objective):
    """Pix2Pix's L1 + (c)GAN loss for a translator G(source) and a patch discriminator D(source, image)."""

    translation = True  # trains on paired data: (source, target) batches

    def __init__(self, lambda_l1: float = 100.0, gan_weight: float = 1.0, conditional: bool = True) -> None:
        for name, value in (("lambda_l1", lambda_l1), ("gan_weight", gan_weight)):
            if isinstance(value, bool) or not float(value) >= 0:
                raise ConfigError(f"loss.{name} must be a number >= 0 (got {value!r})")
        if not isinstance(conditional, bool):
            raise ConfigError(f"loss.conditional must be true or false (got {conditional!r})")
        if lambda_l1 == 0 and gan_weight == 0:
            raise ConfigError("loss.lambda_l1=0 and loss.gan_weight=0 leave G nothing to learn; make one of them > 0")
        self.lambda_l1, self.gan_weight, self.conditional = float(lambda_l1), float(gan_weight), conditional

    def check(self, G: nn.Module, D: nn.Module, data: object) -> None:
        if not getattr(data, "paired", False):
            raise ConfigError("loss=l1_cgan trains on pairs of images: use data=paired or data=edges2x (model=pix2pix sets one)")
        if getattr(D, "with_source", None) is None:
            raise ConfigError("loss=l1_cgan needs a discriminator of image pairs: use model=pix2pix")
        if D.with_source != self.conditional:
            raise ConfigError(
                f"loss.conditional={str(self.conditional).lower()} but model.discriminator.conditional="
                f"{str(D.with_source).lower()}; leave the latter at its default, ${{loss.conditional}}"
            )

    def discriminator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        source, target = batch.source, batch.x
        with torch.no_grad():
            fake = G(source)
        real_logits, fake_logits = D(source, target), D(source, fake)  # (B, N, N): one logit per patch
        loss = 0.5 * discriminator_loss(real_logits, fake_logits)
        return LossTerms(loss, {
            "loss/d": loss.detach(),
            "d/real": torch.sigmoid(real_logits.detach()).mean(),
            "d/fake": torch.sigmoid(fake_logits.detach()).mean(),
        })  # fmt: skip

    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        fake = G(batch.source)
        l1 = l1_loss(fake, batch.x)
        logs = {"loss/g_l1": l1.detach()}
        loss = self.lambda_l1 * l1
        if self.gan_weight > 0:
            gan = non_saturating_generator_loss(D(batch.source, fake))
            loss = loss + self.gan_weight * gan
            logs["loss/g_gan"] = gan.detach()
        logs["loss/g"] = loss.detach()
        return LossTerms(loss, logs)
