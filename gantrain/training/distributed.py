"""Data-parallel training on PyTorch's DistributedDataParallel, one process per device, started by
torchrun:

    torchrun --nproc_per_node=2 -m gantrain model=dcgan data=mnist ...      # 2 processes on one machine

Each rank trains on its own slice of every global batch (train.batch_size images per rank) with its own
z; DDP averages the gradients, so the replicas stay identical. Rank 0 alone prints, logs, writes
samples, evaluates and checkpoints; a checkpoint keeps every rank's random state, so a resumed run
continues as the uninterrupted one would.
"""

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0  # 0 .. size-1; rank 0 writes everything
    size: int = 1  # processes in all
    local_rank: int = 0  # rank on this machine: which GPU to use

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    """The World that torchrun (or SLURM's srun through torchrun) describes in the environment."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


def start(world: World, device_type: str) -> None:
    """Join the process group: NCCL between GPUs, gloo between CPU processes."""
    if world.distributed and not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")


def stop(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


class Replicated(DistributedDataParallel):
    """DistributedDataParallel whose network's own attributes (num_classes, conditional, ...) stay
    readable through the wrapper, as the objectives read them."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def wrap(network: nn.Module, world: World, device: torch.device) -> nn.Module:
    """The network under DDP when there is more than one process; the network itself otherwise.

    Batch norm's running statistics stay each rank's own (broadcast_buffers=False): training normalises
    with batch statistics, and rank 0's running statistics are what a checkpoint keeps. Broadcasting
    them before every forward would also rewrite, in place, buffers that an earlier forward of the same
    step saved for backward (the D step calls D on real and on fake batches): PyTorch 2.11 refuses that."""
    if not world.distributed:
        return network
    return Replicated(network, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)


def gather(world: World, value: Any) -> list[Any]:
    """Every rank's `value`, in rank order, on every rank (a list of one without distribution)."""
    if not world.distributed:
        return [value]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, value)
    return out


def mean_over_ranks(world: World, values: dict[str, Tensor]) -> dict[str, Tensor]:
    """The logged scalars averaged over the ranks (each rank saw other images)."""
    if not world.distributed or not values:
        return values
    names = sorted(values)
    stacked = torch.stack([values[n].detach().float().reshape(()) for n in names])
    dist.all_reduce(stacked)
    return dict(zip(names, stacked / world.size))
