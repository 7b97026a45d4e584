"""Optimisers, built per training phase from plain values (`_partial_` in conf/optim/*.yaml). Each takes
parameters, or parameter groups ({"params": [...]} per network of the phase), as torch's optimisers do."""

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from gantrain.core.errors import ConfigError


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"optim.{name} must be a number (got {value!r})")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"optim.{name} must be a number (got {value!r})") from None


def _positive(name: str, value: float) -> float:
    if not _number(name, value) > 0:
        raise ConfigError(f"optim.{name} must be > 0 (got {value})")
    return float(value)


def _in_unit(name: str, value: float) -> float:
    if not 0.0 <= _number(name, value) < 1.0:
        raise ConfigError(f"optim.{name} must be in [0, 1) (got {value})")
    return float(value)


Parameters = Iterable[nn.Parameter] | Iterable[dict[str, Any]]


def _tensors(params: list[Any]) -> list[nn.Parameter]:
    """The parameters themselves, whether given as such or as groups."""
    return [p for item in params for p in (item["params"] if isinstance(item, dict) else [item])]


def adam(params: Parameters, *, lr: float = 2e-4, beta1: float = 0.5, beta2: float = 0.999, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam as in DCGAN (Radford et al.): lr 2e-4 and beta1 0.5, which they found steadier than 0.9.

    The fused kernel (one pass over all parameters) where PyTorch has one, the CPU and CUDA: the same
    update as the per-tensor loop, which is a visible share of a small MLP's step (docs/performance.md)."""
    params = list(params)
    tensors = _tensors(params)
    fused = bool(tensors) and all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in tensors)
    betas = (_in_unit("beta1", beta1), _in_unit("beta2", beta2))
    return torch.optim.Adam(params, lr=_positive("lr", lr), betas=betas, eps=_positive("eps", eps), fused=fused or None)


def sgd(params: Parameters, *, lr: float = 0.1, momentum: float = 0.5) -> torch.optim.SGD:
    """SGD with momentum, as Goodfellow et al. (2014) trained their MLP GANs."""
    return torch.optim.SGD(params, lr=_positive("lr", lr), momentum=_in_unit("momentum", momentum))
