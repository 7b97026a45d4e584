"""Pix2Pix: Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
Networks" (CVPR 2017).

G is a U-Net: an encoder of 4x4 stride-2 convolutions (LeakyReLU 0.2) that halves the image down to
1x1, a mirrored decoder of 4x4 stride-2 transposed convolutions (ReLU, dropout 0.5 in its first three
layers, the paper's only source of noise) and skip connections that concatenate encoder layer i with
decoder layer n-i. `skips=False` is the paper's encoder-decoder ablation.

D is a PatchGAN: a stack of 4x4 convolutions that classifies each patch of the image as real or fake.
The patch -- the receptive field of one output -- is the setting: 1 (PixelGAN, 1x1 convolutions),
16, 34, 70 (the paper's default), 142, 286 (an ImageGAN at 256x256). patch_size_layers() derives the
number of stride-2 layers from it. D sees the input and the output stacked on the channel axis
(conditional) or the output alone.

Batch norm with a batch of one normalises each image by its own statistics: instance norm, as the
paper trains. Weights are drawn from N(0, 0.02), as in the paper. patchgan_layers() builds the stack
with either norm; CycleGAN's discriminator (models/cyclegan.py) is the same stack with instance norm.
"""

import torch
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.models.base import Network, Representation, activations
from gantrain.models.layers import check_norm, check_switch, init_dcgan_weights, norm_2d, spectrally_normalised

MAX_STRIDED = 8  # PatchGANs up to 8 stride-2 layers (receptive field 4606) are offered


def patchgan_receptive_field(n_strided: int) -> int:
    """Receptive field of the PatchGAN with n stride-2 4x4 layers followed by two stride-1 4x4 layers.

    Walking back from one output: the two stride-1 layers see 4 + 3 = 7 pixels, and each stride-2
    layer maps r to 2r + 2 -- 16, 34, 70, 142, 286 for n = 1..5."""
    r = 7
    for _ in range(n_strided):
        r = 2 * r + 2
    return r


def valid_patch_sizes(image_size: int | None = None) -> list[int]:
    """The receptive fields a PatchGAN can have; with image_size, those whose output grid is >= 1x1."""
    sizes = [1] + [patchgan_receptive_field(n) for n in range(1, MAX_STRIDED + 1)]
    if image_size is None:
        return sizes
    return [p for p in sizes if patchgan_output_size(image_size, p) >= 1]


def patch_size_layers(patch_size: int, image_size: int | None = None) -> int:
    """The number of stride-2 layers that gives receptive field `patch_size` (0 for the 1x1 PixelGAN)."""
    offered = valid_patch_sizes(image_size)
    if patch_size not in offered:
        where = f" at image size {image_size}" if image_size is not None else ""
        raise ConfigError(
            f"model.patch_size={patch_size} is not a receptive field a PatchGAN can have{where}; "
            f"choose one of {', '.join(map(str, offered))}"
        )
    return 0 if patch_size == 1 else [patchgan_receptive_field(n) for n in range(MAX_STRIDED + 1)].index(patch_size)


def patchgan_output_size(image_size: int, patch_size: int) -> int:
    """The side of D's grid of real/fake decisions (30 for patch 70 at 256)."""
    if patch_size == 1:
        return image_size
    n = [patchgan_receptive_field(k) for k in range(MAX_STRIDED + 1)].index(patch_size)
    side = image_size
    for _ in range(n):
        side = (side + 2 - 4) // 2 + 1  # 4x4, stride 2, padding 1
    return side - 2  # two 4x4 stride-1 layers with padding 1 each take 1 off


def patchgan_layers(channels: int, n_strided: int, width: int, norm: str = "batch") -> list[nn.Module]:
    """The PatchGAN's layers: image (B, channels, S, S) -> logits (B, 1, N, N).

    n_strided = patch_size_layers(patch_size); 0 gives the PixelGAN of 1x1 convolutions. A
    convolution followed by a norm has no bias: the norm's mean subtraction would cancel it."""
    if n_strided == 0:  # PixelGAN: 1x1 convolutions, each pixel judged on its own
        return [
            nn.Conv2d(channels, width, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 1, bias=norm == "none"),
            norm_2d(norm, 2 * width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 1),
        ]
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]  # no norm on the input layer
    c_prev = width
    for i in range(1, n_strided + 1):  # n-1 more stride-2 layers, then one stride-1 layer
        c_next = width * min(2**i, 8)
        stride = 2 if i < n_strided else 1
        layers += [nn.Conv2d(c_prev, c_next, 4, stride, 1, bias=norm == "none"), norm_2d(norm, c_next), nn.LeakyReLU(0.2)]
        c_prev = c_next
    layers.append(nn.Conv2d(c_prev, 1, 4, 1, 1))  # one logit per patch
    return layers


