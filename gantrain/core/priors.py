"""The latent prior p(z) (and, for conditional models, the class labels) that the generator maps to images."""

from typing import NamedTuple

import torch
from torch import Tensor

from gantrain.core.errors import ConfigError

DISTRIBUTIONS = ("normal", "uniform")


class Latent(NamedTuple):
    """What G is fed: z (B, z_dim), and for a conditional G the labels y (B,) of the images to make."""

    z: Tensor
    y: Tensor | None = None


class LatentPrior:
    """z ~ N(0, I) (DCGAN) or z ~ U(-1, 1) per coordinate (Goodfellow et al. 2014); with num_classes,
    labels y ~ uniform over the classes (a conditional GAN's fakes, Mirza & Osindero 2014)."""

    def __init__(self, dim: int, dist: str = "normal", num_classes: int | None = None) -> None:
        if int(dim) < 1:
            raise ConfigError(f"model.z_dim must be at least 1 (got {dim})")
        if dist not in DISTRIBUTIONS:
            raise ConfigError(f"model.z_dist must be one of {', '.join(DISTRIBUTIONS)} (got '{dist}')")
        self.dim, self.dist, self.num_classes = int(dim), dist, num_classes

    def sample(self, n: int, *, device: torch.device, generator: torch.Generator | None = None) -> Latent:
        """Draw n latents. The generator lives on the CPU, so runs are reproducible on any device."""
        if self.dist == "normal":
            z = torch.randn(n, self.dim, generator=generator)
        else:
            z = torch.rand(n, self.dim, generator=generator) * 2 - 1
        y = None if self.num_classes is None else torch.randint(self.num_classes, (n,), generator=generator)
        return Latent(z.to(device, non_blocking=True), None if y is None else y.to(device, non_blocking=True))

    def grid(self, n: int, *, device: torch.device, generator: torch.Generator) -> tuple[Latent, int]:
        """A fixed latent for sample grids and the grid's row length. A conditional model gets one row
        per class (the same z along each column), so each row shows one class."""
        if self.num_classes is None:
            return self.sample(n, device=device, generator=generator), max(1, int(n**0.5))
        per_class = max(1, n // self.num_classes)
        z = self.sample(per_class, device=device, generator=generator).z.repeat(self.num_classes, 1)
        y = torch.arange(self.num_classes, device=device).repeat_interleave(per_class)
        return Latent(z, y), per_class
