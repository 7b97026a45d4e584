"""DCGAN: Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks" (ICLR 2016).

The paper's architecture guidelines, all followed here:
  1. strided convolutions (D) and fractionally-strided convolutions (G) instead of pooling;
  2. batch norm in both nets, except G's output layer and D's input layer;
  3. no fully connected hidden layers (G's projection of z is a 1x1 -> base x base transposed conv);
  4. ReLU in G with a tanh output;  5. LeakyReLU(0.2) in D.
Weights are drawn from N(0, 0.02), batch-norm scales from N(1, 0.02).

One class serves every image size of the form base * 2**n with base in 4..7 (28 = 7*4, 32 = 4*8,
64 = 4*16, 128 = 4*32, 96 = 6*16): the number of stride-2 layers n is derived from the size.
"""

from collections.abc import Callable

from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.models.base import Network, Representation, activations
from gantrain.models.gan import head_outputs
from gantrain.models.layers import check_norm, check_switch, init_dcgan_weights, norm_2d, spectrally_normalised


def dcgan_layout(image_size: int) -> tuple[int, int]:
    """Return (base, n): the smallest feature map's side and the number of stride-2 layers.

    image_size = base * 2**n with 4 <= base <= 7 and n >= 1.
    """
    size, n = int(image_size), 0
    while size > 7 and size % 2 == 0:
        size, n = size // 2, n + 1
    if not (4 <= size <= 7) or n < 1:
        raise ConfigError(
            f"DCGAN cannot build image_size={image_size}: it must be base*2^n with base 4..7 and n>=1 "
            "(e.g. 28, 32, 48, 64, 96, 128); set data.image_size to one of these"
        )
    return size, n


def _check_width(width: int) -> int:
    if int(width) < 1:
        raise ConfigError(f"model width must be at least 1 (got {width})")
    return int(width)


def _channels(width: int, max_channels: int | None) -> "Callable[[int], int]":
    """Layer k's channels: width * 2**k, capped at max_channels (ProGAN caps its layers at 512, so that a
    network for large images does not double its widths into the thousands); None: no cap."""
    if max_channels is not None and (isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1):
        raise ConfigError(f"max_channels must be an integer >= 1, or null for no cap (got {max_channels!r})")
    return lambda k: width * 2**k if max_channels is None else min(width * 2**k, max_channels)


class DCGANGenerator(Network):
    """z (B, z_dim) -> image (B, channels, image_size, image_size) in [-1, 1].

    Channels halve as the side doubles: width * 2**(n-1) at base x base, ..., width at image_size / 2.
    """

    def __init__(
        self, *, z_dim: int = 100, image_size: int = 64, channels: int = 3, width: int = 64, max_channels: int | None = None
    ) -> None:
        super().__init__()
        base, n = dcgan_layout(image_size)
        ch = _channels(_check_width(width), max_channels)
        layers: list[nn.Module] = [  # project: (B, z_dim, 1, 1) -> (B, ch(n-1), base, base)
            nn.ConvTranspose2d(z_dim, ch(n - 1), base, 1, 0, bias=False),
            nn.BatchNorm2d(ch(n - 1)),
            nn.ReLU(inplace=True),
        ]
        for k in range(n - 1, 0, -1):  # (B, ch(k), s, s) -> (B, ch(k-1), 2s, 2s)
            layers += [nn.ConvTranspose2d(ch(k), ch(k - 1), 4, 2, 1, bias=False), nn.BatchNorm2d(ch(k - 1)), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(ch(0), channels, 4, 2, 1, bias=False), nn.Tanh()]  # no BN on the output
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim
        self.apply(init_dcgan_weights)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))


class DCGANDiscriminator(Network, Representation):
    """image (B, channels, image_size, image_size) -> logit (B,). The mirror image of the generator.

    With num_classes it outputs class logits (B, K), or (B, K+1) with a learned fake class: the
    convolutional discriminator of the semi-supervised and categorical GANs."""

    def __init__(
        self,
        *,
        image_size: int = 64,
        channels: int = 3,
        width: int = 64,
        num_classes: int | None = None,
        fake_class: bool = False,
        max_channels: int | None = None,
        norm: str = "batch",
        spectral_norm: bool = False,
    ) -> None:
        """norm: batch (DCGAN's) | layer | none, after every convolution but the first; spectral_norm:
        Miyato et al.'s normalisation of every weight (their SN-DCGAN has no batch norm: norm=none)."""
        super().__init__()
        self.num_classes, self.fake_class = num_classes, bool(fake_class)
        outputs = head_outputs(num_classes, fake_class)
        base, n = dcgan_layout(image_size)
        ch = _channels(_check_width(width), max_channels)
        norm = check_norm("model.discriminator.norm", norm)
        if norm == "instance":
            raise ConfigError("model.discriminator.norm=instance is CycleGAN's; DCGAN's D takes batch, layer or none")
        layers: list[nn.Module] = [nn.Conv2d(channels, ch(0), 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]  # no BN on the input
        for k in range(n - 1):  # (B, ch(k), s, s) -> (B, ch(k+1), s/2, s/2)
            layers += [nn.Conv2d(ch(k), ch(k + 1), 4, 2, 1, bias=norm == "none"), norm_2d(norm, ch(k + 1)), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)  # (B, ch(n-1), base, base)
        self.head = nn.Conv2d(ch(n - 1), outputs, base, 1, 0, bias=False)  # (B, outputs, 1, 1)
        self.apply(init_dcgan_weights)
        if check_switch("model.discriminator.spectral_norm", spectral_norm):
            spectrally_normalised(self)

    def layer_features(self, images: Tensor) -> list[Tensor]:
        return activations(self.features, images)  # (B, ch(k), S/2^(k+1), S/2^(k+1)) for each layer k

    def forward(self, x: Tensor) -> Tensor:
        out = self.head(self.features(x)).flatten(1)  # (B, outputs)
        return out.squeeze(1) if self.num_classes is None else out
