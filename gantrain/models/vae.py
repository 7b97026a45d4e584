"""The variational autoencoder of Kingma & Welling, "Auto-Encoding Variational Bayes" (ICLR 2014),
and with loss.beta > 1 the beta-VAE of Higgins et al. (ICLR 2017): a baseline to set GANs against.

In gantrain's two-network frame the decoder p(x|z) is G, so sampling, grids and task=eval treat it like
any generator, and the encoder q(z|x) stands where D stands. Both are MLPs with ReLU hidden layers.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gantrain.models.gan import _check_sizes


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class VAEEncoder(nn.Module):
    """q(z|x) = N(mu(x), diag(exp(logvar(x)))): image (B, C, S, S) in [-1, 1] -> (mu, logvar), each (B, z_dim)."""

    def __init__(self, image_size: int, channels: int, z_dim: int, hidden: Sequence[int] = (500,)) -> None:
        super().__init__()
        sizes = _check_sizes("model.encoder.hidden", hidden)
        self.z_dim = int(z_dim)
        self.trunk = nn.Sequential(nn.Flatten(), _mlp([channels * image_size * image_size, *sizes]))
        self.mu = nn.Linear(sizes[-1], self.z_dim)
        self.logvar = nn.Linear(sizes[-1], self.z_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.trunk(x)
        return self.mu(h), self.logvar(h)


class VAEDecoder(nn.Module):
    """p(x|z): a Bernoulli per pixel (Kingma & Welling's MNIST likelihood) with probability sigmoid(logits).

    `logits(z)` (B, C, S, S) is what the loss needs; `forward(z)` is the mean image on gantrain's
    [-1, 1] scale, 2 sigmoid(logits) - 1 = tanh(logits / 2), so the decoder draws like a GAN generator."""

    def __init__(self, z_dim: int, image_size: int, channels: int, hidden: Sequence[int] = (500,)) -> None:
        super().__init__()
        sizes = _check_sizes("model.decoder.hidden", hidden)
        self.z_dim, self.image_size, self.channels = int(z_dim), int(image_size), int(channels)
        self.net = nn.Sequential(_mlp([self.z_dim, *sizes]), nn.Linear(sizes[-1], channels * image_size * image_size))

    def logits(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, self.channels, self.image_size, self.image_size)

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(self.logits(z) / 2)
