"""What an objective is: it runs G and D on a batch and returns the loss plus the numbers to log.

The training loop owns backward() and the optimiser steps; an objective never calls them.
"""

from abc import ABC, abstractmethod
from typing import NamedTuple

import torch
from torch import Tensor, nn

from gantrain.losses.functional import discriminator_loss


class Batch(NamedTuple):
    """A batch of real data on the training device."""

    x: Tensor  # (B, C, H, W) images in [-1, 1]
    y: Tensor | None = None  # (B,) integer labels, where the data set has them


class LossTerms(NamedTuple):
    """A loss to descend and the detached scalars to log under hierarchical names (`loss/d`, `d/real`)."""

    loss: Tensor
    logs: dict[str, Tensor]


class Objective(ABC):
    """A GAN training objective: one loss for D's steps and one for G's step."""

    @abstractmethod
    def discriminator_step(self, G: nn.Module, D: nn.Module, batch: Batch, z: Tensor) -> LossTerms:
        """The loss that D's optimiser descends on this batch, with z (B, z_dim) for the fakes."""

    @abstractmethod
    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, z: Tensor) -> LossTerms:
        """The loss that G's optimiser descends, with z (B, z_dim)."""


class AdversarialObjective(Objective):
    """The two-player game of Goodfellow et al.: D is trained as a real-vs-fake logistic classifier;
    subclasses choose the generator's loss from D's logits on fakes."""

    @abstractmethod
    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """G's loss from D's logits on G(z), shape (B,)."""

    def discriminator_step(self, G: nn.Module, D: nn.Module, batch: Batch, z: Tensor) -> LossTerms:
        with torch.no_grad():
            fake = G(z)  # D's step never needs gradients through G
        real_logits, fake_logits = D(batch.x), D(fake)
        loss = discriminator_loss(real_logits, fake_logits)
        return LossTerms(
            loss,
            {
                "loss/d": loss.detach(),
                "d/real": torch.sigmoid(real_logits.detach()).mean(),  # mean D(x)
                "d/fake": torch.sigmoid(fake_logits.detach()).mean(),  # mean D(G(z))
            },
        )

    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, z: Tensor) -> LossTerms:
        loss = self.generator_loss(D(G(z)))
        return LossTerms(loss, {"loss/g": loss.detach()})