def unet_depth(image_size: int) -> int:
    """The number of stride-2 layers that halve image_size down to 1x1 (8 at 256)."""
    size, depth = int(image_size), 0
    while size > 1 and size % 2 == 0:
        size, depth = size // 2, depth + 1
    if size != 1 or depth < 2:
        raise ConfigError(
            f"the U-Net halves the image down to 1x1, so data.image_size must be a power of 2 of at least 4 "
            f"(got {image_size}); e.g. 32, 64, 128, 256"
        )
    return depth


def _channels(width: int, level: int) -> int:
    """Encoder level i (0-based) has width * 2**i channels, capped at 8 * width (64..512 in the paper)."""
    return width * min(2**level, 8)


class UNetGenerator(Network):
    """source image (B, in_channels, S, S) -> translated image (B, out_channels, S, S) in [-1, 1]."""

    def __init__(
        self,
        *,
        image_size: int = 256,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 64,
        skips: bool = True,
        dropout: float = 0.5,
        dropout_layers: int = 3,
    ) -> None:
        super().__init__()
        if int(width) < 1:
            raise ConfigError(f"model.generator.width must be at least 1 (got {width})")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"model.generator.dropout must be in [0, 1) (got {dropout})")
        self.depth, self.skips = unet_depth(image_size), bool(skips)
        d = self.depth
        self.down = nn.ModuleList()
        for i in range(d):  # encoder: S -> S/2 -> ... -> 1; no batch norm on the first and last layers
            c_in = in_channels if i == 0 else _channels(width, i - 1)
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(c_in, _channels(width, i), 4, 2, 1, bias=i in (0, d - 1)))
            if 0 < i < d - 1:
                layers.append(nn.BatchNorm2d(_channels(width, i)))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for j in range(d):  # decoder layer j mirrors encoder layer d-1-j: 1 -> 2 -> ... -> S
            level = d - 1 - j
            c_in = _channels(width, level) * (2 if self.skips and j > 0 else 1)
            if j == d - 1:
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()))
                continue
            c_out = _channels(width, level - 1)
            layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out)]
            if j < dropout_layers and dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            self.up.append(nn.Sequential(*layers))
        self.apply(init_dcgan_weights)

    def forward(self, source: Tensor) -> Tensor:
        skips: list[Tensor] = []
        h = source
        for layer in self.down:
            h = layer(h)
            skips.append(h)  # (B, c_i, S / 2**(i+1), S / 2**(i+1))
        for j, layer in enumerate(self.up):
            if j > 0 and self.skips:
                h = torch.cat([h, skips[self.depth - 1 - j]], dim=1)  # mirrored encoder layer, same side
            h = layer(h)
        return h


class PatchGANDiscriminator(Network, Representation):
    """(source (B, in_channels, S, S), image (B, out_channels, S, S)) -> real/fake logits (B, N, N),
    one per patch of `patch_size` pixels; with conditional=False the source is ignored."""

    def __init__(
        self,
        *,
        image_size: int = 256,
        in_channels: int = 3,
        out_channels: int = 3,
        patch_size: int = 70,
        width: int = 64,
        conditional: bool = True,
        norm: str = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        if int(width) < 1:
            raise ConfigError(f"model.discriminator.width must be at least 1 (got {width})")
        n = patch_size_layers(int(patch_size), int(image_size))
        self.patch_size, self.image_size = int(patch_size), int(image_size)
        self.with_source = bool(conditional)  # (named apart from a label-conditional net's `conditional`)
        self.in_channels = int(in_channels)
        c = out_channels + (in_channels if self.with_source else 0)
        self.net = nn.Sequential(*patchgan_layers(c, n, width, norm=check_norm("model.discriminator.norm", norm)))
        self.apply(init_dcgan_weights)
        if check_switch("model.discriminator.spectral_norm", spectral_norm):
            spectrally_normalised(self)

    @property
    def output_size(self) -> int:
        return patchgan_output_size(self.image_size, self.patch_size)

    def describe(self) -> str:
        """For the start-up log: the receptive field and the grid of decisions."""
        n = self.output_size
        return f"PatchGAN {self.patch_size}x{self.patch_size} receptive field, {n}x{n} real/fake decisions per image"

    def layer_features(self, images: Tensor) -> list[Tensor]:
        """The layers of D judging `images` alone: a conditional D's source channels read zeros."""
        if self.with_source:
            b, _, h, w = images.shape
            images = torch.cat([images.new_zeros(b, self.in_channels, h, w), images], dim=1)
        return activations(self.net, images)

    def forward(self, source: Tensor, image: Tensor) -> Tensor:
        x = torch.cat([source, image], dim=1) if self.with_source else image
        return self.net(x).squeeze(1)  # (B, N, N)
