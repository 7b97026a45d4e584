"""How the networks run, not what they compute: mixed precision (`train.precision`), channels-last
memory (`train.channels_last`) and torch.compile (`train.compile`).

Mixed precision is autocast around the objective: matrix products and convolutions run in bfloat16 or
float16, while every network output is cast back to float32 (a forward hook), so that the losses, their
log-sigmoids and entropies, are computed in float32 whatever the objective. float16 also scales the
losses (a GradScaler per optimiser): its gradients underflow below 2^-24 otherwise. bfloat16 has
float32's exponent range and needs no scaling.
"""

from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor, nn

from gantrain.core.console import notice
from gantrain.core.errors import ConfigError

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_capabilities() -> dict[str, bool] | None:
    """The instruction sets torch found on this CPU (avx512_f, avx512_bf16, amx_bf16, ...); None where this
    torch cannot tell (torch.cpu.get_capabilities is newer than the oldest torch gantrain admits)."""
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    return None if capabilities is None else dict(capabilities())


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 itself (AVX512-BF16 or AMX). Without either, oneDNN emulates
    bfloat16 in float32 and a bf16 run is several times slower than a float32 one (a CatGAN step on a
    2-core AVX2-only EPYC: 0.1 steps/s in bf16, 1.0 in float32, one thread each). True where torch cannot tell."""
    found = cpu_capabilities()
    return found is None or bool(found.get("avx512_bf16") or found.get("amx_bf16"))


def cpu_has_avx512() -> bool:
    """Whether this CPU has AVX-512 (on which oneDNN's channels-last float32 convolutions beat NCHW's);
    False where torch cannot tell, which keeps float32 in NCHW, the layout every CPU runs well."""
    found = cpu_capabilities()
    return found is not None and bool(found.get("avx512_f"))


def _to_float32(output: Any) -> Any:
    """A network's output with every reduced-precision tensor in it cast to float32 (tuples too: the
    VAE's encoder returns (mu, logvar))."""
    if isinstance(output, Tensor):
        return output.float() if output.is_floating_point() and output.dtype != torch.float32 else output
    if isinstance(output, tuple):
        return tuple(_to_float32(o) for o in output)
    if isinstance(output, list):
        return [_to_float32(o) for o in output]
    return output


class MixedPrecision:
    """Autocast to `precision` on `device`, with loss scaling where float16 needs it."""

    def __init__(self, precision: str, device: torch.device) -> None:
        if precision not in DTYPES:
            raise ConfigError(f"train.precision must be one of {', '.join(DTYPES)} (got {precision!r})")
        self.precision, self.device, self.dtype = precision, device, DTYPES[precision]
        if self.dtype is torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("train.precision=bf16 but this GPU has no bfloat16 support (pre-Ampere); use train.precision=fp16")
        if self.dtype is torch.bfloat16 and device.type == "cpu" and not cpu_has_native_bf16():
            notice(
                "train.precision=bf16 on a CPU without AVX512-BF16 or AMX: bfloat16 is emulated there and runs "
                "slower than float32; train.precision=fp32 is the faster choice on this machine"
            )

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.enabled)

    def attach(self, *networks: nn.Module) -> None:
        """Make each network return float32 whatever autocast computed inside it (a no-op in float32)."""
        if self.enabled:
            for net in networks:
                net.register_forward_hook(lambda _module, _inputs, output: _to_float32(output))

    def scaler(self) -> torch.amp.GradScaler:
        """A loss scaler for one optimiser: active for float16, a pass-through otherwise."""
        return torch.amp.GradScaler(self.device.type, enabled=self.dtype is torch.float16)


def descend(loss: Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    """One optimiser step on `loss` (gradients zeroed first). With float16 the loss is scaled up before
    backward and the gradients unscaled before the step, which is skipped if any of them overflowed."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def to_channels_last(*networks: nn.Module) -> None:
    """Store the 4-d weights NHWC; convolutions then produce NHWC activations (the inputs follow)."""
    for net in networks:
        net.to(memory_format=torch.channels_last)


def compiled(network: nn.Module, enabled: bool) -> nn.Module:
    """The network torch.compile'd for training (its parameters shared with `network`, whose
    state_dict keeps its own names), or the network itself."""
    return torch.compile(network) if enabled else network
