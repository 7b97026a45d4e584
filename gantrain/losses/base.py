"""The frame of every objective with discriminators, and of the GANs: G and D, k discriminator steps then
one generator step, as phases (gantrain/core/objective.py) that run G and D on a batch and return the loss
plus the numbers to log. The training loop owns backward() and the optimiser steps; an objective never
calls them.

Every image a discriminator judges, of every objective here (the GANs, ProGAN, Pix2Pix, CycleGAN, CatGAN,
feature matching), goes through one method, `JudgedObjective.run_D`: the run's augmentation of D's inputs
(augment=..., gantrain/augment/) and the batch-norm rule for generated images live there, and nowhere else.

Discriminators come in two kinds, and every GAN objective here serves both:
  * binary: D(x) is one logit (B,) for "x is real";
  * classifier: D(x) is class logits (B, K), or (B, K+1) with a learned fake class
    (`D.fake_class`). Its real/fake logit is derived from them (functional.real_fake_logit), and on
    labelled data it also learns the classes: the semi-supervised GAN of Odena (2016) and Salimans
    et al. (2016), whose D loss is  supervised cross-entropy + the unsupervised real-vs-fake loss.
A conditional network (`module.conditional = True`, Mirza & Osindero 2014) is also fed the labels.
"""

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gantrain.augment.base import Augment, NoAugment
from gantrain.core.errors import ConfigError
from gantrain.core.objective import Batch, LossTerms, Networks, Objective, Phase, Resources
from gantrain.core.priors import Latent
from gantrain.losses import lost_game
from gantrain.losses.lecam import LeCam
from gantrain.models.base import declared, discriminate, is_conditional, samplewise
from gantrain.models.layers import non_negative, running_batch_norms
from gantrain.models.pictures import GridInputs, class_rows, sample_grid

__all__ = ["Batch", "GANObjective", "JudgedObjective", "LossTerms", "Objective", "Phase", "SampledObjective"]


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


