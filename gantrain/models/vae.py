"""The variational autoencoder of Kingma & Welling, "Auto-Encoding Variational Bayes" (ICLR 2014),
and with loss.beta > 1 the beta-VAE of Higgins et al. (ICLR 2017): a baseline to set GANs against.

The run's networks are `encoder` (model.encoder) and `decoder` (model.decoder); the objective
(loss=elbo) names the decoder as the run's generator, so sampling, grids and task=eval treat it like
any GAN's G. Both are MLPs with ReLU hidden layers.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gantrain.models.base import Network
from gantrain.models.gan import _check_sizes


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class VAEEncoder(Network):
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


class VAEDecoder(Network):
    """p(x|z): a Bernoulli per pixel (Kingma & Welling's MNIST likelihood) with probability sigmoid(logits).

    `forward(z, logits=True)` gives the logits (B, C, S, S) the loss needs; `forward(z)` the mean image on
    gantrain's [-1, 1] scale, 2 sigmoid(logits) - 1 = tanh(logits / 2), so the decoder draws like a GAN
    generator. Both go through forward(): a data-parallel wrapper averages gradients only of what it ran."""

    def __init__(self, z_dim: int, image_size: int, channels: int, hidden: Sequence[int] = (500,)) -> None:
        super().__init__()
        sizes = _check_sizes("model.decoder.hidden", hidden)
        self.z_dim, self.image_size, self.channels = int(z_dim), int(image_size), int(channels)
        self.net = nn.Sequential(_mlp([self.z_dim, *sizes]), nn.Linear(sizes[-1], channels * image_size * image_size))

    def logits(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, self.channels, self.image_size, self.image_size)

    def forward(self, z: Tensor, logits: bool = False) -> Tensor:
        out = self.logits(z)
        return out if logits else torch.tanh(out / 2)
