"""The GAN objectives' common frame: G and D, k discriminator steps then one generator step, as
phases (gantrain/core/objective.py) that run G and D on a batch and return the loss plus the numbers to log.
The training loop owns backward() and the optimiser steps; an objective never calls them.

Discriminators come in two kinds, and every objective here serves both:
  * binary: D(x) is one logit (B,) for "x is real";
  * classifier: D(x) is class logits (B, K), or (B, K+1) with a learned fake class
    (`D.fake_class`). Its real/fake logit is derived from them (functional.real_fake_logit), and on
    labelled data it also learns the classes: the semi-supervised GAN of Odena (2016) and Salimans
    et al. (2016), whose D loss is  supervised cross-entropy + the unsupervised real-vs-fake loss.
A conditional network (`module.conditional = True`, Mirza & Osindero 2014) is also fed the labels.
"""

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.core.objective import Batch, LossTerms, Networks, Objective, Phase, Resources
from gantrain.core.priors import Latent
from gantrain.losses import lost_game
from gantrain.losses.functional import discriminator_loss, r1_penalty, real_fake_logit, supervised_loss
from gantrain.models.base import declared, discriminate, generate, is_classifier, is_conditional, samplewise
from gantrain.models.layers import running_batch_norms
from gantrain.models.pictures import sample_grid

__all__ = [
    "AdversarialObjective",
    "Batch",
    "GANObjective",
    "SampledObjective",
    "LogitGeneratorLoss",
    "LossTerms",
    "Objective",
    "Phase",
    "discriminate",
    "generate",
    "is_classifier",
    "is_conditional",
    "samplewise",
]  # (the last five are the networks' own: gantrain/models/base.py)


@contextmanager
def statistics_frozen(D: nn.Module) -> Iterator[None]:
    """Inside, D's batch norm layers normalise by each batch's own statistics as usual in training mode,
    but leave their running statistics untouched. D.eval() classifies with those statistics (the test
    error of a classifier D), so they must describe real images, not G's samples: every D call on a
    generated batch runs inside this."""
    layers = running_batch_norms(D)
    for m in layers:
        m.track_running_stats = False  # training mode then neither reads nor updates the running buffers
    try:
        yield
    finally:
        for m in layers:
            m.track_running_stats = True


def discriminate_fake(D: nn.Module, x: Tensor, y: Tensor | None) -> Tensor:
    """D on generated images x: `discriminate`, leaving D's batch-norm running statistics to real data."""
    with statistics_frozen(D):
        return discriminate(D, x, y)


def discriminate_each(D: nn.Module, batches: list[tuple[Tensor, Tensor | None, bool]]) -> list[Tensor]:
    """D's outputs on several batches (x_i (B_i, C, H, W), labels y_i or None, whether x_i is real): one
    call on their concatenation when D is samplewise, else one call each (batch norm and a batch-level
    D must see real and fake apart, and only real batches may update batch norm's running statistics)."""
    if len(batches) > 1 and samplewise(D):
        return list(D(torch.cat([x for x, _, _ in batches])).split([len(x) for x, _, _ in batches]))
    return [discriminate(D, x, y) if real else discriminate_fake(D, x, y) for x, y, real in batches]


