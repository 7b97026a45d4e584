"""The Pix2Pix objective, Isola et al. (2017), eq. 4:

    G* = arg min_G max_D  gan_weight * L_cGAN(G, D) + lambda_l1 * L_L1(G)
    L_cGAN = E[log D(x, y)] + E[log(1 - D(x, G(x)))]     (x: source image, y: target image)
    L_L1   = E ||y - G(x)||_1

With loss.conditional=false D judges G(x) alone (L_GAN, their unconditional ablation); lambda_l1=0 is
cGAN alone, gan_weight=0 is L1 alone. D's outputs are a grid, one per patch (PatchGAN), each a real/fake
decision by the criterion (loss/criterion: non_saturating, the paper's logistic game with G maximising
log D(x, G(x)), or least_squares), the losses averaged over patches. As in the paper, D's objective is
halved, slowing D relative to G.
"""

from typing import Any

import torch
from torch import Tensor, nn

from gantrain.augment.base import Augment
from gantrain.core.errors import ConfigError
from gantrain.core.objective import Resources
from gantrain.core.priors import Latent
from gantrain.losses.base import Batch, GANObjective, LossTerms
from gantrain.losses.criteria import Criterion, NonSaturating
from gantrain.losses.functional import l1_loss
from gantrain.models.pix2pix import PatchGANDiscriminator


class L1ConditionalGAN(GANObjective):
    """Pix2Pix's L1 + (c)GAN loss for a translator G(source) and a patch discriminator D(source, image)."""

    generator = None  # G translates a source image: no latent space, no z drawn
    trains_on = "pairs"
    judges = (("discriminator", "B"),)  # the targets (given their sources)
    trains_what = "Pix2Pix's loss (loss=l1_cgan) trains a translator and a patch discriminator"
    fakes_update_statistics = True  # as the paper's code (gantrain/losses/base.py, JudgedObjective)

    def __init__(
        self,
        lambda_l1: float = 100.0,
        gan_weight: float = 1.0,
        conditional: bool = True,
        criterion: Criterion | None = None,
        augment: Augment | None = None,
        lecam: float = 0.0,
    ) -> None:
        super().__init__(augment, lecam)
        for name, value in (("lambda_l1", lambda_l1), ("gan_weight", gan_weight)):
            if isinstance(value, bool) or not float(value) >= 0:
                raise ConfigError(f"loss.{name} must be a number >= 0 (got {value!r})")
        if not isinstance(conditional, bool):
            raise ConfigError(f"loss.conditional must be true or false (got {conditional!r})")
        if lambda_l1 == 0 and gan_weight == 0:
            raise ConfigError("loss.lambda_l1=0 and loss.gan_weight=0 leave G nothing to learn; make one of them > 0")
        self.lambda_l1, self.gan_weight, self.conditional = float(lambda_l1), float(gan_weight), conditional
        self.criterion = criterion if criterion is not None else NonSaturating()

    def check_pair(self, G: nn.Module, D: nn.Module, data: Any) -> None:
        if not isinstance(D, PatchGANDiscriminator):
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
        # (B, N, N): one output per patch; an unconditional D (loss.conditional=false) ignores the source
        real, fake_out = self.run_D(D, target, real=True, source=source), self.run_D(D, fake, real=False, source=source)
        self.augment.observe(real.detach())  # ADA's r_t: (B, 1, N, N), every patch's score
        loss = 0.5 * self.criterion.discriminator_loss(real, fake_out)
        logs = {"d/real": self.criterion.judged_real(real.detach()), "d/fake": self.criterion.judged_real(fake_out.detach())}
        for name, (value, weight) in self.lecam_terms(real, fake_out).items():  # on every patch's output
            loss = loss + weight * value
            logs[name] = value.detach()
        return LossTerms(loss, {"loss/d": loss.detach(), **logs})

    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        fake = G(batch.source)
        l1 = l1_loss(fake, batch.x)
        logs = {"loss/g_l1": l1.detach()}
        loss = self.lambda_l1 * l1
        if self.gan_weight > 0:
            gan = self.criterion.generator_loss(self.run_D(D, fake, real=False, source=batch.source))
            loss = loss + self.gan_weight * gan
            logs["loss/g_gan"] = gan.detach()
        logs["loss/g"] = loss.detach()
        return LossTerms(loss, logs)

    def picture_inputs(self, resources: Resources) -> Any:
        """A few held-out (source, target) pairs (training pairs where there are none), uint8."""
        return resources.preview_pairs()

    def pictures(self, nets: Any, inputs: Any) -> dict[str, Tensor]:
        """source | G(source) | target triplets, one per row, and D's verdict on each patch of G(source)."""
        from gantrain.models.pictures import patch_verdicts, translation_triplets

        sources, targets = inputs
        outputs, grid = translation_triplets(nets["generator"], sources, targets)
        return {"samples": grid, "patchgan": patch_verdicts(nets["discriminator"], sources, outputs)}

    def translator(self, direction: str | None) -> str:
        if direction is not None:
            raise ConfigError(
                f"direction={direction}: a Pix2Pix run translates one way only (its data.direction when it trained); leave direction out"
            )
        return "generator"

    def evaluator(self, resources: Resources) -> Any:
        """L1, PSNR, SSIM and sharpness of G(source) on the held-out pairs."""
        return resources.translation_metrics()
