"""What an objective is: the networks it trains, its phases, its state and its pictures.

The training loop (gantrain/training/loop.py) knows no network by name. It asks the objective for its
`phases()`: each names the networks it trains (the others are frozen for it), the function that
computes its loss from a batch, and how many times it repeats per step (k for a GAN's discriminator).
The loop builds one optimiser per phase and alone calls backward() and step(); the objective owns
every forward pass. An objective that keeps state across steps (CycleGAN's image pools) saves it
through `state_dict()`, and it says what to draw (`pictures`) and how the run is evaluated
(`evaluator`). This is the typed form of StyleGAN2-ADA's `phases` list.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from torch import Tensor, nn

from gantrain.core.batch import Batch
from gantrain.core.errors import ConfigError

Networks = Mapping[str, nn.Module]  # the run's networks by name: the model.<name> config nodes that build them


class LossTerms(NamedTuple):
    """A loss to descend and the detached scalars to log under hierarchical names (`loss/d`, `d/real`)."""

    loss: Tensor
    logs: dict[str, Tensor]


PhaseLoss = Callable[[Networks, Batch, Any], LossTerms]  # (networks, batch, Latent or None) -> LossTerms


@dataclass(frozen=True)
class Phase:
    """One optimiser's part of a training step.

    The loop runs the phases in order, each `repeats` times: it draws a batch (or, with new_batch=False,
    keeps the one the phase before used), draws z from the run's prior when `latent` and the run has
    one, freezes every network not in `trains`, calls `loss`, and steps the phase's optimiser, built
    over the parameters of `trains` (one parameter group per network, in that order)."""

    name: str  # names the phase's optimiser and loss scaler in checkpoints ("discriminator", "generator")
    trains: tuple[str, ...]  # the networks this phase's optimiser updates
    loss: PhaseLoss
    repeats: int = 1  # e.g. train.k discriminator steps per generator step
    new_batch: bool = True  # False: reuse the batch of the phase before (a GAN's G step sees D's last batch)
    latent: bool = True  # draw z from the prior (where the run has one) for each repeat
    # the phase's own optimiser settings over the run's optim.* (None: optim's): a learning rate per player
    # (the two time-scale update rule of Heusel et al. 2017) and Adam's betas; train.phases.<name>.* sets them
    lr: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    # run at every `every`-th step only (steps 0, N, 2N, ...): StyleGAN2's lazy regularisation runs its R1
    # phase every 16 steps; 1: every step
    every: int = 1

    def __post_init__(self) -> None:
        if not self.trains or self.repeats < 1:
            raise ValueError(f"phase {self.name!r} must train at least one network, at least once")
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"phase {self.name!r}: every must be an integer >= 1 (got {self.every!r})")

    def configure(self, optimizer: Any) -> None:
        """Give `optimizer` (built over this phase's parameter groups from optim.*) the phase's own settings."""
        for group in optimizer.param_groups:
            if self.lr is not None:
                group["lr"] = self.lr
            if "betas" in group and (self.beta1 is not None or self.beta2 is not None):
                beta1, beta2 = group["betas"]
                group["betas"] = (beta1 if self.beta1 is None else self.beta1, beta2 if self.beta2 is None else self.beta2)

    def runs_at(self, step: int) -> bool:
        """Whether the phase runs at `step` (counted from 0: the step about to run)."""
        return step % self.every == 0


DATA_KINDS = {
    "images": "one set of images (data=mnist, cifar10, folder, lsun)",
    "pairs": "pairs of images (data=paired, edges2x)",
    "domains": "two unpaired domains (data=unpaired, mnist_uci, mnist_mnistm)",
}
TRAINED_BY = {"images": "model=gan, dcgan, vae or another image model", "pairs": "model=pix2pix", "domains": "model=cyclegan"}
USE = {
    "images": "use data=mnist, cifar10, folder or lsun",
    "pairs": "use data=paired or data=edges2x (model=pix2pix sets one)",
    "domains": "use data=unpaired (trainA/, trainB/), data=mnist_uci (model=cyclegan sets one) or data=mnist_mnistm",
}


def data_kind(data: Any) -> str:
    """Which of DATA_KINDS a data set is."""
    return "pairs" if data.paired else "domains" if data.channels_b is not None else "images"


class StepEvents(NamedTuple):
    """What an objective asks of the loop after a step (Objective.after_step)."""

    restart_optimisers: bool = False  # clear every optimiser's state (Adam's moments) before the next step
    keep_checkpoint: str | None = None  # write a checkpoint now and keep it as checkpoints/<name>.pt


class Resources(Protocol):
    """What a run offers its objective for pictures and evaluation, each made on first use: the objective
    asks for what it needs and never reaches into the run's other parts. gantrain/training/setup.py's
    Setup is the one implementation; a test may pass any object with these methods."""

    def fixed_latent(self) -> Any:
        """(Latent, row) for a grid of G(fixed z), the same at every sample step; None without a prior."""

    def class_names(self) -> list[str] | None:
        """The names of the training data's classes, where it has them (a labelled folder's); else None."""

    def preview_pairs(self) -> tuple[Tensor, Tensor]:
        """(sources, targets) of a few held-out pairs, uint8 (N, C, H, W): what a translator's pictures show."""

    def preview_domains(self) -> tuple[Tensor, Tensor]:
        """A few held-out images of each domain, uint8 (N, C, H, W)."""

    def sample_scores(self) -> Any:
        """The evaluator of G's samples (FID, KID, ...; eval.n > 0), or None."""

    def classifier_and_sample_scores(self, classifier: str) -> Any:
        """The test error of the network named `classifier` (a classifier D) beside the sample scores, or None."""

    def translation_metrics(self) -> Any:
        """A paired translator's held-out metrics (L1, FID of the outputs), or None."""

    def cycle_metrics(self) -> Any:
        """An unpaired translator's metrics both ways (labels kept, FID, cycle error), or None."""


