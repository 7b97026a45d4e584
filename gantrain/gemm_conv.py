"""The weight gradient of small convolutions as one matrix product (bfloat16 on the CPU).

oneDNN's bfloat16 weight-gradient kernel is slow when the convolution's small side is tiny: DCGAN's
D layer 256→512 at 8×8 → 4×4 and G's mirror image take as long in bfloat16 as in float32, while every
other layer runs 2–3× faster (docs/performance.md, `bench/profile_step.py`). For those layers the
weight gradient is computed here as unfold + one GEMM, which AMX runs at full rate:

    conv:            dL/dW[o, (c, i, j)] = Σ_{n, l} dL/dy[n, o, l] · unfold(x)[n, (c, i, j), l]
    conv-transpose:  dL/dW[c, (o, i, j)] = Σ_{n, l} x[n, c, l] · unfold(dL/dy)[n, (o, i, j), l]

(l runs over the small side's positions). The forward pass and the input gradient stay oneDNN's.
Only bfloat16 autocast on the CPU takes this path; float32 and GPUs use PyTorch's kernels unchanged.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SMALL_SIDE = 16  # positions (h × w) on the small side at or under which the GEMM is faster here (4×4)
MIN_CHANNELS = 16  # narrower layers (D's 512→1 output) are faster with oneDNN's own kernel


class _SmallConv(torch.autograd.Function):
    """conv2d (or conv_transpose2d) whose weight gradient is a matrix product."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, b: Tensor | None, stride: tuple, padding: tuple, transposed: bool) -> Tensor:
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, transposed, b is not None)
        if transposed:
            return F.conv_transpose2d(x, w, b, stride, padding)
        return F.conv2d(x, w, b, stride, padding)

    @staticmethod
    def backward(ctx, gy: Tensor) -> tuple:
        x, w = ctx.saved_tensors
        stride, padding, transposed, has_bias = ctx.conf
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = torch.ops.aten.convolution_backward(
                gy, x, w, None, list(stride), list(padding), [1, 1], transposed, [0, 0], 1, [True, False, False]
            )[0]
        if ctx.needs_input_grad[1]:
            big, small = (gy, x) if transposed else (x, gy)  # the side that is unfolded, the side that is not
            cols = F.unfold(big.contiguous(), w.shape[-2:], padding=padding, stride=stride)  # (N, C_big·kh·kw, L)
            rows = small.contiguous().flatten(2)  # (N, C_small, L)
            # (C_small, N·L) @ (N·L, C_big·kh·kw): every (n, l) pair summed in one GEMM
            gw = (rows.transpose(0, 1).reshape(rows.shape[1], -1) @ cols.transpose(1, 2).reshape(-1, cols.shape[1])).view(w.shape)
        if has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum((0, 2, 3))
        return gx, gw, gb, None, None, None


def _gemm_fits(module: nn.Module, x: Tensor) -> bool:
    """bfloat16 autocast on the CPU, a plain convolution, a small side of at most SMALL_SIDE positions."""
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu") or torch.get_autocast_dtype("cpu") != torch.bfloat16:
        return False
    if not torch.is_grad_enabled() or x.dim() != 4 or min(module.in_channels, module.out_channels) < MIN_CHANNELS:
        return False
    if module.groups != 1 or module.dilation != (1, 1) or isinstance(module.padding, str) or module.padding_mode != "zeros":
        return False
    if getattr(module, "output_padding", (0, 0)) != (0, 0):
        return False
    (kh, kw), (sh, sw), (ph, pw) = module.kernel_size, module.stride, module.padding
    if isinstance(module, nn.ConvTranspose2d):
        small = x.shape[-2] * x.shape[-1]  # its input is the small side
    else:
        small = ((x.shape[-2] + 2 * ph - kh) // sh + 1) * ((x.shape[-1] + 2 * pw - kw) // sw + 1)
    return small <= SMALL_SIDE


def _forward(module: nn.Module, x: Tensor, transposed: bool) -> Tensor:
    bf16 = torch.bfloat16
    b = module.bias.to(bf16) if module.bias is not None else None
    with torch.autocast("cpu", enabled=False):  # the casts are done here, where autograd records them
        return _SmallConv.apply(x.to(bf16), module.weight.to(bf16), b, module.stride, module.padding, transposed)


class GemmConv2d(nn.Conv2d):
    """nn.Conv2d whose bfloat16 weight gradient is a GEMM when its output is small (same parameters)."""

    def forward(self, x: Tensor) -> Tensor:
        return _forward(self, x, transposed=False) if _gemm_fits(self, x) else super().forward(x)


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose bfloat16 weight gradient is a GEMM when its input is small."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        return _forward(self, x, transposed=True) if output_size is None and _gemm_fits(self, x) else super().forward(x, output_size)


def use_gemm_weight_gradients(*networks: nn.Module) -> int:
    """Switch every plain Conv2d / ConvTranspose2d of the networks to the classes above, in place: the
    parameters, their names and the state_dict stay as they were. Returns how many layers were switched."""
    switched = 0
    for net in networks:
        for module in net.modules():
            if type(module) is nn.Conv2d:
                module.__class__ = GemmConv2d
                switched += 1
            elif type(module) is nn.ConvTranspose2d:
                module.__class__ = GemmConvTranspose2d
                switched += 1
    return switched
