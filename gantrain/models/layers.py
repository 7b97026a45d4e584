"""Layers shared by several models: the normalisation layers a convolutional network chooses from (norm_2d),
DCGAN's weight initialisation, Gaussian noise (a regulariser of the semi-supervised D), weight normalisation
with its data-dependent initialisation (Salimans & Kingma 2016) and spectral normalisation."""

import torch
from torch import Tensor, nn

from gantrain.core.errors import ConfigError


def running_batch_norms(module: nn.Module) -> list[nn.Module]:
    """The batch-norm layers in `module` that keep running statistics (what eval mode normalises with)."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def non_negative(key: str, value: object) -> float:
    """`value` as a float, or a ConfigError naming `key` when it is not a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ConfigError(f"{key} must be a number >= 0 (got {value!r})")
    return float(value)


def positive(key: str, value: object) -> float:
    """`value` as a float, or a ConfigError naming `key` when it is not a number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{key} must be a number > 0 (got {value!r})")
    return float(value)


class GaussianNoise(nn.Module):
    """x + N(0, sd^2) while training; the identity in eval mode."""

    def __init__(self, sd: float, *, key: str = "noise sd") -> None:
        """`key`: the config key that set sd, named in the error for a bad value."""
        super().__init__()
        self.sd = non_negative(key, sd)

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.randn_like(x) * self.sd if self.training and self.sd > 0 else x


class WeightNormLinear(nn.Module):
    """y = g * (v x) / ||v|| + b, one norm per output unit (Salimans & Kingma 2016): (B, in) -> (B, out).

    train_scale=False keeps g fixed after `initialize_from_data` (a buffer, saved in checkpoints).
    init_sd: the sd of v's normal initial values. Only v's direction enters the output, but its size
    sets how far each Adam step turns that direction (a step of lr per entry is a larger turn for a
    shorter v): Salimans & Kingma's code draws 0.05, Salimans et al.'s MNIST code 0.1."""

    def __init__(self, in_features: int, out_features: int, *, train_scale: bool = True, init_sd: float = 0.05) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.randn(out_features, in_features) * float(init_sd))
        self.b = nn.Parameter(torch.zeros(out_features))
        g = torch.ones(out_features)
        if train_scale:
            self.g = nn.Parameter(g)
        else:
            self.register_buffer("g", g)

    def direction(self) -> Tensor:
        return self.v / self.v.norm(dim=1, keepdim=True)  # (out, in), unit rows

    def forward(self, x: Tensor) -> Tensor:
        # (v x) * (g / ||v||) + b: the scale goes on the (B, out) output rather than on the (out, in)
        # weight, the same numbers for less work when B < in (the whole backward is cheaper too)
        return torch.addcmul(self.b, torch.nn.functional.linear(x, self.v), self.g / self.v.norm(dim=1))

    @torch.no_grad()
    def initialize_from_data(self, x: Tensor) -> None:
        """Set g and b so that this layer's outputs on x (B, in) have mean 0 and sd 1 per unit."""
        t = x @ self.direction().t()  # (B, out)
        mean, sd = t.mean(0), t.std(0, unbiased=False).clamp_min(1e-6)
        self.g.copy_(1.0 / sd)
        self.b.copy_(-mean / sd)


def check_switch(key: str, value: object) -> bool:
    """`value` if it is true or false, else a ConfigError naming `key`."""
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false (got {value!r})")
    return value


def spectrally_normalised(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every convolution and linear layer in `module`: each
    weight W is used as W / sigma(W), sigma its largest singular value, estimated by one step of power
    iteration per training forward pass (u, v kept as buffers, so in the checkpoint). Applied after
    initialisation. Returns `module`."""
    from torch.nn.utils.parametrizations import spectral_norm

    for layer in list(module.modules()):
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            spectral_norm(layer)
    return module


NORMS = ("batch", "instance", "layer", "none")


def check_norm(key: str, norm: object) -> str:
    """`norm` if it names a normalisation layer norm_2d() builds, else a ConfigError naming `key`."""
    if norm not in NORMS:
        raise ConfigError(f"{key}={norm!r} is not a normalisation gantrain builds; set it to one of {', '.join(NORMS)}")
    return str(norm)


def norm_2d(norm: str, channels: int) -> nn.Module:
    """Batch norm (learned scale and shift, running statistics for eval mode), instance norm with neither
    -- CycleGAN's: each image normalised by its own statistics, at training and at test time --, layer
    norm (each image over all its channels), or none."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "layer":  # each image's whole feature map (C, H, W), with a learned scale and shift per channel
        return nn.GroupNorm(1, channels)
    if norm == "none":  # e.g. with spectral normalisation, or WGAN-GP's critic (a per-image gradient penalty)
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) for convolutions, N(1, 0.02) for batch-norm scales (Radford et al., section 4)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
