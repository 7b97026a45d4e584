"""What a transform of D's inputs is. The objective calls it on every image batch its discriminators judge
(real, generated, the points of a gradient penalty, R1's real batch), in both players' phases, so that a
differentiable transform (DiffAugment, ADA) reaches G's gradient too. A new transform is a subclass and a
YAML file in conf/augment/ (docs/extending.md)."""

from abc import ABC, abstractmethod
from typing import Any

from torch import Tensor


class Augment(ABC):
    """A random transform of D's input batches, differentiable with respect to them."""

    # whether it adapts to D's real/fake scores on real images (observe): an objective whose D gives none
    # (CatGAN's class posteriors) refuses such a transform
    adaptive: bool = False

    @abstractmethod
    def __call__(self, x: Tensor, *paired: Tensor) -> tuple[Tensor, ...]:
        """x (B, C, H, W) in [-1, 1], transformed; each of `paired` (B, C_i, H, W: a Pix2Pix D's source
        images) gets the same draw as x, image by image. Returns (x, *paired), transformed."""

    def observe(self, real_scores: Tensor) -> None:
        """D's real/fake scores on the real batch of a D step, (B,) or (B, ...) with several per image (a
        PatchGAN's): the feedback of an adaptive transform (ADA's r_t); ignored by a fixed one."""

    def logs(self) -> dict[str, Tensor]:
        """Numbers to log beside the losses (ADA's p); none by default."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """State that must survive a resume (ADA's p); none by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, but was given {sorted(state)}")


class NoAugment(Augment):
    """D sees its inputs as they are (augment=none, the default)."""

    def __call__(self, x: Tensor, *paired: Tensor) -> tuple[Tensor, ...]:
        return (x, *paired)
