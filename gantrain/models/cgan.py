"""The conditional GAN of Mirza & Osindero, "Conditional Generative Adversarial Nets" (2014).

Both networks see the label y: as a one-hot vector concatenated with z for G, and with the flattened
image for D (the MLP form of the paper's MNIST experiment). Fakes are made for labels drawn uniformly;
D judges (image, label) pairs, so G must make the digit it was asked for.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gantrain.errors import ConfigError
from gantrain.models.gan import MLPDiscriminator, MLPGenerator


def _classes(num_classes: int) -> int:
    if int(num_classes) < 2:
        raise ConfigError(f"model.num_classes must be at least 2 (got {num_classes})")
    return int(num_classes)


class ConditionalMLPGenerator(MLPGenerator):
    """(z (B, z_dim), y (B,)) -> image (B, C, H, W)."""

    conditional = True

    def __init__(
        self,
        *,
        z_dim: int,
        image_size: int,
        channels: int,
        num_classes: int,
        hidden: Sequence[int] = (1200, 1200),
        batch_norm: bool = False,
    ) -> None:
        self.num_classes = _classes(num_classes)
        super().__init__(z_dim=z_dim + self.num_classes, image_size=image_size, channels=channels, hidden=hidden, batch_norm=batch_norm)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], dim=1))


class ConditionalMLPDiscriminator(MLPDiscriminator):
    """(image (B, C, H, W), y (B,)) -> logit (B,) that the pair is real."""

    conditional = True

    def __init__(
        self,
        *,
        image_size: int,
        channels: int,
        num_classes: int,
        hidden: Sequence[int] = (240, 240),
        pieces: int = 5,
        dropout: float = 0.5,
    ) -> None:
        classes = _classes(num_classes)
        super().__init__(image_size=image_size, channels=channels, hidden=hidden, pieces=pieces, dropout=dropout, extra_inputs=classes)
        self.label_classes = classes  # num_classes stays None: D's output is one real/fake logit

    def forward(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        joint = torch.cat([x.flatten(1), F.one_hot(y, self.label_classes).to(x.dtype)], dim=1)  # (B, C*H*W + K)
        return self.head(self.features(joint)).squeeze(1)