class JudgedObjective(Objective):
    """An objective with discriminators. `augment` transforms every batch they judge (NoAugment: none);
    `lecam` (lambda >= 0) adds LeCam's regulariser of each discriminator's outputs to its loss
    (gantrain/losses/lecam.py; 0: none)."""

    # whether D's batch-norm running statistics also follow the generated batches: no for the GANs, whose
    # D.eval() classifies real images (a classifier D's test error); Pix2Pix's reference code lets them
    # (its D is only ever run in training mode), and its stored runs resume to the same buffers
    fakes_update_statistics: bool = False

    def __init__(self, augment: Augment | None = None, lecam: float = 0.0) -> None:
        if augment is not None and not isinstance(augment, Augment):
            raise ConfigError(f"augment must be one of conf/augment/ (got {augment!r})")
        self.augment = augment if augment is not None else NoAugment()
        self.lecam = non_negative("loss.lecam", lecam)
        self._anchors: dict[str, LeCam] = {}  # judge -> its LeCam anchors, made at its first D step

    def lecam_terms(self, real: Tensor, fake: Tensor, judge: str = "discriminator") -> dict[str, tuple[Tensor, float]]:
        """LeCam's regulariser of `judge`'s outputs on a D step's real (B, ...) and generated (B, ...) batches,
        as the penalty its loss adds: {"loss/lecam[_a|_b]": (R_LC, lambda)}; none with loss.lecam=0."""
        if self.lecam == 0:
            return {}
        suffix = judge.removeprefix("discriminator")  # "" for a GAN's D, "_a" / "_b" for CycleGAN's
        return {f"loss/lecam{suffix}": (self._anchors.setdefault(judge, LeCam())(real, fake), self.lecam)}

    def run_D(self, D: nn.Module, x: Tensor, *, real: bool, y: Tensor | None = None, source: Tensor | None = None) -> Tensor:
        """D's outputs on images x (B, C, H, W): the one way in to a discriminator.

        `real`: x are real images (only they may update batch norm's running statistics, which D.eval()
        later classifies with); y: the labels a conditional D is fed; source: the source images a
        Pix2Pix D judges x with, D(source, x), transformed with the same draw as x."""
        if source is None:
            (x,) = self.augment(x)
        else:
            x, source = self.augment(x, source)
        with nullcontext() if real or self.fakes_update_statistics else statistics_frozen(D):
            return discriminate(D, x, y) if source is None else D(source, x)

    def state_dict(self) -> dict[str, Any]:
        """The augmentation's state (ADA's p and its sums) and LeCam's anchors, when there are any: a resumed
        run goes on with them."""
        state: dict[str, Any] = {}
        if kept := self.augment.state_dict():
            state["augment"] = kept
        if anchors := {judge: lecam.state_dict() for judge, lecam in self._anchors.items()}:
            state["lecam"] = anchors
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        kept = state.pop("augment", None)
        if kept:
            self.augment.load_state_dict(kept)
        for judge, anchors in state.pop("lecam", {}).items():
            self._anchors.setdefault(judge, LeCam()).load_state_dict(anchors)
        super().load_state_dict(state)

    def augment_logs(self, terms: LossTerms) -> LossTerms:
        """`terms` with the augmentation's own numbers (Augment.logs: ADA's p) beside the losses."""
        extra = self.augment.logs()
        return LossTerms(terms.loss, {**terms.logs, **extra}) if extra else terms

    def run_D_each(self, D: nn.Module, batches: list[tuple[Tensor, Tensor | None, bool]]) -> list[Tensor]:
        """D's outputs on several batches (x_i (B_i, C, H, W), labels y_i or None, whether x_i is real): one
        call on their concatenation when D is samplewise, else `run_D` on each (batch norm and a batch-level
        D must see real and fake apart, and only real batches may update batch norm's running statistics)."""
        if len(batches) > 1 and samplewise(D):  # (a samplewise D is unconditional: no labels to pass)
            shown = [self.augment(x)[0] for x, _, _ in batches]
            return list(D(torch.cat(shown)).split([len(x) for x in shown]))
        return [self.run_D(D, x, real=real, y=y) for x, y, real in batches]

    def run_D_step(self, D: nn.Module, batch: Batch, fake: Tensor, latent: Latent, labelled: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        """D's outputs for one D step: on the real batch, on the fakes and, when `labelled`, on the labelled
        batch (the real batch's outputs when it is the same batch); None for the last otherwise."""
        separate = labelled and batch.x_lab is not batch.x
        batches = [(batch.x, batch.y, True), (fake, latent.y, False)] + ([(batch.x_lab, batch.y_lab, True)] if separate else [])
        outs = self.run_D_each(D, batches)
        return outs[0], outs[1], (outs[2] if separate else outs[0]) if labelled else None


class SampledObjective(Objective):
    """An objective whose generator maps the prior's z to images (every GAN here, the VAE's decoder): its
    pictures are a grid of G(fixed z), the same z at every sample step."""

    def picture_inputs(self, resources: Resources) -> Any:
        fixed: GridInputs | None = resources.fixed_latent()
        return None if fixed is None else fixed._replace(class_names=resources.class_names())

    def pictures(self, nets: Networks, inputs: GridInputs) -> dict[str, Tensor]:
        assert self.generator is not None, "an objective without a latent space must say what it draws"
        grid = sample_grid(nets[self.generator], inputs.latent, inputs.row)
        return {"samples": class_rows(grid, inputs.latent, inputs.row, inputs.class_names)}  # a conditional G's rows named


class GANObjective(SampledObjective, JudgedObjective):
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
        return self.augment_logs(self.discriminator_step(nets["generator"], nets["discriminator"], batch, latent))

    def _generator_phase(self, nets: Networks, batch: Batch, latent: Latent | None) -> LossTerms:
        return self.augment_logs(self.generator_step(nets["generator"], nets["discriminator"], batch, latent))

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
                    "(mnist, cifar10, or data=folder data.labels=subfolders: one class per subfolder) with data.labeled_per_class=null"
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
        return resources.classifier_and_sample_scores("discriminator")

    @abstractmethod
    def discriminator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        """The loss that D's optimiser descends on this batch; `latent` makes the fakes."""

    @abstractmethod
    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        """The loss that G's optimiser descends."""
