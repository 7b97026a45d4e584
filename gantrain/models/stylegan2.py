"""StyleGAN2's networks (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", config
F scaled by channel_base / channel_max) in plain PyTorch: no compiled extension, no JIT build step, so they
train on any CPU or GPU that torch runs on.

  * Mapping network: z (normalised to unit second moment) -> 8 dense layers (leaky ReLU, learning rate
    x0.01) -> w. A conditional one embeds the class and concatenates it, normalised, to z. The mean of w
    over training (w_avg, beta 0.995) is kept for the truncation trick, w' = w_avg + psi (w - w_avg).
  * Synthesis network: a learned constant 4x4 input, then per resolution two modulated 3x3 convolutions
    (the first upsampling by 2) with per-pixel noise of learned strength, bias and leaky ReLU, and a
    toRGB (a modulated 1x1 convolution without demodulation) whose output is added to the upsampled image
    of the resolution before (the skip-connection G). Each layer takes its own w (style mixing).
  * Discriminator: fromRGB at full resolution, then residual blocks (two 3x3 convolutions, the second after
    a 2x blur-downsampling, beside a 1x1 skip; summed and scaled by 1/sqrt 2) down to 4x4, the minibatch
    standard deviation, a 3x3 convolution and two dense layers to one score.

Every weight has an equalised learning rate (drawn N(0, 1), scaled by 1/sqrt(fan_in) at run time);
activations are leaky ReLU (0.2) times sqrt 2. Resampling uses the [1, 3, 3, 1] binomial filter written as
F.conv2d on a zero-stuffed (up) or padded (down) image: the upfirdn2d of the authors' code with its padding.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.models.base import Network
from gantrain.models.progan import minibatch_stddev

FIR = (1.0, 3.0, 3.0, 1.0)  # the resampling filter of StyleGAN2's config F
LRELU_GAIN = math.sqrt(2)  # keeps the activations' scale through leaky ReLU (bias_act's def_gain)


def check_size(image_size: object, key: str = "data.image_size") -> int:
    """A square side StyleGAN2 can draw: a power of two >= 8 (its 4x4 constant doubled at least once)."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8 or image_size & (image_size - 1):
        near = 8 if not isinstance(image_size, int) or image_size < 8 else 1 << round(math.log2(image_size))
        raise ConfigError(f"model=stylegan2 draws square images of a power-of-two side >= 8, and {key}={image_size!r} is not: use {near}")
    return image_size


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """The feature maps at a resolution: channel_base / resolution, at most channel_max (config F: 32768, 512)."""
    return min(channel_base // resolution, channel_max)


def fir_kernel(taps: tuple[float, ...] = FIR) -> Tensor:
    """The separable 2-d filter of 1-d taps, normalised to sum 1: (k, k)."""
    k = torch.tensor(taps)
    kernel = torch.outer(k, k)
    return kernel / kernel.sum()


def _filter(x: Tensor, kernel: Tensor, pad: tuple[int, int], stride: int = 1) -> Tensor:
    """x (B, C, H, W) padded by pad[0] before and pad[1] after on both axes, convolved channel by channel
    with `kernel` (k, k; symmetric, so correlation and convolution agree), with `stride`."""
    c = x.shape[1]
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    weight = kernel.to(x.dtype).expand(c, 1, *kernel.shape)
    return F.conv2d(x, weight, stride=stride, groups=c)


def upsample2d(x: Tensor, kernel: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, 2H, 2W): zeros inserted after each pixel, then the filter (gain 4, so a flat
    image stays flat), padded as upfirdn2d pads for up=2 with a 4-tap filter: 2 before, 1 after."""
    b, c, h, w = x.shape
    stuffed = x.new_zeros(b, c, 2 * h, 2 * w)
    stuffed[:, :, ::2, ::2] = x
    k = kernel.shape[0]
    return _filter(stuffed, kernel * 4, ((k + 1) // 2, (k - 2) // 2))


def downsample2d(x: Tensor, kernel: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, H/2, W/2): the filter, then every second pixel (upfirdn2d's down=2 padding)."""
    k = kernel.shape[0]
    return _filter(x, kernel, ((k - 1) // 2, (k - 2) // 2), stride=2)


class EqualLinear(nn.Module):
    """A dense layer with an equalised learning rate and a learning-rate multiplier (the mapping network's
    0.01): weights stored as N(0, 1) / lr_mul, used as weight * lr_mul / sqrt(in); bias * lr_mul."""

    def __init__(self, c_in: int, c_out: int, *, bias_init: float = 0.0, lr_mul: float = 1.0, activation: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), float(bias_init) / lr_mul))
        self.weight_gain, self.bias_gain, self.activation = lr_mul / math.sqrt(c_in), lr_mul, activation

    def forward(self, x: Tensor) -> Tensor:
        out = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return F.leaky_relu(out, 0.2) * LRELU_GAIN if self.activation else out


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool = True, eps: float = 1e-8) -> Tensor:
    """StyleGAN2's modulated convolution (its eq. 1-3), as one grouped convolution over the batch.

    x (B, I, H, W), weight (O, I, k, k) already scaled, styles (B, I): each image's weights are
    w'_{oik} = s_i w_{oik}; demodulated, w''_{oik} = w'_{oik} / sqrt(sum_{i,k} w'_{oik}^2 + eps), which
    gives each output feature unit expected variance. 'Same' padding; returns (B, O, H, W)."""
    b, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    modulated = weight[None] * styles[:, None, :, None, None]  # (B, O, I, k, k)
    if demodulate:
        modulated = modulated * torch.rsqrt(modulated.square().sum(dim=(2, 3, 4), keepdim=True) + eps)
    out = F.conv2d(x.reshape(1, b * c_in, h, w), modulated.reshape(b * c_out, c_in, k, k), padding=k // 2, groups=b)
    return out.reshape(b, c_out, h, w)


class SynthesisLayer(nn.Module):
    """A modulated 3x3 convolution (upsampling x2 first when `up`), per-pixel noise of a learned strength,
    bias and leaky ReLU: one style w each."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int, *, up: bool = False) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)  # styles start at 1: the layer starts unmodulated
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))  # noise_mode="const": a fixed draw
        self.register_buffer("kernel", fir_kernel(), persistent=False)
        self.up, self.resolution, self.weight_gain = up, resolution, 1 / math.sqrt(c_in * 9)

    def forward(self, x: Tensor, w: Tensor, noise_mode: str | None = None) -> Tensor:
        """noise_mode: random (drawn per image), const (the layer's fixed draw) or none; None: random in
        training, const otherwise, so that a seed's samples repeat and a walk's frames share their noise."""
        noise_mode = noise_mode or ("random" if self.training else "const")
        if self.up:
            x = upsample2d(x, self.kernel)
        x = modulated_conv2d(x, self.weight * self.weight_gain, self.affine(w))
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
            x = x + noise * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * LRELU_GAIN


class ToRGB(nn.Module):
    """A modulated 1x1 convolution to the image's channels, not demodulated, plus a bias."""

    def __init__(self, c_in: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, c_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.weight_gain = 1 / math.sqrt(c_in)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        # (the authors' code folds weight_gain into the styles; the same product)
        out = modulated_conv2d(x, self.weight * self.weight_gain, self.affine(w), demodulate=False)
        return out + self.bias.view(1, -1, 1, 1)


class MappingNetwork(nn.Module):
    """z (B, z_dim) [and class y (B,)] -> w (B, w_dim), with w's running mean for truncation."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, num_classes: int | None, lr_mul: float, w_avg_beta: float) -> None:
        super().__init__()
        self.embed = EqualLinear(num_classes, w_dim) if num_classes else None
        dims = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.layers = nn.Sequential(*(EqualLinear(a, b, lr_mul=lr_mul, activation=True) for a, b in zip(dims[:-1], dims[1:])))
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.num_classes, self.w_avg_beta = num_classes, w_avg_beta

    def forward(self, z: Tensor, y: Tensor | None = None, psi: float = 1.0) -> Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)  # unit second moment
        if self.embed is not None:
            assert y is not None, "a conditional mapping network is told the class"
            e = self.embed(F.one_hot(y, self.num_classes).to(z.dtype))
            x = torch.cat([x, e * torch.rsqrt(e.square().mean(dim=1, keepdim=True) + 1e-8)], dim=1)
        w = self.layers(x)
        return w if psi == 1 else self.w_avg.to(w.dtype).lerp(w, psi)

    def track(self, w: Tensor) -> None:
        """w_avg moves towards the mean of a batch of w (B, w_dim), by 1 - w_avg_beta."""
        self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))


class StyleGAN2Generator(Network):
    """z -> images (B, channels, S, S) in [-1, 1] (unbounded: no final tanh, as the authors'), with style
    mixing regularisation during training: with probability `style_mixing` an image's styles switch to a
    second z's at a random layer."""

    def __init__(
        self,
        z_dim: int = 512,
        w_dim: int = 512,
        image_size: int = 32,
        channels: int = 1,
        channel_base: int = 32768,
        channel_max: int = 512,
        mapping_layers: int = 8,
        mapping_lr_mul: float = 0.01,
        w_avg_beta: float = 0.995,
        style_mixing: float = 0.9,
        num_classes: int | None = None,
        conditional: bool = False,
    ) -> None:
        super().__init__()
        self.image_size = check_size(image_size)
        if isinstance(style_mixing, bool) or not isinstance(style_mixing, (int, float)) or not 0 <= style_mixing <= 1:
            raise ConfigError(f"model.style_mixing must be a probability in [0, 1] (got {style_mixing!r})")
        self.z_dim, self.w_dim, self.channels, self.style_mixing = z_dim, w_dim, channels, float(style_mixing)
        self.conditional, self.num_classes = conditional, num_classes if conditional else None
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, self.num_classes, mapping_lr_mul, w_avg_beta)
        at = lambda r: channels_at(r, channel_base, channel_max)  # noqa: E731
        self.const = nn.Parameter(torch.randn(at(4), 4, 4))
        self.layers = nn.ModuleList([SynthesisLayer(at(4), at(4), w_dim, 4)])
        self.to_rgb = nn.ModuleList([ToRGB(at(4), channels, w_dim)])
        resolution = 8
        while resolution <= self.image_size:
            c_in, c_out = at(resolution // 2), at(resolution)
            self.layers.append(SynthesisLayer(c_in, c_out, w_dim, resolution, up=True))
            self.layers.append(SynthesisLayer(c_out, c_out, w_dim, resolution))
            self.to_rgb.append(ToRGB(c_out, channels, w_dim))
            resolution *= 2
        self.num_ws = len(self.layers) + 1  # each layer's w, and the last toRGB's (each toRGB takes the next layer's)
        self.register_buffer("kernel", fir_kernel(), persistent=False)

    def synthesis(self, ws: Tensor, noise_mode: str | None = None) -> Tensor:
        """ws (B, num_ws, w_dim): one w per layer -> images (B, channels, S, S)."""
        x = self.const.to(ws.dtype).expand(len(ws), *self.const.shape)
        x = self.layers[0](x, ws[:, 0], noise_mode)
        image = self.to_rgb[0](x, ws[:, 1])
        for block in range(1, len(self.to_rgb)):
            i = 2 * block - 1  # the block's two layers
            x = self.layers[i](x, ws[:, i], noise_mode)
            x = self.layers[i + 1](x, ws[:, i + 1], noise_mode)
            image = upsample2d(image, self.kernel) + self.to_rgb[block](x, ws[:, i + 2])
        return image

    def ws(self, z: Tensor, y: Tensor | None = None, psi: float = 1.0) -> Tensor:
        """z -> each layer's w (B, num_ws, w_dim), mixed with a second z's in training (style_mixing)."""
        w = self.mapping(z, y, psi)
        if self.training and torch.is_grad_enabled():  # G's own step: the mean of w follows what it draws
            self.mapping.track(w)
        ws = w[:, None].expand(-1, self.num_ws, -1)
        if self.training and self.style_mixing > 0:
            b = len(z)
            # (B,): each image's layer from which the second z's w takes over; num_ws: no mixing
            cutoff = torch.randint(1, self.num_ws, (b,), device=z.device)
            cutoff = torch.where(torch.rand(b, device=z.device) < self.style_mixing, cutoff, torch.full_like(cutoff, self.num_ws))
            w2 = self.mapping(torch.randn_like(z), y, psi)
            later = torch.arange(self.num_ws, device=z.device)[None, :] >= cutoff[:, None]  # (B, num_ws)
            ws = torch.where(later[:, :, None], w2[:, None], ws)
        return ws

    def forward(self, z: Tensor, y: Tensor | None = None, psi: float = 1.0, noise_mode: str | None = None) -> Tensor:
        return self.synthesis(self.ws(z, y, psi), noise_mode)


class Truncated(Network):
    """A StyleGAN2 generator drawing with the truncation trick: w' = w_avg + psi (w - w_avg), for the tasks."""

    def __init__(self, G: StyleGAN2Generator, psi: float) -> None:
        super().__init__()
        self.G, self.psi = G, psi
        self.conditional, self.num_classes = G.conditional, G.num_classes

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.G(z, y, psi=self.psi)


class FromW(Network):
    """A StyleGAN2 generator's synthesis network fed one w per image (B, w_dim) at every layer: walks in W."""

    def __init__(self, G: StyleGAN2Generator) -> None:
        super().__init__()
        self.G = G

    def forward(self, w: Tensor) -> Tensor:
        return self.G.synthesis(w[:, None].expand(-1, self.G.num_ws, -1))


class DiscriminatorBlock(nn.Module):
    """Two 3x3 convolutions, the second downsampling (blur padded by 2, then the 3x3 taps at stride 2 on
    the full-resolution grid, as the authors' conv2d_resample(down=2)), beside a downsampled 1x1 skip."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(c_in, c_in, 3)
        self.conv1 = EqualConv2d(c_in, c_out, 3, stride=2, padding=0)
        self.skip = EqualConv2d(c_in, c_out, 1, bias=False, activation=False)
        self.register_buffer("kernel", fir_kernel(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(downsample2d(x, self.kernel))
        x = self.conv1(_filter(self.conv0(x), self.kernel, (2, 2)))  # (B, C, H + 1, W + 1) -> (B, C_out, H/2, W/2)
        return (skip + x) * math.sqrt(0.5)


class EqualConv2d(nn.Module):
    """A convolution with an equalised learning rate, 'same' padding, and (activation) leaky ReLU x sqrt 2."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, *, bias: bool = True, activation: bool = True, stride: int = 1, padding: int | None = None
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.weight_gain, self.activation = 1 / math.sqrt(c_in * kernel * kernel), activation
        self.stride, self.padding = stride, kernel // 2 if padding is None else padding  # None: 'same'

    def forward(self, x: Tensor) -> Tensor:
        out = F.conv2d(x, self.weight * self.weight_gain, self.bias, stride=self.stride, padding=self.padding)
        return F.leaky_relu(out, 0.2) * LRELU_GAIN if self.activation else out


class StyleGAN2Discriminator(Network):
    """images (B, channels, S, S) -> one score each (B,), the residual D of StyleGAN2."""

    batch_level = True  # the minibatch standard deviation reads the other images of its group

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 1,
        channel_base: int = 32768,
        channel_max: int = 512,
        mbstd_group: int = 4,
        num_classes: int | None = None,
        conditional: bool = False,
        conditioning: str = "projection",
    ) -> None:
        super().__init__()
        self.image_size = check_size(image_size)
        if conditioning != "projection":
            raise ConfigError(f"model.discriminator.conditioning must be projection for StyleGAN2's D (got {conditioning!r})")
        # a conditional D scores (x, y) by projection (Miyato & Koyama 2018): psi(phi(x)) + <embed(y), phi(x)> / sqrt(C)
        # on its last features phi(x) (B, C), Miyato's form; num_classes stays None (one score, not a classifier)
        self.conditional = conditional
        self.label_classes = int(num_classes) if conditional and num_classes else None
        if conditional and (self.label_classes is None or self.label_classes < 2):
            raise ConfigError(f"model.num_classes must be at least 2 for a conditional StyleGAN2 (got {num_classes!r})")
        at = lambda r: channels_at(r, channel_base, channel_max)  # noqa: E731
        self.from_rgb = EqualConv2d(channels, at(self.image_size), 1)
        blocks, resolution = [], self.image_size
        while resolution > 4:
            blocks.append(DiscriminatorBlock(at(resolution), at(resolution // 2)))
            resolution //= 2
        self.blocks = nn.Sequential(*blocks)
        self.mbstd_group = mbstd_group
        self.conv = EqualConv2d(at(4) + 1, at(4), 3)
        self.fc = EqualLinear(at(4) * 16, at(4), activation=True)
        self.out = EqualLinear(at(4), 1)
        self.embed = EqualLinear(self.label_classes, at(4)) if self.label_classes else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        x = self.blocks(self.from_rgb(x))
        x = self.conv(minibatch_stddev(x, self.mbstd_group))
        features = self.fc(x.flatten(1))  # (B, C)
        score = self.out(features).squeeze(1)
        if self.embed is None:
            return score
        assert y is not None, "a conditional discriminator is told the class"
        projection = self.embed(F.one_hot(y, self.label_classes).to(features.dtype))  # (B, C)
        return score + (projection * features).sum(dim=1) / math.sqrt(features.shape[1])