class NetworksMismatch(ConfigError):
    """The model builds other networks than the objective trains (a GAN's loss for a VAE, say)."""


class Objective(ABC):
    """A training objective: the networks it needs, the phases of one training step, and what it draws."""

    # the model.<name> nodes it trains, by name; a model that builds others is refused before any work
    networks: tuple[str, ...] = ("generator", "discriminator")
    # the network that maps the prior's z to images (sampled by task=sample, eval, ...); None: the
    # objective has no latent space (an image translator)
    generator: str | None = "generator"
    # what it trains, in words, for the line that refuses a model it cannot train
    trains_what: str = "this loss trains a generator and a discriminator"
    # the scalars shown in TensorBoard's HParams tab beside the run's settings
    metrics: tuple[str, ...] = ()
    # the data it trains on: "images" (one set, maybe labelled), "pairs" (source -> target, data.paired)
    # or "domains" (two unpaired sets, data.channels_b); other data is refused before any work
    trains_on: str = "images"
    # the real images each discriminator judges, by network name: "images" (a one-domain data set), or the
    # domain "A" or "B" of a two-domain one; read by the tasks that take D as a representation (task=probe)
    judges: tuple[tuple[str, str], ...] = (("discriminator", "images"),)

    @abstractmethod
    def phases(self, k: int) -> list[Phase]:
        """The phases of one training step, in order; k is train.k, the discriminator steps per generator
        step (objectives without such a choice refuse k != 1 in `check`)."""

    def check(self, nets: Networks, data: Any, k: int = 1) -> None:
        """Refuse, with a ConfigError, networks and data this objective cannot train; called once before
        any work. This base checks that the model built exactly the networks the objective trains."""
        if set(nets) != set(self.networks):
            raise NetworksMismatch(f"{self.trains_what} ({', '.join(self.networks)}), but the model builds {', '.join(nets)}")
        if data is not None and data_kind(data) != self.trains_on:
            given = data_kind(data)
            raise ConfigError(
                f"the data are {DATA_KINDS[given]}, which {TRAINED_BY[given]} trains, but {self.trains_what} on "
                f"{DATA_KINDS[self.trains_on].split(' (')[0]}: {USE[self.trains_on]}, or {TRAINED_BY[given]}"
            )

    def after_step(self) -> StepEvents:
        """Called by the loop once after every training step (a schedule's say: progressive growing resets
        the optimisers at each new phase and keeps a checkpoint per resolution); nothing by default."""
        return StepEvents()

    def state_dict(self) -> dict[str, Any]:
        """State that must survive a resume (plain data: tensors, numbers); most objectives have none."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, but was given {sorted(state)}")

    def picture_inputs(self, resources: Resources) -> Any:
        """The fixed inputs of every picture of the run (a fixed z, held-out images), made once; None: the
        objective draws nothing."""
        return None

    def pictures(self, nets: Networks, inputs: Any) -> dict[str, Tensor]:
        """What to draw at each sample step, from `picture_inputs`: name -> (3, H, W) in [0, 1]. The first
        goes to samples/step_N.png too; all go to TensorBoard. Nothing by default (a generator's objective
        draws a grid of G(fixed z): gantrain/losses/base.py, SampledObjective)."""
        return {}

    def translator(self, direction: str | None) -> str:
        """The network that task=translate runs for `direction` (None: not given on the command line);
        a ConfigError where the run does not translate images, or not that way."""
        raise ConfigError(
            f"the run is not a translation run (its loss is {type(self).__name__}): task=translate takes a model=pix2pix or "
            "model=cyclegan run"
        )

    def advise(self, step: int, means: Mapping[str, float], samples: Path) -> str | None:
        """A line to say on the console after a log (`means`: the logged averages), or None. A GAN says when
        G has lost the game; most objectives have nothing to say."""
        return None

    def evaluator(self, resources: Resources) -> Any:
        """What evaluates the run every eval.every steps, or None: by default the scores of G's samples."""
        return resources.sample_scores()
