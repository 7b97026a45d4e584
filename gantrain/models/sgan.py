"""The semi-supervised GAN's discriminator: a K-class classifier that also tells real from fake.

Odena, "Semi-Supervised Learning with Generative Adversarial Networks" (2016) adds a (K+1)-th "fake"
class; Salimans et al., "Improved Techniques for Training GANs" (NeurIPS 2016) fix the fake logit at 0
and use K outputs (`fake_class=false`, their choice and the default). Their MNIST discriminator, built
here: an MLP of 1000-500-250-250-250 ReLU units with weight normalisation and Gaussian noise added to
the input (sd 0.3) and to each hidden layer's output (sd 0.5), in training only.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm as apply_weight_norm

from gantrain.errors import ConfigError
from gantrain.models.gan import _check_sizes, head_outputs


class GaussianNoise(nn.Module):
    """x + N(0, sd^2) while training; the identity in eval mode."""

    def __init__(self, sd: float) -> None:
        super().__init__()
        if sd < 0:
            raise ConfigError(f"noise sd must be >= 0 (got {sd})")
        self.sd = float(sd)

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.randn_like(x) * self.sd if self.training and self.sd > 0 else x


class SemiSupervisedMLPDiscriminator(nn.Module):
    """image (B, C, H, W) -> class logits (B, K), or (B, K+1) with a learned fake class."""

    def __init__(
        self,
        *,
        image_size: int,
        channels: int,
        num_classes: int = 10,
        hidden: Sequence[int] = (1000, 500, 250, 250, 250),
        input_noise: float = 0.3,
        hidden_noise: float = 0.5,
        weight_norm: bool = True,
        fake_class: bool = False,
    ) -> None:
        super().__init__()
        hidden = _check_sizes("model.discriminator.hidden", hidden)
        self.num_classes, self.fake_class = int(num_classes), bool(fake_class)
        outputs = head_outputs(num_classes, fake_class)

        def linear(n_in: int, n_out: int) -> nn.Module:
            layer = nn.Linear(n_in, n_out)
            return apply_weight_norm(layer) if weight_norm else layer

        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(input_noise)]
        width = channels * image_size * image_size
        for h in hidden:
            layers += [linear(width, h), nn.ReLU(inplace=True), GaussianNoise(hidden_noise)]
            width = h
        self.features = nn.Sequential(*layers)  # (B, hidden[-1]): the layer Salimans et al. match
        self.head = linear(width, outputs)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
