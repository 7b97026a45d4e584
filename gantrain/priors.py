"""The latent prior p(z) that the generator maps to images."""

import torch
from torch import Tensor

from gantrain.errors import ConfigError

DISTRIBUTIONS = ("normal", "uniform")


class LatentPrior:
    """z ~ N(0, I) (DCGAN) or z ~ U(-1, 1) per coordinate (Goodfellow et al. 2014)."""

    def __init__(self, dim: int, dist: str = "normal") -> None:
        if int(dim) < 1:
            raise ConfigError(f"model.z_dim must be at least 1 (got {dim})")
        if dist not in DISTRIBUTIONS:
            raise ConfigError(f"model.z_dist must be one of {', '.join(DISTRIBUTIONS)} (got '{dist}')")
        self.dim = int(dim)
        self.dist = dist

    def sample(self, n: int, *, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        """Draw n latent vectors, shape (n, dim). The generator lives on the CPU so runs are reproducible."""
        if self.dist == "normal":
            z = torch.randn(n, self.dim, generator=generator)
        else:
            z = torch.rand(n, self.dim, generator=generator) * 2 - 1
        return z.to(device, non_blocking=True)
