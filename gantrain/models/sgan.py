"""The semi-supervised GAN's discriminator: a K-class classifier that also tells real from fake.

Odena, "Semi-Supervised Learning with Generative Adversarial Networks" (2016) adds a (K+1)-th "fake"
class; Salimans et al., "Improved Techniques for Training GANs" (NeurIPS 2016) fix the fake logit at 0
and use K outputs (`fake_class=false`, their choice and the default). Their MNIST discriminator, built
here: an MLP of 1000-500-250-250-250 ReLU units with weight normalisation and Gaussian noise added to
the input and to each hidden layer's output, in training only.

Weight normalisation is Salimans & Kingma's (2016), with their data-dependent initialisation: before
the first step each layer's scale g and bias b are set so that its pre-activations on a batch of real
images have mean 0 and variance 1. That is what makes a fixed noise sd (0.5 after each hidden layer)
mean the same thing in every layer; with PyTorch's default init the activations shrink layer by layer
and the noise drowns them. As in their code the hidden layers' scales then stay fixed (only the
direction v and the bias learn) and the output layer's scale learns.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gantrain.models.base import Network
from gantrain.models.gan import _check_sizes, head_outputs
from gantrain.models.layers import GaussianNoise, WeightNormLinear, positive

HIDDEN_NOISE = "model.discriminator.hidden_noise"


class SemiSupervisedMLPDiscriminator(Network):
    """image (B, C, H, W) -> class logits (B, K), or (B, K+1) with a learned fake class."""

    def __init__(
        self,
        *,
        image_size: int,
        channels: int,
        num_classes: int = 10,
        hidden: Sequence[int] = (1000, 500, 250, 250, 250),
        input_noise: float = 0.6,
        hidden_noise: float = 0.5,
        weight_norm: bool = True,
        fake_class: bool = False,
        init_sd: float = 0.05,
    ) -> None:
        super().__init__()
        hidden = _check_sizes("model.discriminator.hidden", hidden)
        self.num_classes, self.fake_class = int(num_classes), bool(fake_class)
        outputs = head_outputs(num_classes, fake_class)
        init_sd = positive("model.discriminator.init_sd", init_sd)

        def linear(n_in: int, n_out: int, train_scale: bool) -> nn.Module:
            if not weight_norm:
                return nn.Linear(n_in, n_out)
            return WeightNormLinear(n_in, n_out, train_scale=train_scale, init_sd=init_sd)

        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(input_noise, key="model.discriminator.input_noise")]
        width = channels * image_size * image_size
        for i, h in enumerate(hidden):
            if i > 0:
                layers.append(GaussianNoise(hidden_noise, key=HIDDEN_NOISE))
            layers += [linear(width, h, False), nn.ReLU(inplace=True)]
            width = h
        # (B, hidden[-1]): the last hidden layer before its noise, the layer Salimans et al. match
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(GaussianNoise(hidden_noise, key=HIDDEN_NOISE), linear(width, outputs, True))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def initialize_from_data(self, x: Tensor) -> None:
        """Data-dependent init: run real images x (B, C, H, W) through the layers in order, normalising
        each weight-normalised layer's outputs on the way (called once, before the first step)."""
        h = x
        for layer in [*self.features, *self.head]:
            if isinstance(layer, WeightNormLinear):
                layer.initialize_from_data(h)
            h = layer(h)
