"""What every network of gantrain declares about itself, so that the objectives and evaluations read
typed attributes instead of probing for them."""

import torch
import torch._dynamo
from torch import nn


class Network(nn.Module):
    """A run's network. The defaults describe a plain one; a network that differs says so."""

    # fed the class labels too: G(z, y), D(x, y) (the conditional GAN of Mirza & Osindero 2014)
    conditional: bool = False
    # a classifier D's K real classes, or the classes a conditional network is told; None: neither
    num_classes: int | None = None
    # a classifier D with a learned (K+1)-th "fake" output (Odena 2016); False: the fake logit fixed at 0
    fake_class: bool = False


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
