"""Training objectives: each computes losses and the numbers to log; only the training loop steps."""

from gantrain.losses.adversarial import AdversarialGAN
from gantrain.losses.base import Batch, GANObjective, JudgedObjective, LossTerms, Objective

__all__ = ["AdversarialGAN", "Batch", "GANObjective", "JudgedObjective", "LossTerms", "Objective"]
