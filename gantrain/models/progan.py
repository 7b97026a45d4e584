"""Progressive growing of GANs (Karras, Aila, Laine & Lehtinen 2018): a generator and a discriminator built
for the final resolution whose layers are used from `start_size` upwards, one resolution at a time, each
new one faded in (gantrain/losses/progan.py holds the schedule and sets the stage).

Both networks keep their stage in buffers, `level` (0: start_size; each level doubles it) and `alpha`
(the new level's weight during its fade-in, rising 0 -> 1 as in tkarras/progressive_growing_of_gans; the
facebookresearch GAN zoo weights the old path instead, falling 1 -> 0): they go into the checkpoint and
into the moving average of G with the weights. G always returns images at the final size, its current
resolution upsampled (nearest neighbour), and D average-pools its input down to the current resolution,
so that the data, the pictures and the evaluations see one size throughout.

The paper's components, each a switch for its ablation: equalised learning rate (weights drawn N(0, 1)
and scaled at run time by He's constant sqrt(2 / fan_in)), pixelwise feature normalisation in G, the
minibatch standard deviation as an extra feature map in D's last block. Channels per resolution
min(2 * fmap_base / resolution, fmap_max): the paper's 512 up to 32 px, halving above, with 8192 and 512.
Where the references differ (docs/notes/progan_references.md), gantrain follows tkarras: the fade's
direction, gain 1 for to_rgb and D's output, G's first layer as a start_size x start_size convolution
(its fan-in), the biased variance in the minibatch standard deviation, unscaled biases.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.models.base import Network, Representation
from gantrain.models.layers import check_switch

SLOPE = 0.2  # leaky ReLU, throughout


def resolutions(start_size: int, image_size: int) -> list[int]:
    """start_size, 2 start_size, ..., image_size; a ConfigError naming the keys when image_size is not start_size * 2^n."""
    if isinstance(start_size, bool) or not isinstance(start_size, int) or start_size < 2:
        raise ConfigError(f"model.start_size must be an integer >= 2, the first resolution (got {start_size!r}); the paper's is 4")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < start_size:
        raise ConfigError(
            f"model.start_size={start_size} is larger than data.image_size={image_size}: lower model.start_size (the paper's 4)"
        )
    out = [start_size]
    while out[-1] < image_size:
        out.append(out[-1] * 2)
    if out[-1] != image_size:
        near = ", ".join(str(start_size * 2**k) for k in range(len(out) - 2, len(out)))
        raise ConfigError(
            f"data.image_size={image_size} is not model.start_size x 2^n (start_size {start_size}: {near}, ...): "
            "progressive growing doubles the resolution at each level; choose one of those or another start_size"
        )
    return out


class EqualizedConv2d(nn.Module):
    """A convolution whose weights are drawn N(0, 1) and multiplied at run time by gain / sqrt(fan_in)
    (equalised learning rate: Adam's per-weight step then moves every layer at the same relative speed).
    equalized=False: a plain convolution initialised N(0, gain^2 / fan_in) (He), for the ablation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, gain: float = math.sqrt(2), equalized: bool = True, padding: int = 0) -> None:
        super().__init__()
        self.scale = gain / math.sqrt(c_in * kernel * kernel) if equalized else 1.0
        self.weight = nn.Parameter(
            torch.randn(c_out, c_in, kernel, kernel) * (1.0 if equalized else gain / math.sqrt(c_in * kernel * kernel))
        )
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """The dense layer of the same kind: (B, c_in) -> (B, c_out)."""

    def __init__(self, c_in: int, c_out: int, *, gain: float = math.sqrt(2), equalized: bool = True, fan_in: int | None = None) -> None:
        super().__init__()
        fan = fan_in or c_in
        self.scale = gain / math.sqrt(fan) if equalized else 1.0
        self.weight = nn.Parameter(torch.randn(c_out, c_in) * (1.0 if equalized else gain / math.sqrt(fan)))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Each pixel's feature vector scaled to unit root mean square over the channels (dim 1)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: Tensor, group_size: int = 4, eps: float = 1e-8) -> Tensor:
    """(B, C, H, W) -> (B, C + 1, H, W): appends, for each image, the mean over C, H, W of the standard
    deviation of each feature across its group of `group_size` images (the biased variance, as tkarras'
    code; groups are strided, image i in group i mod B/G). The whole batch is one group when B is not a
    multiple of group_size."""
    b, c, h, w = x.shape
    g = group_size if b % group_size == 0 and b >= group_size else b
    y = x.float().view(g, b // g, c, h, w)  # (G, M, C, H, W): image m + k*M is in group m
    std = (y.var(dim=0, unbiased=False) + eps).sqrt().mean(dim=(1, 2, 3))  # (M,)
    return torch.cat([x, std.repeat(g).view(b, 1, 1, 1).expand(b, 1, h, w).to(x.dtype)], dim=1)


class Staged(Network):
    """The stage both networks keep: level and alpha, in buffers (checkpoint, moving average)."""

    def _init_stage(self, sizes: list[int]) -> None:
        self.sizes = sizes
        self.register_buffer("level", torch.tensor(len(sizes) - 1))
        self.register_buffer("alpha", torch.tensor(1.0))
        self._known: tuple[Tensor, int, Tensor, int, int, float] | None = None  # see stage()

    def grow_to(self, level: int, alpha: float) -> None:
        """Use the layers up to `level` (0: start_size), the last faded in with weight alpha in [0, 1]."""
        if not 0 <= level < len(self.sizes) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"stage ({level}, {alpha}) outside 0..{len(self.sizes) - 1}, [0, 1]")
        self.level.fill_(level)
        self.alpha.fill_(alpha)
        self._known = (self.level, self.level._version, self.alpha, self.alpha._version, level, float(alpha))

    def stage(self) -> tuple[int, float]:
        """(level, alpha) as Python numbers. Read from the buffers only when they changed otherwise than by
        grow_to (a checkpoint loaded, the moving average's copy, a move to another device): reading a GPU
        tensor waits for the GPU, which every forward pass of a training step must not do."""
        known = self._known
        if (
            known is None
            or known[0] is not self.level
            or known[2] is not self.alpha
            or (known[1], known[3]) != (self.level._version, self.alpha._version)
        ):
            known = (self.level, self.level._version, self.alpha, self.alpha._version, int(self.level), float(self.alpha))
            self._known = known
        return known[4], known[5]

    @property
    def resolution(self) -> int:
        return self.sizes[self.stage()[0]]


