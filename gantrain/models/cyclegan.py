"""CycleGAN: Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (ICCV 2017).

G is the residual network of Johnson et al. (2016), in the paper's notation (appendix 7.2)
    c7s1-w, d2w, d4w, R4w x blocks, u2w, uw, c7s1-out
a 7x7 convolution, two stride-2 3x3 convolutions down to a quarter of the side, `blocks` residual
blocks there (6 below 256 pixels, 9 from 256), two stride-2 transposed convolutions back up and a
7x7 convolution to the output, tanh. The 7x7 and residual convolutions pad by reflection, which
keeps the borders free of the artefacts zero padding leaves.

D is the 70x70 PatchGAN of Pix2Pix judging one image alone (there is no source to pair it with),
with instance norm: patchgan_layers() of models/pix2pix.py.

Instance norm here has neither learned scale and shift nor running statistics: every image is
normalised by its own statistics, at training and at test time alike. Weights are drawn from
N(0, 0.02), as in the paper.
"""

from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.models.base import Network, Representation, activations
from gantrain.models.layers import check_norm, check_switch, init_dcgan_weights, norm_2d, spectrally_normalised
from gantrain.models.pix2pix import patch_size_layers, patchgan_layers, patchgan_output_size


def _whole(key: str, value: object, minimum: int, fix: str) -> int:
    """`value` as an int, or a one-line ConfigError naming `key` when it is not a whole number >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key}={value!r} must be a whole number of at least {minimum}; {fix}")
    return int(value)


def default_blocks(image_size: int) -> int:
    """The paper's depth: 6 residual blocks for 128x128 training images, 9 for 256x256 and larger."""
    return 9 if image_size >= 256 else 6


class ResidualBlock(nn.Module):
    """x (B, C, s, s) -> x + F(x), F two reflection-padded 3x3 convolutions with norm (ReLU between)."""

    def __init__(self, channels: int, norm: str, dropout: float = 0.0) -> None:
        super().__init__()
        # no bias before a norm: its mean subtraction cancels it
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            norm_2d(norm, channels),
            nn.ReLU(),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False), norm_2d(norm, channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)  # no ReLU after the sum: the identity path stays linear


