"""The two-player game of Goodfellow et al. (2014) with any criterion (gantrain/losses/criteria.py): D
descends criterion.discriminator_loss(D(x), D(G(z))) plus its penalties, G descends
criterion.generator_loss(D(G(z))). The conf/loss files name the papers' settings:

    gantrain loss=non_saturating   # Goodfellow et al. (2014), section 3: G maximises log D(G(z)) (the default)
    gantrain loss=minimax          # their eq. 1: G minimises log(1 - D(G(z)))
    gantrain loss=wgan_gp          # Gulrajani et al. (2017): Wasserstein critic, lambda = 10
    gantrain loss=hinge            # Lim & Ye (2017); Miyato et al. (2018) with model.discriminator.spectral_norm=true
    gantrain loss=lsgan            # Mao et al. (2017)

For a classifier D (model=sgan) the real/fake logit is derived from its class logits, and on labelled data D
also descends the supervised cross-entropy: Odena's (2016) and Salimans et al.'s (2016) semi-supervised GAN,
whose D loss is  L_supervised + unsupervised_weight * L_unsupervised. Such a D needs a logistic criterion.
"""

from typing import Any

import torch
from torch import Tensor, nn

from gantrain.augment.base import Augment
from gantrain.core.errors import ConfigError
from gantrain.core.priors import Latent
from gantrain.losses.base import Batch, GANObjective, LossTerms
from gantrain.losses.criteria import Criterion, NonSaturating
from gantrain.losses.functional import gradient_penalty, r1_penalty, real_fake_logit, supervised_loss
from gantrain.models.base import declared, generate, is_classifier, is_conditional
from gantrain.models.layers import non_negative


