"""Will this run fit in memory? Said in one line before anything large is allocated.

The run's networks are built on PyTorch's "meta" device (shapes without storage), and one batch of each
training phase is run through them there; every module's output is counted, as backpropagation keeps
them. With the weights, their gradients and Adam's two moments (16 bytes a parameter), that is the
estimate, checked against the memory free on the device (MemAvailable on the CPU, cudaMemGetInfo on a
GPU). An estimate that cannot be made (an operation without a meta kernel) checks nothing.
"""

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from gantrain.core.errors import ConfigError
from gantrain.core.objective import Batch, Objective
from gantrain.core.resources import available_bytes

BYTES_PER_PARAMETER = 16  # float32 weight, gradient, Adam's first and second moments
HEADROOM = 1.25  # allocator slack, the data, the evaluation: the estimate is a floor, so leave some room


def training_bytes(nets: Mapping[str, nn.Module], objective: Objective, prior: Any, batch: Batch, k: int) -> tuple[int, int] | None:
    """(bytes of the parameters with gradients and Adam's state, bytes of the largest phase's activations)
    of `nets` (built on the meta device) for one `batch` (on the meta device); None when it cannot be made."""
    outputs: list[int] = []

    def count(module: nn.Module, args: Any, output: Any) -> None:
        in_place = isinstance(module, (nn.ReLU, nn.LeakyReLU)) and module.inplace  # writes over its input: no new memory
        if isinstance(output, torch.Tensor) and not list(module.children()) and not in_place:  # leaves only: no double counting
            outputs.append(output.numel() * output.element_size())

    parameters = sum(p.numel() for net in nets.values() for p in net.parameters())
    largest = 0
    handle = nn.modules.module.register_module_forward_hook(count)
    try:
        with torch.device("meta"):
            for phase in objective.phases(k):
                outputs.clear()
                latent = prior.sample(len(batch.x), device=torch.device("meta")) if prior is not None and phase.latent else None
                phase.loss(nets, batch, latent)
                largest = max(largest, sum(outputs))
    except Exception:  # noqa: BLE001 -- an op without a meta kernel, a data-dependent branch: no estimate
        return None
    finally:
        handle.remove()
    return parameters * BYTES_PER_PARAMETER, largest


def on_meta(batch: Batch) -> Batch:
    """The same batch's shapes on the meta device (no storage)."""
    return Batch(*(None if t is None else torch.empty_like(t, device="meta") for t in batch))


def check_fits(needed: tuple[int, int] | None, device: torch.device, what: str, keys: str) -> None:
    """ConfigError when the estimate exceeds the free memory: what needs how much, and the keys to change."""
    free = available_bytes(device)
    if needed is None or free is None:
        return
    weights, activations = needed
    if HEADROOM * (weights + activations) > free:
        gib = 2**30
        raise ConfigError(
            f"{what} needs about {(weights + activations) / gib:.1f} GiB ({weights / gib:.1f} GiB of weights with their "
            f"gradients and optimiser state, {activations / gib:.1f} GiB of activations per step), more than the "
            f"{free / gib:.1f} GiB free on {device}: {keys}"
        )
