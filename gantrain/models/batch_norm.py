"""Batch norm's running statistics, handled apart from training: re-estimated on real images for an
evaluation (as SWA's update_bn), or kept untouched while a network draws pictures in training mode."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from gantrain.core.pixels import to_unit_range
from gantrain.models.layers import running_batch_norms


def statistics_sample(images: Tensor, n: int) -> Tensor:
    """The `n` training images (uint8 (N, C, H, W)) that re-estimate batch-norm statistics for evaluation:
    a fixed random choice (seed 0), in data-set order, the same in every run on the same data."""
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:n]
    return images[chosen.sort().values]


@contextmanager
def statistics_of(D: nn.Module, images: Tensor | None, *, device: torch.device, batch_size: int = 100) -> Iterator[None]:
    """Inside, D's batch norm layers hold running statistics re-estimated on uint8 `images` (N, C, H, W):
    the plain average over batches of `batch_size`, computed with the rest of D as it is (in eval mode:
    no dropout or input noise). On the way out, D's own statistics and momenta are restored. A D without
    batch norm, or no images, leaves this a no-op."""
    layers = running_batch_norms(D)
    if not layers or images is None or len(images) == 0:
        yield
        return
    saved = [(m.momentum, m.training, {k: b.clone() for k, b in m.named_buffers(recurse=False)}) for m in layers]
    try:
        for m in layers:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: every batch counts the same
            m.train()  # only these layers: batch statistics in, running statistics updated
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                D(to_unit_range(images[start : start + batch_size].to(device, non_blocking=True)))
        for m in layers:
            m.eval()
        yield
    finally:
        for m, (momentum, training, buffers) in zip(layers, saved):
            m.momentum = momentum
            m.train(training)
            for k, b in m.named_buffers(recurse=False):
                b.copy_(buffers[k])


@contextmanager
def buffers_kept(module: nn.Module) -> Iterator[None]:
    """Run `module` in training mode (batch norm on each batch's statistics, dropout on) without letting
    it update its running statistics: the buffers are restored, and the mode, on the way out."""
    buffers = {name: b.clone() for name, b in module.named_buffers()}
    was_training = module.training
    module.train()
    try:
        yield
    finally:
        for name, b in module.named_buffers():
            b.copy_(buffers[name])
        module.train(was_training)
