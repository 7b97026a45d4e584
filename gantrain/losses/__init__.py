"""Training objectives: each computes losses and the numbers to log; only the training loop steps."""

from gantrain.losses.base import AdversarialObjective, Batch, LossTerms, Objective

__all__ = ["AdversarialObjective", "Batch", "LossTerms", "Objective"]
