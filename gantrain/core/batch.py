"""A batch of real data, as the data streams hand it to an objective: the one type data/ and losses/ share."""

from typing import NamedTuple

from torch import Tensor


class Batch(NamedTuple):
    """A batch of real data on the training device."""

    x: Tensor  # (B, C, H, W) images in [-1, 1], drawn from the whole training set
    y: Tensor | None = None  # (B,) labels of x, only when every training image is labelled
    x_lab: Tensor | None = None  # (L, C, H, W) a batch of the labelled images (all of them, or a subset)
    y_lab: Tensor | None = None  # (L,) their labels; None when training is unsupervised
    source: Tensor | None = None  # (B, C_s, H, W) paired data: the images that G translates into x
    x_b: Tensor | None = None  # (B, C_b, H_b, W_b) unpaired data: a batch of domain B, drawn apart from x (domain A)
