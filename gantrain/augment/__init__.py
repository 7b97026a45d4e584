"""Transforms of the discriminator's inputs (augment=...): every image a discriminator judges, real or
generated, passes through the objective's one D-input method (gantrain/losses/base.py, `run_D`), which
applies the run's Augment first."""

from gantrain.augment.base import Augment, NoAugment

__all__ = ["Augment", "NoAugment"]
