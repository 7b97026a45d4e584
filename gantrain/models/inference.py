"""Running a trained generator: images from latents, translations of images; G's training-time
behaviour (batch statistics, dropout) kept, its running statistics left as they were."""

from typing import Any

import torch
from torch import Tensor, nn

from gantrain.core.pixels import to_uint8, to_unit_range, to_zero_one
from gantrain.models.base import generate
from gantrain.models.batch_norm import buffers_kept


@torch.no_grad()
def translate(G: nn.Module, sources: Tensor, *, device: torch.device, batch_size: int = 1) -> Tensor:
    """G's outputs for uint8 sources (N, C, H, W), as float (N, C', H, W) in [0, 1] on the CPU.

    As Isola et al. at test time: dropout on, batch norm on each batch's own statistics (batch_size=1:
    each image's, as training with batch 1); G's running statistics are left as they were."""
    outputs = []
    with buffers_kept(G):
        for start in range(0, len(sources), batch_size):
            source = to_unit_range(sources[start : start + batch_size].to(device))
            outputs.append(to_zero_one(G(source).float()).cpu())
    return torch.cat(outputs)


@torch.no_grad()
def generate_images(G: nn.Module, latent: Any, batch_size: int = 256) -> torch.Tensor:
    """G(latent) in batches, as uint8 (N, C, H, W) on the CPU. Batch norm normalises over each batch,
    as when the training grids were drawn; G's running statistics are left as they were."""
    from gantrain.core.priors import Latent

    out = []
    with buffers_kept(G):
        for start in range(0, len(latent.z), batch_size):
            part = Latent(latent.z[start : start + batch_size], None if latent.y is None else latent.y[start : start + batch_size])
            out.append(to_uint8(generate(G, part)).cpu())
    return torch.cat(out)
