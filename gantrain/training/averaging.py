"""The exponential (Polyak) moving average of a network's weights, kept in a copy for evaluation: what
Salimans et al.'s code (improved-gan, `disc_param_avg`) reports its test error with (eval.ema)."""

import copy

import torch
from torch import Tensor, nn

from gantrain.core.errors import ConfigError


class ParameterAverage:
    """An exponential (Polyak) moving average of a module's parameters, kept in a copy for evaluation.

    After each optimiser step, `update(module)` sets average <- decay * average + (1 - decay) * current
    for floating-point parameters; buffers (batch-norm running statistics, num_batches_tracked, spectral
    norm's u and v) are copied as they are: they are kept by the module itself, not learned, and
    copying keeps integer counters exact.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"eval.ema must be in [0, 1) (e.g. 0.999), got {decay}")
        self.decay = float(decay)
        # start from a copy of the weights, not from zero as improved-gan does, so that early
        # averages are not biased towards zero
        self.average = copy.deepcopy(module).eval()
        self.average.requires_grad_(False)
        for p in self.average.parameters():
            p.grad = None
        averaged, copied = _split_parameters(self.average)
        self._averaged, self._copied = averaged, copied
        self._buffers = list(self.average.buffers())

    @torch.no_grad()
    def update(self, module: nn.Module, decay: float | None = None) -> None:
        """Fold `module`'s current weights into the average, with `decay` for this update (a schedule's:
        train.g_ema_images) or the constructor's; `module` must have the averaged module's structure."""
        decay = self.decay if decay is None else float(decay)
        averaged, copied = _split_parameters(module)
        buffers = list(module.buffers())
        if (len(averaged), len(copied), len(buffers)) != (len(self._averaged), len(self._copied), len(self._buffers)):
            raise ValueError("ParameterAverage.update: the module's parameters do not match the averaged module's")
        if averaged:
            # lerp(avg, cur, w) = avg + w * (cur - avg) = decay * avg + (1 - decay) * cur, with w = 1 - decay;
            # one fused kernel per dtype/device group instead of one per tensor
            torch._foreach_lerp_(self._averaged, [p.detach() for p in averaged], 1.0 - decay)
        for mine, theirs in zip(self._copied + self._buffers, copied + buffers):
            mine.copy_(theirs)

    def state_dict(self) -> dict[str, Tensor]:
        """The averaged module's state dict: plain tensors, loadable with torch.load(weights_only=True)."""
        return self.average.state_dict()

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.average.load_state_dict(state)


def _split_parameters(module: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
    """(floating-point or complex parameters, which are averaged; any others, which are copied), in module order."""
    params = list(module.parameters())
    blendable = [p.is_floating_point() or p.is_complex() for p in params]
    return [p for p, b in zip(params, blendable) if b], [p for p, b in zip(params, blendable) if not b]
