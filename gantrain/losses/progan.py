"""Progressive growing (Karras et al. 2018) as an objective: the schedule that grows G and D
(gantrain/models/progan.py) and cross-fades the real images, on top of any criterion (WGAN-GP with the
drift term by default, the paper's).

The schedule counts the real images D has seen (kept in the checkpoint): the first resolution is trained
for `phase_images`; each later one is faded in over `phase_images` (alpha rising 0 -> 1) and then trained
alone for as many (the paper: 800k + 800k). Before each step the stage is set on both networks and the
real batch is shown at the current resolution, cross-faded as G's output is (the average of each 2x2
block of the previous resolution, upsampled, gives way to the current one), at the final size. At the
start of each fade and of each stable phase the optimisers' state is reset (tkarras' code;
reset_optimizers=false keeps it throughout: with the short phases of a CPU budget a reset comes every
hundred steps), and a
checkpoint is kept for each finished resolution: both said to the loop by `after_step`. `batch_sizes` gives a batch size per
resolution (a prefix of each batch of
train.batch_size, which must hold the largest); grow=false trains at the final resolution throughout,
the "no growing" ablation.
"""

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gantrain.core.errors import ConfigError
from gantrain.core.objective import StepEvents
from gantrain.core.priors import Latent
from gantrain.losses.adversarial import AdversarialGAN
from gantrain.losses.base import Batch, LossTerms
from gantrain.losses.criteria import Criterion
from gantrain.models.base import unwrap
from gantrain.models.progan import resolutions