def channels_at(resolution: int, fmap_base: int, fmap_max: int) -> int:
    """Feature maps of the blocks at `resolution`: min(2 * fmap_base / resolution, fmap_max), at least 1."""
    return max(1, min(2 * fmap_base // resolution, fmap_max))


class ProGANGenerator(Staged):
    """z (B, z_dim) -> images (B, channels, image_size, image_size), drawn at the current resolution."""

    def __init__(
        self,
        *,
        z_dim: int = 512,
        image_size: int = 32,
        channels: int = 1,
        start_size: int = 4,
        fmap_base: int = 8192,
        fmap_max: int = 512,
        equalized_lr: bool = True,
        pixel_norm: bool = True,
    ) -> None:
        super().__init__()
        sizes = resolutions(start_size, image_size)
        self._init_stage(sizes)
        eq = check_switch("model.generator.equalized_lr", equalized_lr)
        self.use_pixel_norm = check_switch("model.generator.pixel_norm", pixel_norm)
        nf = [channels_at(s, fmap_base, fmap_max) for s in sizes]
        self.z_dim, self.start_size, self.image_size = z_dim, start_size, image_size
        # the first block: z -> (nf0, s, s), a "start_size x start_size convolution" of a 1x1 input (its fan-in z_dim * s^2)
        self.dense = EqualizedLinear(z_dim, nf[0] * start_size * start_size, gain=math.sqrt(2) / start_size, equalized=eq, fan_in=z_dim)
        self.first = EqualizedConv2d(nf[0], nf[0], 3, padding=1, equalized=eq)
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                [EqualizedConv2d(nf[i - 1], nf[i], 3, padding=1, equalized=eq), EqualizedConv2d(nf[i], nf[i], 3, padding=1, equalized=eq)]
            )
            for i in range(1, len(sizes))
        )
        self.to_rgb = nn.ModuleList(EqualizedConv2d(n, channels, 1, gain=1.0, equalized=eq) for n in nf)

    def _act(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(x, SLOPE)
        return pixel_norm(x) if self.use_pixel_norm else x

    def forward(self, z: Tensor) -> Tensor:
        level, alpha = self.stage()
        x = pixel_norm(z) if self.use_pixel_norm else z
        x = self._act(self.dense(x).view(len(z), -1, self.start_size, self.start_size))  # (B, nf0, s, s)
        x = self._act(self.first(x))
        previous = x
        for block in self.blocks[:level]:
            previous = x
            x = F.interpolate(x, scale_factor=2, mode="nearest")  # (B, C, 2r, 2r)
            x = self._act(block[1](self._act(block[0](x))))
        rgb = self.to_rgb[level](x)
        if level > 0 and alpha < 1.0:  # the fade-in: the previous level's picture, upsampled, gives way
            old = F.interpolate(self.to_rgb[level - 1](previous), scale_factor=2, mode="nearest")
            rgb = torch.lerp(old, rgb, alpha)
        factor = self.image_size // self.sizes[level]
        return F.interpolate(rgb, scale_factor=factor, mode="nearest") if factor > 1 else rgb  # linear output, final size


class ProGANDiscriminator(Staged, Representation):
    """images (B, channels, image_size, image_size) -> scores (B,), judged at the current resolution."""

    def __init__(
        self,
        *,
        image_size: int = 32,
        channels: int = 1,
        start_size: int = 4,
        fmap_base: int = 8192,
        fmap_max: int = 512,
        equalized_lr: bool = True,
        minibatch_stddev: bool = True,
        group_size: int = 4,
    ) -> None:
        super().__init__()
        sizes = resolutions(start_size, image_size)
        self._init_stage(sizes)
        eq = check_switch("model.discriminator.equalized_lr", equalized_lr)
        self.use_stddev = check_switch("model.discriminator.minibatch_stddev", minibatch_stddev)
        self.batch_level = self.use_stddev  # each score reads its group's spread (Network.batch_level)
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2:
            raise ConfigError(f"model.discriminator.group_size must be an integer >= 2 (got {group_size!r})")
        self.group_size, self.image_size = group_size, image_size
        nf = [channels_at(s, fmap_base, fmap_max) for s in sizes]
        self.from_rgb = nn.ModuleList(EqualizedConv2d(channels, n, 1, equalized=eq) for n in nf)
        # blocks[i-1] takes level i (resolution sizes[i]) down to level i-1
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                [EqualizedConv2d(nf[i], nf[i], 3, padding=1, equalized=eq), EqualizedConv2d(nf[i], nf[i - 1], 3, padding=1, equalized=eq)]
            )
            for i in range(1, len(sizes))
        )
        extra = 1 if self.use_stddev else 0
        self.last_conv = EqualizedConv2d(nf[0] + extra, nf[0], 3, padding=1, equalized=eq)
        self.last_dense = EqualizedLinear(nf[0] * start_size * start_size, nf[0], equalized=eq)  # the paper's 4x4 conv
        self.out = EqualizedLinear(nf[0], 1, gain=1.0, equalized=eq)
        self.act = nn.LeakyReLU(SLOPE)  # a module, not F.leaky_relu: guided backpropagation hooks it (task=dfilters)

    def forward(self, images: Tensor) -> Tensor:
        return self._judge(images, None)

    def layer_features(self, images: Tensor) -> list[Tensor]:
        """Every convolution's activations at the current stage, but the last one when minibatch stddev is on:
        that layer reads the spread of the whole batch, so an image's features there would not be its own."""
        kept: list[Tensor] = []
        self._judge(images, kept)  # (the score's dense layers run too: a small cost, one code path)
        return kept[:-1] if self.use_stddev else kept

    def _judge(self, images: Tensor, kept: list[Tensor] | None) -> Tensor:
        """The scores; with `kept`, each convolution's activations appended to it, first to last."""
        keep = kept.append if kept is not None else lambda x: None
        level, alpha = self.stage()
        factor = self.image_size // self.sizes[level]
        x_in = F.avg_pool2d(images, factor) if factor > 1 else images  # (B, C, r, r): what G drew at this level
        x = self.act(self.from_rgb[level](x_in))
        keep(x)
        for i in range(level, 0, -1):
            block = self.blocks[i - 1]
            x = self.act(block[0](x))
            keep(x)
            x = self.act(block[1](x))
            keep(x)
            x = F.avg_pool2d(x, 2)
            if i == level and alpha < 1.0:  # the fade-in: the previous level's input path gives way
                old = self.act(self.from_rgb[level - 1](F.avg_pool2d(x_in, 2)))
                x = torch.lerp(old, x, alpha)
        if self.use_stddev:
            x = minibatch_stddev(x, self.group_size)
        x = self.act(self.last_conv(x))
        keep(x)
        x = self.act(self.last_dense(x.flatten(1)))
        return self.out(x).squeeze(1)  # (B,): a linear score (WGAN-GP's critic)
