"""Turning the `device` setting (auto | cpu | cuda | cuda:N | mps) into a torch.device."""

import torch

from gantrain.core.errors import ConfigError


def resolve_device(spec: str) -> torch.device:
    """Return the device named by `spec`, failing with a clear message when it is not usable here."""
    spec = str(spec).strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError("device=mps but no Apple GPU (MPS) is available here; use device=cpu or device=auto")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={spec} but no CUDA GPU is available here; use device=cpu or device=auto")
        index = spec.partition(":")[2]
        if index:
            if not index.isdigit():
                raise ConfigError(f"device={spec} is not a device: write cuda:N with N a GPU index, e.g. cuda:0")
            count = torch.cuda.device_count()
            if int(index) >= count:
                raise ConfigError(f"device={spec} but this machine has {count} GPU(s) (cuda:0 to cuda:{count - 1})")
        return torch.device(spec)
    raise ConfigError(f"unknown device '{spec}': choose one of auto, cpu, cuda, cuda:N, mps")