class ProgressiveGAN(AdversarialGAN):
    def __init__(
        self,
        criterion: Criterion,
        *,
        image_size: int,
        start_size: int = 4,
        phase_images: int = 800_000,
        grow: bool = True,
        reset_optimizers: bool = True,
        batch_sizes: dict[int, int] | None = None,
        max_batch_size: int | None = None,
        gp_lambda: float = 10.0,
        drift: float = 0.001,
        name: str = "model=progan's loss",
        **game: Any,
    ) -> None:
        # the paper's penalties (WGAN-GP's lambda 10, drift 0.001) are this class's defaults; the rest of
        # AdversarialGAN's settings (r1_gamma, r1_every, augment, ...) pass through as they are
        super().__init__(criterion, gp_lambda=gp_lambda, drift=drift, name=name, **game)
        self.start_size = start_size
        if isinstance(phase_images, bool) or not isinstance(phase_images, int) or phase_images < 1:
            raise ConfigError(
                "model.phase_images must be an integer >= 1, the images of each fade-in and each stable phase (got "
                f"{phase_images!r}); the paper's is 800000"
            )
        if not isinstance(grow, bool):
            raise ConfigError(f"model.grow must be true or false (got {grow!r})")
        if not isinstance(reset_optimizers, bool):
            raise ConfigError(f"model.reset_optimizers must be true or false (got {reset_optimizers!r})")
        self.reset_optimizers = reset_optimizers  # tkarras' code: Adam restarts at each fade-in and stable phase
        self.image_size, self.phase_images, self.grow = image_size, phase_images, grow
        self.batch_sizes: dict[int, int] = {}
        if batch_sizes is not None and not isinstance(batch_sizes, Mapping):
            raise ConfigError(
                f"model.batch_sizes must map resolutions to batch sizes, e.g. '{{4: 64, 8: 64, 16: 32}}', or be null (got {batch_sizes!r})"
            )
        for size, b in dict(batch_sizes or {}).items():
            if isinstance(b, bool) or not isinstance(b, int) or b < 1 or (max_batch_size is not None and b > max_batch_size):
                raise ConfigError(
                    f"model.batch_sizes.{size}={b!r} must be an integer from 1 to train.batch_size ({max_batch_size}): each is a "
                    "share of train.batch_size's batch"
                )
            self.batch_sizes[int(size)] = b
        self.images_seen = 0  # real images D has been shown: the schedule's clock
        self.images_reported = 0  # ... at the end of the step before (after_step compares the two)
        self._step_stage = (0, 1.0)  # the stage of this step's D phases, which its G phase trains at

    def check_pair(self, G: nn.Module, D: nn.Module, data: object) -> None:
        super().check_pair(G, D, data)
        from gantrain.models.progan import ProGANDiscriminator, ProGANGenerator

        if not isinstance(unwrap(G), ProGANGenerator) or not isinstance(unwrap(D), ProGANDiscriminator):
            raise ConfigError(
                "loss=progan grows the networks of model=progan, which this model does not build: use model=progan (it sets loss=progan)"
            )
        for size in self.batch_sizes:
            if size not in self.sizes:
                raise ConfigError(
                    f"model.batch_sizes names resolution {size}, which this run does not grow through ({', '.join(map(str, self.sizes))})"
                )

    @property
    def sizes(self) -> list[int]:
        """The resolutions grown through: start_size, 2 start_size, ..., image_size."""
        return resolutions(self.start_size, self.image_size)

    # ----- the schedule ------------------------------------------------------------------------
    def stage(self, images: int | None = None) -> tuple[int, float]:
        """(level, alpha) after `images` real images (default: those seen so far)."""
        if not self.grow:
            return len(self.sizes) - 1, 1.0
        t, p = self.images_seen if images is None else images, self.phase_images
        if t < p:
            return 0, 1.0
        t -= p
        for level in range(1, len(self.sizes)):
            if t < p:
                return level, t / p  # fading in
            t -= p
            if t < p or level == len(self.sizes) - 1:
                return level, 1.0  # trained alone (the last resolution: until the run ends)
            t -= p
        return len(self.sizes) - 1, 1.0

    def _phase_of(self, images: int) -> tuple[int, bool]:
        level, alpha = self.stage(images)
        return level, alpha < 1.0

    def after_step(self) -> StepEvents:
        """Once after each training step: reset the optimisers when the step crossed into a new fade-in or
        stable phase; keep a checkpoint when it finished a resolution."""
        before, now = self.images_reported, self.images_seen
        self.images_reported = now
        finished = self.stage(before)[0] < self.stage(now)[0]
        return StepEvents(
            restart_optimisers=self.reset_optimizers and self._phase_of(before) != self._phase_of(now),
            keep_checkpoint=f"resolution_{self.sizes[self.stage(before)[0]]}" if finished else None,
        )

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "images_seen": self.images_seen, "images_reported": self.images_reported}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.images_seen, self.images_reported = int(state.pop("images_seen", 0)), int(state.pop("images_reported", 0))
        super().load_state_dict(state)

    # ----- a step ------------------------------------------------------------------------------
    def _staged(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> tuple[Batch, Latent, int, float]:
        """Set the stage on both networks; the batch at the stage's batch size and resolution."""
        level, alpha = self.stage()
        for net in (G, D):
            unwrap(net).grow_to(level, alpha)
        size = self.sizes[level]
        b = min(self.batch_sizes.get(size, len(batch.x)), len(batch.x))
        x = batch.x[:b]
        factor = self.image_size // size
        x_now = F.avg_pool2d(x, factor) if factor > 1 else x  # (B, C, size, size): each block's mean
        if level > 0 and alpha < 1.0:  # the reals fade in as G's output does
            x_now = torch.lerp(F.interpolate(F.avg_pool2d(x_now, 2), scale_factor=2, mode="nearest"), x_now, alpha)
        x = F.interpolate(x_now, scale_factor=factor, mode="nearest") if factor > 1 else x_now
        y = None if batch.y is None else batch.y[:b]
        latent = Latent(latent.z[:b], None if latent.y is None else latent.y[:b])
        return batch._replace(x=x, y=y), latent, level, alpha

    def discriminator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        batch, latent, level, alpha = self._staged(G, D, batch, latent)
        self._step_stage = (level, alpha)
        terms = super().discriminator_step(G, D, batch, latent)
        self.images_seen += len(batch.x)
        device = batch.x.device
        terms.logs.update(
            {
                "grow/resolution": torch.tensor(float(self.sizes[level]), device=device),
                "grow/alpha": torch.tensor(alpha, device=device),
                "grow/images_seen": torch.tensor(float(self.images_seen), device=device),
            }
        )
        return terms

    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        level, alpha = self._step_stage  # (the images D just saw may have moved the schedule on: G follows at the next step)
        for net in (G, D):
            unwrap(net).grow_to(level, alpha)
        b = min(self.batch_sizes.get(self.sizes[level], len(latent.z)), len(latent.z))
        latent = Latent(latent.z[:b], None if latent.y is None else latent.y[:b])
        return super().generator_step(G, D, batch._replace(x=batch.x[:b]), latent)
