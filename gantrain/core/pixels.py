"""The pixel ranges images pass between: uint8 [0, 255] as stored and as written to files, [-1, 1] as every
network reads and writes them (G's tanh), and [0, 1] as pictures are drawn. One place for the arithmetic,
so that a data set, a metric and a task all map 0 -> -1 and 255 -> 1 the same way."""

import torch
from torch import Tensor


def to_unit_range(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (a new tensor: the input is never changed)."""
    return images.to(torch.float32).div(127.5).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounded to the nearest level, out-of-range values clamped."""
    return images.float().add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def zero_one_to_uint8(images: Tensor) -> Tensor:
    """float [0, 1] -> uint8 [0, 255], as an image file would hold them."""
    return images.float().mul(255).round_().clamp_(0, 255).to(torch.uint8)


def to_zero_one(images: Tensor) -> Tensor:
    """float [-1, 1] -> float [0, 1], clamped: what a picture shows."""
    return images.add(1.0).div_(2.0).clamp_(0.0, 1.0)