class ResNetGenerator(Network):
    """image (B, in_channels, S, S) in [-1, 1] -> translated image (B, out_channels, S, S) in [-1, 1]."""

    def __init__(
        self,
        *,
        image_size: int,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 64,
        blocks: int | None = None,
        norm: str = "instance",
        dropout: float = 0.0,
        name: str = "model.generator",
    ) -> None:
        """`name`: the config key of this generator, the prefix of the keys named in errors."""
        super().__init__()
        S = image_size
        if isinstance(S, bool) or not isinstance(S, int) or S % 4 != 0:
            raise ConfigError(
                f"{name}.image_size={S!r}: the ResNet generator halves the image twice, so it must be a "
                "multiple of 4 (e.g. 32, 128, 256); set data.image_size"
            )
        if S < 8:  # the residual blocks' reflection padding needs at least 2x2 pixels at S / 4
            raise ConfigError(
                f"{name}.image_size={S}: the ResNet generator's residual blocks work at a quarter of the "
                "image side and need at least 2x2 pixels there, so it must be at least 8; set data.image_size"
            )
        c_in = _whole(f"{name}.in_channels", in_channels, 1, "set it to the images' channels (3 RGB, 1 grey)")
        c_out = _whole(f"{name}.out_channels", out_channels, 1, "set it to the images' channels (3 RGB, 1 grey)")
        w = _whole(f"{name}.width", width, 1, "the paper's is 64")
        if blocks is None:
            blocks = default_blocks(S)
        n_blocks = _whole(f"{name}.blocks", blocks, 0, "the paper uses 6 below 256 pixels and 9 from 256 (null picks)")
        norm = check_norm(f"{name}.norm", norm)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"{name}.dropout={dropout!r} must be a probability in [0, 1); 0 turns it off (the paper's)")
        self.image_size, self.blocks, self.norm = S, n_blocks, norm

        # convolutions followed by a norm carry no bias: the norm's mean subtraction cancels it
        self.stem = nn.Sequential(  # c7s1-w: (B, c_in, S, S) -> (B, w, S, S)
            nn.ReflectionPad2d(3),
            nn.Conv2d(c_in, w, 7, bias=False),
            norm_2d(norm, w),
            nn.ReLU(),
        )
        self.down = nn.Sequential(  # d2w, d4w: (B, w, S, S) -> (B, 4w, S/4, S/4)
            nn.Conv2d(w, 2 * w, 3, 2, 1, bias=False),
            norm_2d(norm, 2 * w),
            nn.ReLU(),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1, bias=False),
            norm_2d(norm, 4 * w),
            nn.ReLU(),
        )
        # R4w x blocks: (B, 4w, S/4, S/4), side and channels unchanged
        self.residual = nn.Sequential(*[ResidualBlock(4 * w, norm, float(dropout)) for _ in range(n_blocks)])
        self.up = nn.Sequential(  # u2w, uw: (B, 4w, S/4, S/4) -> (B, w, S, S); output_padding=1 makes each exactly 2x
            nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1, bias=False),
            norm_2d(norm, 2 * w),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1, bias=False),
            norm_2d(norm, w),
            nn.ReLU(),
        )
        self.head = nn.Sequential(  # c7s1-out: (B, w, S, S) -> (B, c_out, S, S) in [-1, 1]
            nn.ReflectionPad2d(3),
            nn.Conv2d(w, c_out, 7),
            nn.Tanh(),
        )
        self.apply(init_dcgan_weights)

    def describe(self) -> str:
        """For the start-up log: depth, image size and norm."""
        plural = "" if self.blocks == 1 else "s"
        S = self.image_size
        return f"ResNet generator, {self.blocks} residual block{plural}, {S}x{S}, {self.norm} norm"

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.up(self.residual(self.down(self.stem(x)))))


class PatchDiscriminator(Network, Representation):
    """image (B, channels, S, S) -> real/fake logits (B, N, N), one per patch of `patch_size` pixels."""

    def __init__(
        self,
        *,
        image_size: int,
        channels: int = 3,
        patch_size: int = 70,
        width: int = 64,
        norm: str = "instance",
        name: str = "model.discriminator",
        spectral_norm: bool = False,
    ) -> None:
        """`name`: the config key of this discriminator, the prefix of the keys named in errors. The
        patch size is checked as Pix2Pix's is, and named `model.patch_size` as there."""
        super().__init__()
        c = _whole(f"{name}.channels", channels, 1, "set it to the images' channels (3 RGB, 1 grey)")
        w = _whole(f"{name}.width", width, 1, "the paper's is 64")
        norm = check_norm(f"{name}.norm", norm)
        n = patch_size_layers(int(patch_size), int(image_size))
        self.patch_size, self.image_size, self.norm = int(patch_size), int(image_size), norm
        self.net = nn.Sequential(*patchgan_layers(c, n, w, norm=norm))
        self.apply(init_dcgan_weights)
        if check_switch(f"{name}.spectral_norm", spectral_norm):
            spectrally_normalised(self)

    @property
    def output_size(self) -> int:
        return patchgan_output_size(self.image_size, self.patch_size)

    def describe(self) -> str:
        """For the start-up log: the receptive field, the grid of decisions and the norm."""
        p, n = self.patch_size, self.output_size
        return f"PatchGAN {p}x{p} receptive field, {n}x{n} real/fake decisions per image, {self.norm} norm"

    def layer_features(self, images: Tensor) -> list[Tensor]:
        return activations(self.net, images)  # each conv block's output, the logits' layer left out

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image).squeeze(1)  # (B, 1, N, N) -> (B, N, N)
