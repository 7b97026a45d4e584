"""The conditional GAN of Mirza & Osindero, "Conditional Generative Adversarial Nets" (2014).

Both networks see the label y: as a one-hot vector concatenated with z for G, and with the flattened
image for D (the MLP form of the paper's MNIST experiment, `model=cgan`); the convolutional variant
(`model=cdcgan`) feeds D the label as K constant feature maps beside the image. Fakes are made for labels drawn uniformly;
D judges (image, label) pairs, so G must make the digit it was asked for.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.models.dcgan import DCGANDiscriminator, DCGANGenerator
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
        activation: str = "relu",
    ) -> None:
        self.num_classes = _classes(num_classes)
        super().__init__(
            z_dim=z_dim + self.num_classes,
            image_size=image_size,
            channels=channels,
            hidden=hidden,
            batch_norm=batch_norm,
            activation=activation,
        )

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


class ConditionalDCGANGenerator(DCGANGenerator):
    """The convolutional variant: (z (B, z_dim), y (B,)) -> image; [z, one-hot y] is projected to the
    first feature map, so the label shapes the image from the start."""

    conditional = True

    def __init__(self, *, z_dim: int = 100, image_size: int = 64, channels: int = 3, width: int = 64, num_classes: int = 10) -> None:
        self.num_classes = _classes(num_classes)
        super().__init__(z_dim=z_dim + self.num_classes, image_size=image_size, channels=channels, width=width)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], dim=1))


CONDITIONINGS = ("concat", "projection")


def check_conditioning(conditioning: object, allowed: tuple[str, ...] = CONDITIONINGS) -> str:
    if conditioning not in allowed:
        raise ConfigError(f"model.discriminator.conditioning must be one of {', '.join(allowed)} (got {conditioning!r})")
    return str(conditioning)


class ConditionalDCGANDiscriminator(DCGANDiscriminator):
    """The convolutional variant: (image (B, C, H, W), y (B,)) -> logit (B,). conditioning="concat": the
    label enters as K constant feature maps (one-hot, broadcast over H x W) stacked onto the image's
    channels; "projection" (Miyato & Koyama 2018): D(x, y) = psi(phi(x)) + <embed(y), sum_HW phi(x)>, the
    inner product of a learned class embedding with D's last features summed over space."""

    conditional = True

    def __init__(
        self, *, image_size: int = 64, channels: int = 3, width: int = 64, num_classes: int = 10, conditioning: str = "concat"
    ) -> None:
        classes, self.conditioning = _classes(num_classes), check_conditioning(conditioning)
        super().__init__(image_size=image_size, channels=channels + (classes if self.conditioning == "concat" else 0), width=width)
        self.label_classes = classes  # num_classes stays None: D's output is one real/fake logit
        if self.conditioning == "projection":
            self.embed = nn.Embedding(classes, self.head.in_channels)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def layer_features(self, images: Tensor) -> list[Tensor]:
        """D's layers without its label input: the K label maps all zero (none to give with projection)."""
        if self.conditioning == "projection":
            return super().layer_features(images)
        b, _, h, w = images.shape
        return super().layer_features(torch.cat([images, images.new_zeros(b, self.label_classes, h, w)], dim=1))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        if self.conditioning == "projection":
            features = self.features(x)  # (B, C, b, b)
            return self.head(features).flatten(1).squeeze(1) + (self.embed(y) * features.sum(dim=(2, 3))).sum(dim=1)
        b, _, h, w = x.shape
        maps = F.one_hot(y, self.label_classes).to(x.dtype).view(b, -1, 1, 1).expand(b, self.label_classes, h, w)
        return super().forward(torch.cat([x, maps], dim=1))  # (B, C + K, H, W) -> (B,)