def discriminate_step(D: nn.Module, batch: Batch, fake: Tensor, latent: Latent, labelled: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """D's outputs for one D step: on the real batch, on the fakes and, when `labelled`, on the labelled
    batch (the real batch's outputs when it is the same batch); None for the last otherwise."""
    separate = labelled and batch.x_lab is not batch.x
    batches = [(batch.x, batch.y, True), (fake, latent.y, False)] + ([(batch.x_lab, batch.y_lab, True)] if separate else [])
    outs = discriminate_each(D, batches)
    return outs[0], outs[1], (outs[2] if separate else outs[0]) if labelled else None


class SampledObjective(Objective):
    """An objective whose generator maps the prior's z to images (every GAN here, the VAE's decoder): its
    pictures are a grid of G(fixed z), the same z at every sample step."""

    def picture_inputs(self, resources: Resources) -> Any:
        return resources.fixed_latent()

    def pictures(self, nets: Networks, inputs: Any) -> dict[str, Tensor]:
        latent, row = inputs
        assert self.generator is not None, "an objective without a latent space must say what it draws"
        return {"samples": sample_grid(nets[self.generator], latent, row)}


class GANObjective(SampledObjective):
    """The frame of every GAN here: a generator G ("generator") and a discriminator D ("discriminator"),
    k steps of D's loss, then one step of G's (Algorithm 1 of Goodfellow et al. 2014). Subclasses write
    the two losses; `fresh_batch` says whether G's step draws its own real batch (True) or sees the
    batch of D's last step (False, the default)."""

    fresh_batch: bool = False
    metrics = ("loss/d", "loss/g", "d/real", "d/fake")
    _lost_game: lost_game.LostGameWatch | None = None  # made at the first log of each training process

    def advise(self, step: int, means: Mapping[str, float], samples: Path) -> str | None:
        """Say once when G has lost the game: D's mean D(G(z)) under LOST_GAME_D_FAKE at every log for
        LOST_GAME_STEPS steps (said again only after a sustained recovery)."""
        if self._lost_game is None:
            self._lost_game = lost_game.LostGameWatch(lost_game.LOST_GAME_D_FAKE, lost_game.LOST_GAME_STEPS)
        since = self._lost_game.update(step, means.get("d/fake"))
        if since is None:
            return None
        return (
            f"G may have lost the game: D's mean D(G(z)) has stayed under {self._lost_game.threshold} since step {since}, "
            f"so its samples have likely stopped improving (see {samples}); "
            "if so, stop and try a lower optim.lr, loss=non_saturating in place of minimax, or another seed"
        )

    def phases(self, k: int) -> list[Phase]:
        return [
            Phase("discriminator", ("discriminator",), self._discriminator_phase, repeats=k),
            Phase("generator", ("generator",), self._generator_phase, new_batch=self.fresh_batch),
        ]

    def _discriminator_phase(self, nets: Networks, batch: Batch, latent: Latent | None) -> LossTerms:
        return self.discriminator_step(nets["generator"], nets["discriminator"], batch, latent)

    def _generator_phase(self, nets: Networks, batch: Batch, latent: Latent | None) -> LossTerms:
        return self.generator_step(nets["generator"], nets["discriminator"], batch, latent)

    def check(self, nets: Networks, data: Any, k: int = 1) -> None:
        """Refuse, with a ConfigError, a combination of networks and data this objective cannot train."""
        super().check(nets, data, k)
        self.check_pair(nets["generator"], nets["discriminator"], data)

    def check_pair(self, G: nn.Module, D: nn.Module, data: Any) -> None:
        """The GAN's own checks of G, D and the data: labels for a conditional GAN, class counts."""
        if is_conditional(G) or is_conditional(D):
            if data is None or not data.fully_labelled:
                raise ConfigError(
                    "a conditional GAN needs a label for every training image: use a labelled data set "
                    "(mnist, cifar10) with data.labeled_per_class=null"
                )
        data_classes = None if data is None else data.num_classes
        # without labels (data.labeled_per_class=0) a classifier D's K outputs are clusters, and K is free
        unsupervised = data is not None and not data.has_labels
        for net in (G, D):
            k = declared(net).num_classes
            if k is not None and data_classes is not None and k != data_classes and not (unsupervised and not is_conditional(net)):
                raise ConfigError(
                    f"the model has model.num_classes={k} but the data set has {data_classes} classes"
                    + ("" if unsupervised else " (only without labels, data.labeled_per_class=0, may the clusters outnumber them)")
                )

    def evaluator(self, resources: Resources) -> Any:
        """A classifier D's held-out (or clustering) error and, with eval.n > 0, sample scores."""
        return resources.classifier_and_sample_scores()

    @abstractmethod
    def discriminator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        """The loss that D's optimiser descends on this batch; `latent` makes the fakes."""

    @abstractmethod
    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        """The loss that G's optimiser descends."""


class AdversarialObjective(GANObjective):
    """The two-player game of Goodfellow et al.: D is trained as a real-vs-fake logistic classifier
    (plus, for a classifier D, the supervised loss on labelled data); subclasses choose G's loss.

    unsupervised_weight (lambda): a classifier D on labelled data descends
    L_supervised + lambda * L_unsupervised. Salimans et al.'s code halves the unsupervised term
    (lambda = 0.5); a binary D has only the unsupervised term, and lambda merely scales it.
    """

    def __init__(self, unsupervised_weight: float = 1.0, r1_gamma: float = 0.0, r1_every: int = 16) -> None:
        if isinstance(unsupervised_weight, bool) or not float(unsupervised_weight) >= 0:
            raise ConfigError(f"loss.unsupervised_weight must be a number >= 0 (got {unsupervised_weight!r})")
        if isinstance(r1_gamma, bool) or not isinstance(r1_gamma, (int, float)) or not 0 <= r1_gamma < float("inf"):
            raise ConfigError(f"loss.r1_gamma must be a number >= 0, R1's weight gamma (0: no penalty; got {r1_gamma!r})")
        if isinstance(r1_every, bool) or not isinstance(r1_every, int) or r1_every < 1:
            raise ConfigError(f"loss.r1_every must be an integer >= 1, the D steps between R1 penalties (got {r1_every!r})")
        self.unsupervised_weight = float(unsupervised_weight)
        self.r1_gamma, self.r1_every = float(r1_gamma), r1_every
        self.d_steps = 0  # D steps taken: R1's lazy schedule (kept in the checkpoint)

    def state_dict(self) -> dict[str, Any]:
        return {"d_steps": self.d_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unknown = set(state) - {"d_steps"}
        if unknown:
            raise ValueError(f"{type(self).__name__} keeps only d_steps, but was given {sorted(unknown)}")
        self.d_steps = int(state.get("d_steps", 0))  # (checkpoints made before R1 existed keep no state)

    def unsupervised_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """D's real-vs-fake loss from its scores on real (B,) and generated (B,) images; the logistic one here."""
        return discriminator_loss(real_logits, fake_logits)

    def judged_real(self, logits: Tensor) -> Tensor:
        """The number logged as d/real and d/fake (about 1 for real, 0 for fake): here mean D(x)."""
        return torch.sigmoid(logits).mean()

    def penalties(self, D: nn.Module, batch: Batch, fake: Tensor, latent: Latent, real_logits: Tensor) -> dict[str, tuple[Tensor, float]]:
        """Regularisers D's step adds: name -> (value, weight); `real_logits` (B,) are D's real/fake logits
        on the real batch from the step's own pass (with their graph), for a penalty on them (ProGAN's
        drift) to reuse instead of a second pass. Here R1 on the real batch every r1_every-th
        D step, weighted gamma / 2 times r1_every (the lazy regularisation of Karras et al. 2020, StyleGAN2
        appendix B: the same expected strength as every step, at 1/r1_every of the cost)."""
        if self.r1_gamma == 0 or self.d_steps % self.r1_every != 0:
            return {}
        fake_class = declared(D).fake_class

        def critic(x: Tensor) -> Tensor:  # (the batch-norm statistics are left to the main pass on real data)
            return real_fake_logit(discriminate_fake(D, x, batch.y), fake_class)

        return {"loss/r1": (r1_penalty(critic, batch.x), self.r1_gamma / 2 * self.r1_every)}

    def check_pair(self, G: nn.Module, D: nn.Module, data: Any) -> None:
        super().check_pair(G, D, data)
        labelled = None if data is None else data.labelled
        if is_classifier(D) and not is_conditional(D) and labelled is not None and len(labelled) == 0:
            raise ConfigError(
                "model=sgan's classifier needs labels, and data.labeled_per_class=0 gives it none: set "
                "data.labeled_per_class=N (e.g. 10), or use model=catgan for unsupervised training"
            )

    @abstractmethod
    def generator_loss(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> tuple[Tensor, dict[str, Tensor]]:
        """G's loss and any extra numbers to log."""

    def discriminator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        fake_class = declared(D).fake_class
        with torch.no_grad():
            fake = generate(G, latent)  # D's step never needs gradients through G
        out_real, out_fake, out_lab = discriminate_step(D, batch, fake, latent, is_classifier(D) and batch.y_lab is not None)
        real_logits, fake_logits = real_fake_logit(out_real, fake_class), real_fake_logit(out_fake, fake_class)
        unsupervised = self.unsupervised_weight * self.unsupervised_loss(real_logits, fake_logits)
        logs = {
            "d/real": self.judged_real(real_logits.detach()),  # mean D(x)
            "d/fake": self.judged_real(fake_logits.detach()),  # mean D(G(z))
        }
        self.d_steps += 1
        loss = unsupervised
        for name, (value, weight) in self.penalties(D, batch, fake, latent, real_logits).items():
            loss = loss + weight * value
            logs[name] = value.detach()
        if out_lab is not None:
            supervised = supervised_loss(out_lab, batch.y_lab, fake_class)
            loss = loss + supervised  # (after the penalties: they stay in)
            logs["loss/d_supervised"] = supervised.detach()
            logs["loss/d_unsupervised"] = unsupervised.detach()
        logs["loss/d"] = loss.detach()
        return LossTerms(loss, logs)

    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        loss, logs = self.generator_loss(G, D, batch, latent)
        return LossTerms(loss, {"loss/g": loss.detach(), **logs})


class LogitGeneratorLoss(AdversarialObjective):
    """G's loss is a function of D's real/fake logits on G's samples (minimax, non-saturating)."""

    @abstractmethod
    def generator_loss_from_logits(self, fake_logits: Tensor) -> Tensor:
        """G's loss from D's real/fake logits on G(z), shape (B,)."""

    def generator_loss(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> tuple[Tensor, dict[str, Tensor]]:
        outputs = discriminate_fake(D, generate(G, latent), latent.y)
        return self.generator_loss_from_logits(real_fake_logit(outputs, declared(D).fake_class)), {}
