"""What every network of gantrain declares about itself, so that the objectives and evaluations read
typed attributes instead of probing for them."""

import abc

import torch
import torch._dynamo
from torch import Tensor, nn

from gantrain.core.priors import Latent


class Network(nn.Module):
    """A run's network. The defaults describe a plain one; a network that differs says so."""

    # fed the class labels too: G(z, y), D(x, y) (the conditional GAN of Mirza & Osindero 2014)
    conditional: bool = False
    # a classifier D's K real classes, or the classes a conditional network is told; None: neither
    num_classes: int | None = None
    # a classifier D with a learned (K+1)-th "fake" output (Odena 2016); False: the fake logit fixed at 0
    fake_class: bool = False
    # a discriminator whose score for one image depends on the other images of its batch (the minibatch
    # standard deviation of Karras et al. 2018, minibatch discrimination of Salimans et al. 2016): it must be
    # called on real and on generated images apart, or every group it reads mixes the two and it cannot
    # see a collapsed G (gantrain/losses/base.py, JudgedObjective.run_D_each)
    batch_level: bool = False


def unwrap(module: nn.Module) -> nn.Module:
    """The network itself under torch.compile (its `_orig_mod`) and DistributedDataParallel (`module`)."""
    from torch.nn.parallel import DistributedDataParallel

    module = module._orig_mod if isinstance(module, torch._dynamo.eval_frame.OptimizedModule) else module
    return module.module if isinstance(module, DistributedDataParallel) else module


def declared(module: nn.Module) -> Network:
    """What `module` declares about itself: its own Network attributes, or a plain network's defaults
    (any torch module may serve as one of a run's networks)."""
    network = unwrap(module)
    return network if isinstance(network, Network) else _PLAIN


_PLAIN = Network()


class Representation(abc.ABC):
    """A convolutional discriminator whose layers are read as a representation of images: DCGAN's use of
    D as a feature extractor (Radford et al. 2016, section 5.1; gantrain task=probe) and the pictures of
    what its filters respond to (task=dfilters). A discriminator that declares this class says which of
    its activations those are; the tasks refuse every other network in one line."""

    @abc.abstractmethod
    def layer_features(self, images: Tensor) -> list[Tensor]:
        """images (B, C, H, W) in [-1, 1], as D reads real ones -> the activations after each of D's
        convolutional layers, first to last, each (B, C_l, H_l, W_l); the score's own layer is left out.
        A discriminator told a class or a source image as well reads zeros in its place."""


def activations(layers: nn.Sequential, x: Tensor) -> list[Tensor]:
    """x through `layers`, keeping every 4-d output of a leaky ReLU: the activations of a convolutional
    stack built as conv -> [norm] -> leaky ReLU blocks (an in-place ReLU's output is kept as it is: no later
    layer writes into it)."""
    kept = []
    for layer in layers:
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU) and x.dim() == 4:
            kept.append(x)
    return kept


def is_conditional(module: nn.Module) -> bool:
    return declared(module).conditional


def is_classifier(D: nn.Module) -> bool:
    return declared(D).num_classes is not None


def generate(G: nn.Module, latent: Latent) -> Tensor:
    """G(z), or G(z, y) for a conditional generator."""
    return G(latent.z, latent.y) if is_conditional(G) else G(latent.z)


def discriminate(D: nn.Module, x: Tensor, y: Tensor | None) -> Tensor:
    """D(x), or D(x, y) for a conditional discriminator (y: the labels of real x, or of G's fakes)."""
    return D(x, y) if is_conditional(D) else D(x)


def samplewise(D: nn.Module) -> bool:
    """Whether D treats each sample on its own, so that D on a concatenation of batches is D on each of
    them: the same numbers from one call with larger matrix products. Not so with batch norm, nor for a D
    that declares itself batch-level (minibatch stddev: on a concatenation each group would hold real and
    generated images alike, and the feature would read the same for both)."""
    if is_conditional(D) or declared(D).batch_level:
        return False
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