class AdversarialGAN(GANObjective):
    """G and D playing `criterion`'s game, with WGAN-GP's gradient penalty (gp_lambda), ProGAN's drift
    term (drift * E[D(x)^2]), lazy R1 (r1_gamma every r1_every D steps) and LeCam's regulariser (lecam)
    as switches.

    unsupervised_weight (lambda): a classifier D on labelled data descends
    L_supervised + lambda * L_unsupervised. Salimans et al.'s code halves the unsupervised term
    (lambda = 0.5); a binary D has only the unsupervised term, and lambda merely scales it.
    `name` is the loss as the user chose it, for the lines that refuse a model."""

    def __init__(
        self,
        criterion: Criterion | None = None,
        unsupervised_weight: float = 1.0,
        gp_lambda: float = 0.0,
        drift: float = 0.0,
        r1_gamma: float = 0.0,
        r1_every: int = 16,
        name: str = "this loss",
        augment: Augment | None = None,
        lecam: float = 0.0,
    ) -> None:
        super().__init__(augment, lecam)
        if criterion is not None and not isinstance(criterion, Criterion):
            raise ConfigError(f"loss.criterion must be one of conf/loss/criterion/ (got {criterion!r})")
        self.criterion = criterion if criterion is not None else NonSaturating()
        self.unsupervised_weight = non_negative("loss.unsupervised_weight", unsupervised_weight)
        self.gp_lambda = non_negative("loss.gp_lambda", gp_lambda)
        self.drift = non_negative("loss.drift", drift)
        self.r1_gamma = non_negative("loss.r1_gamma", r1_gamma)
        if isinstance(r1_every, bool) or not isinstance(r1_every, int) or r1_every < 1:
            raise ConfigError(f"loss.r1_every must be an integer >= 1, the D steps between R1 penalties (got {r1_every!r})")
        self.r1_every, self.name = r1_every, name
        self.d_steps = 0  # D steps taken: R1's lazy schedule (kept in the checkpoint)

    def state_dict(self) -> dict[str, Any]:
        return {"d_steps": self.d_steps, **super().state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.d_steps = int(state.pop("d_steps", 0))  # (checkpoints made before R1 existed keep no state)
        super().load_state_dict(state)  # the augmentation's; anything else is refused there

    def check_pair(self, G: nn.Module, D: nn.Module, data: Any) -> None:
        super().check_pair(G, D, data)
        if is_classifier(D) and not self.criterion.logistic:
            k = declared(D).num_classes
            raise ConfigError(
                f"{self.name} scores each image with one number, but this discriminator outputs {k} class logits "
                "(model=sgan, catgan): use loss=non_saturating or minimax with it, or a model whose D gives one score (gan, dcgan, "
                "cgan, progan)"
            )
        labelled = None if data is None else data.labelled
        if is_classifier(D) and not is_conditional(D) and labelled is not None and len(labelled) == 0:
            raise ConfigError(
                "model=sgan's classifier needs labels, and data.labeled_per_class=0 gives it none: set "
                "data.labeled_per_class=N (e.g. 10), or use model=catgan for unsupervised training"
            )

    def critic(self, D: nn.Module, y: Tensor | None) -> Any:
        """x -> D's real/fake logits (B,) on x scored with labels y, as a penalty differentiates them (the
        batch-norm statistics are left to the step's main pass on real data)."""
        fake_class = declared(D).fake_class
        return lambda x: real_fake_logit(self.run_D(D, x, real=False, y=y), fake_class)

    def penalties(self, D: nn.Module, batch: Batch, fake: Tensor, latent: Latent, real_logits: Tensor) -> dict[str, tuple[Tensor, float]]:
        """Regularisers D's step adds: name -> (value, weight); `real_logits` (B,) are D's real/fake logits
        on the real batch from the step's own pass (with their graph), for a penalty on them (the drift)
        to reuse instead of a second pass.

        R1 on the real batch every r1_every-th D step, weighted gamma / 2 times r1_every (the lazy
        regularisation of Karras et al. 2020, StyleGAN2 appendix B: the same expected strength as every
        step, at 1/r1_every of the cost)."""
        terms: dict[str, tuple[Tensor, float]] = {}
        if self.r1_gamma > 0 and self.d_steps % self.r1_every == 0:
            terms["loss/r1"] = (r1_penalty(self.critic(D, batch.y), batch.x), self.r1_gamma / 2 * self.r1_every)
        if self.gp_lambda > 0:
            epsilon = torch.rand(len(batch.x), *([1] * (batch.x.dim() - 1)), device=batch.x.device)  # (B, 1, 1, 1)
            # a conditional D scores each line's points with the real image's label
            score = self.critic(D, batch.y)
            terms["loss/gp"] = (gradient_penalty(score, batch.x, fake, epsilon), self.gp_lambda)
        if self.drift > 0:  # ProGAN's epsilon_drift: keeps the critic's scores near 0 (Karras et al. 2018, A.1)
            # on the step's own scores of the real batch, as tkarras' code: no second pass of D
            terms["loss/drift"] = (real_logits.float().pow(2).mean(), self.drift)
        return terms

    def discriminator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        fake_class = declared(D).fake_class
        with torch.no_grad():
            fake = generate(G, latent)  # D's step never needs gradients through G
        out_real, out_fake, out_lab = self.run_D_step(D, batch, fake, latent, is_classifier(D) and batch.y_lab is not None)
        real_logits, fake_logits = real_fake_logit(out_real, fake_class), real_fake_logit(out_fake, fake_class)
        self.augment.observe(real_logits.detach())
        unsupervised = self.unsupervised_weight * self.criterion.discriminator_loss(real_logits, fake_logits)
        logs = {
            "d/real": self.criterion.judged_real(real_logits.detach()),  # e.g. mean D(x)
            "d/fake": self.criterion.judged_real(fake_logits.detach()),  # mean D(G(z))
        }
        self.d_steps += 1
        loss = unsupervised
        penalties = {**self.penalties(D, batch, fake, latent, real_logits), **self.lecam_terms(real_logits, fake_logits)}
        for name, (value, weight) in penalties.items():
            loss = loss + weight * value
            logs[name] = value.detach()
        if out_lab is not None:
            supervised = supervised_loss(out_lab, batch.y_lab, fake_class)
            loss = loss + supervised  # (after the penalties: they stay in)
            logs["loss/d_supervised"] = supervised.detach()
            logs["loss/d_unsupervised"] = unsupervised.detach()
        logs["loss/d"] = loss.detach()
        return LossTerms(loss, logs)

    def generator_loss(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> tuple[Tensor, dict[str, Tensor]]:
        """G's loss and any extra numbers to log: the criterion's, on D's real/fake logits of G(z)."""
        outputs = self.run_D(D, generate(G, latent), real=False, y=latent.y)
        return self.criterion.generator_loss(real_fake_logit(outputs, declared(D).fake_class)), {}

    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        loss, logs = self.generator_loss(G, D, batch, latent)
        return LossTerms(loss, {"loss/g": loss.detach(), **logs})
