"""The multilayer-perceptron GAN of Goodfellow et al., "Generative Adversarial Nets" (NeurIPS 2014).

G: ReLU MLP from z to the flattened image, tanh output (data in [-1, 1]).
D: maxout MLP with dropout, as the paper used for MNIST, ending in one logit.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.models.base import Network
from gantrain.models.layers import WeightNormLinear


def head_outputs(num_classes: int | None, fake_class: bool) -> int:
    """1 real/fake logit for a binary D; K class logits, or K+1 with a learned fake class."""
    if not isinstance(fake_class, bool):
        raise ConfigError(f"model.discriminator.fake_class must be true or false (got {fake_class!r})")
    if num_classes is None:
        if fake_class:
            raise ConfigError("model.discriminator.fake_class=true needs model.num_classes")
        return 1
    if int(num_classes) < 2:
        raise ConfigError(f"model.num_classes must be at least 2 (got {num_classes})")
    return int(num_classes) + int(fake_class)


def _check_sizes(name: str, sizes: Sequence[int]) -> list[int]:
    sizes = [int(s) for s in sizes]
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError(f"{name} must be a non-empty list of positive layer widths (got {list(sizes)})")
    return sizes


class Maxout(nn.Module):
    """max over `pieces` affine maps (Goodfellow et al. 2013): (B, in) -> (B, out)."""

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: Tensor) -> Tensor:
        h = self.linear(x).view(x.shape[0], self.out_features, self.pieces)  # (B, out, pieces)
        return h.amax(dim=2)


ACTIVATIONS = {"relu": nn.ReLU, "softplus": nn.Softplus}


def activation_layer(key: str, name: str) -> nn.Module:
    """The hidden layers' non-linearity by name (`relu` or `softplus`); a ConfigError naming `key` otherwise."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"{key} must be one of {', '.join(ACTIVATIONS)} (got {name!r})")
    return ACTIVATIONS[name]()


class MLPGenerator(Network):
    """z (B, z_dim) -> image (B, channels, image_size, image_size) in [-1, 1].

    batch_norm after each hidden layer, with softplus units, is how Salimans et al. (2016) trained
    theirs for MNIST; Goodfellow et al.'s used ReLU (the default). Their code's other details, each
    off by default: batch norm that learns a shift but no scale (`batch_norm_scale=False`), a
    weight-normalised output layer whose scale learns from 1 (`output_weight_norm=True`), and
    Lasagne's initial weights, Glorot-uniform with zero biases (`init="glorot"`). With batch or
    weight norm after it, a layer's output ignores its weights' size, but Adam's steps do not: the
    same step turns a smaller weight further, so the initial size is a per-layer learning rate."""

    def __init__(
        self,
        *,
        z_dim: int,
        image_size: int,
        channels: int,
        hidden: Sequence[int] = (1200, 1200),
        batch_norm: bool = False,
        activation: str = "relu",
        batch_norm_scale: bool = True,
        output_weight_norm: bool = False,
        init: str = "pytorch",
    ) -> None:
        super().__init__()
        hidden = _check_sizes("model.generator.hidden", hidden)
        for key, value in (("batch_norm_scale", batch_norm_scale), ("output_weight_norm", output_weight_norm)):
            if not isinstance(value, bool):
                raise ConfigError(f"model.generator.{key} must be true or false (got {value!r})")
        if init not in INITS:
            raise ConfigError(f"model.generator.init must be one of {', '.join(INITS)} (got {init!r})")
        self.shape = (channels, image_size, image_size)
        layers: list[nn.Module] = []
        width = z_dim
        for h in hidden:
            act = activation_layer("model.generator.activation", activation)
            layers += [nn.Linear(width, h), *([_batch_norm(h, batch_norm_scale)] if batch_norm else []), act]
            width = h
        out = channels * image_size * image_size
        if output_weight_norm:
            output = WeightNormLinear(width, out)
            # Their G ends in sigmoid(a) on [0, 1] data, with the scale from 1. On our [-1, 1] scale that
            # image is 2 sigmoid(a) - 1 = tanh(a / 2): the same G starts with half the scale here.
            output.g.data.fill_(0.5)
        else:
            output = nn.Linear(width, out)
        layers += [output, nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if init == "glorot":
            for layer in self.net:
                if isinstance(layer, nn.Linear):
                    nn.init.xavier_uniform_(layer.weight)
                    nn.init.zeros_(layer.bias)
                elif isinstance(layer, WeightNormLinear):
                    nn.init.xavier_uniform_(layer.v)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.shape)


INITS = ("pytorch", "glorot")  # PyTorch's nn.Linear default (uniform, +-1/sqrt(fan_in)), or Glorot-uniform


def _batch_norm(width: int, scale: bool) -> nn.Module:
    """Batch norm over (B, width), with a learned gain and shift or (scale=False) the shift alone."""
    return nn.BatchNorm1d(width) if scale else ShiftBatchNorm1d(width)


class ShiftBatchNorm1d(nn.BatchNorm1d):
    """Batch norm whose output is normalised + b, with no learned gain: (B, F) -> (B, F)."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, affine=False)
        self.shift = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + self.shift


class MLPDiscriminator(Network):
    """image (B, C, H, W) -> logit (B,), or class logits (B, K[+1]) with num_classes.
    Maxout hidden layers with dropout, as in the paper's MNIST model."""

    def __init__(
        self,
        *,
        image_size: int,
        channels: int,
        hidden: Sequence[int] = (240, 240),
        pieces: int = 5,
        dropout: float = 0.5,
        num_classes: int | None = None,
        fake_class: bool = False,
        extra_inputs: int = 0,
    ) -> None:
        super().__init__()
        hidden = _check_sizes("model.discriminator.hidden", hidden)
        if int(pieces) < 1:
            raise ConfigError(f"model.discriminator.pieces must be at least 1 (got {pieces})")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"model.discriminator.dropout must be in [0, 1) (got {dropout})")
        self.num_classes, self.fake_class = num_classes, bool(fake_class)
        outputs = head_outputs(num_classes, fake_class)
        layers: list[nn.Module] = []
        width = channels * image_size * image_size + extra_inputs  # extra: a conditional D's one-hot y
        for h in hidden:
            layers += [Maxout(width, h, int(pieces)), nn.Dropout(float(dropout))]
            width = h
        self.features = nn.Sequential(*layers)  # (B, hidden[-1]): the layer feature matching reads
        self.head = nn.Linear(width, outputs)

    def forward(self, x: Tensor) -> Tensor:
        out = self.head(self.features(x.flatten(1)))
        return out.squeeze(1) if self.num_classes is None else out
