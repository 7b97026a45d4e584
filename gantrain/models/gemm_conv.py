"""Small convolutions as matrix products in channels-last layout (bfloat16 on the CPU).

oneDNN's bfloat16 kernels run far under the AMX rate when a convolution's small side is tiny: DCGAN's D
layer 256→512 at 8×8 → 4×4 and G's mirror image took as long in bfloat16 as in float32
(docs/performance.md, `bench/profile_step.py`). For those layers this module computes each pass as
one or a few GEMMs over NHWC data, which AMX runs near its rate. With x (N, H, W, C), a weight
w (O, C, kh, kw), stride s and padding p:

    im2col:        A[n, l, (i, j, c)] = x_padded[n, s·l_y + i, s·l_x + j, c]      (l: output positions)
    conv:          y[(n, l), o]       = A[(n, l), (i, j, c)] · w[o, c, i, j]
    weight grad:   dL/dw[o, (i, j, c)] = Σ_{n, l} dL/dy[(n, l), o] · A[(n, l), (i, j, c)]
    conv's input gradient (= the transposed convolution), by output phase r = (h + p) mod s:
                   dL/dx_padded[n, s·u + r] = Σ_a dL/dy[n, u − a] · w[s·a + r]   (one GEMM per phase)

A ConvTranspose2d is the same pair read the other way: its forward pass is the transposed convolution
above, its input gradient the convolution, its weight gradient the GEMM with dL/dy unfolded.

Where the small side has at most SMALL_SIDE positions (4×4), measured pass by pass with
`python bench/gemm_conv.py` (docs/performance.md): the weight gradient, and for strides above 1 the
forward pass and the input gradient too. At 8×8 and above oneDNN was as fast or faster for all but the
weight gradient (0.87×, too little to pay in a whole step), so larger layers, float32 and GPUs use
PyTorch's kernels unchanged. The weight gradient comes back in float32 and in the
parameter's own memory layout, so autograd neither casts it again nor copies it into place.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SMALL_SIDE = 16  # positions on the small side at or under which the passes are GEMMs (4×4)
MIN_CHANNELS = 16  # narrower layers (D's 512→1 output) are faster with oneDNN's own kernels


class Geometry(NamedTuple):
    """A convolution's kernel, stride and padding, (height, width) each."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


def im2col(x: Tensor, g: Geometry) -> Tensor:
    """x (N, H, W, C) → (N, Ho, Wo, kh·kw·C), the kernel's taps outer, channels inner."""
    (kh, kw), (sh, sw), (ph, pw) = g
    padded = F.pad(x, (0, 0, pw, pw, ph, ph))
    n, h, w, c = padded.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    sn, sy, sx, sc = padded.stride()
    # one strided view over every (output position, tap) pair, copied once
    return padded.as_strided((n, ho, wo, kh, kw, c), (sn, sh * sy, sw * sx, sy, sx, sc)).reshape(n, ho, wo, kh * kw * c)


def _product(a: Tensor, b: Tensor, bias: Tensor | None) -> Tensor:
    return a @ b if bias is None else torch.addmm(bias, a, b)  # the bias added before the one rounding


def conv(x: Tensor, w: Tensor, g: Geometry, bias: Tensor | None = None) -> Tensor:
    """conv2d in NHWC: x (N, H, W, C), w (O, C, kh, kw), bias (O,) → (N, Ho, Wo, O)."""
    cols = im2col(x, g)
    n, ho, wo, k = cols.shape
    return _product(cols.reshape(-1, k), w.permute(2, 3, 1, 0).reshape(k, -1), bias).view(n, ho, wo, -1)


def conv_transposed(y: Tensor, w: Tensor, g: Geometry, size: tuple[int, int], bias: Tensor | None = None) -> Tensor:
    """The transpose of `conv` (conv_transpose2d, and conv2d's input gradient) in NHWC: y (N, Ho, Wo, O),
    w (O, C, kh, kw), bias (C,) → (N, H, W, C) with (H, W) = size. One GEMM per output phase (r_y, r_x):
    padded row s·u + r gets Σ_a y[u − a] · w[s·a + r], the q = ⌈k/s⌉ taps a gathered from y shifted."""
    (kh, kw), (sh, sw), (ph, pw) = g
    n, ho, wo, o = y.shape
    c = w.shape[1]
    qh, qw = -(-kh // sh), -(-kw // sw)
    # shifted[t] = y[t − (q − 1)], zero outside y: phase row u reads shifted[u + a'] with a' = q − 1 − a
    rows, cols = -(-(size[0] + ph) // sh), -(-(size[1] + pw) // sw)  # the largest u (+ 1) any phase needs
    shifted = F.pad(y, (0, 0, qw - 1, max(0, cols - wo), qh - 1, max(0, rows - ho)))
    sn, sy, sx, so = shifted.stride()
    out = y.new_empty(n, size[0], size[1], c)
    for ry in range(sh):
        u0 = -(-(ph - ry) // sh)  # the phase's first padded row s·u0 + ry at or after the padding
        h0, count_h = sh * u0 + ry - ph, len(range(sh * u0 + ry - ph, size[0], sh))
        for rx in range(sw):
            v0 = -(-(pw - rx) // sw)
            w0, count_w = sw * v0 + rx - pw, len(range(sw * v0 + rx - pw, size[1], sw))
            if count_h == 0 or count_w == 0:
                continue
            # (N, rows, cols, q_y, q_x, O): shifted[u0 + u + a', v0 + v + b'], copied once into a matrix
            gathered = shifted.as_strided(
                (n, count_h, count_w, qh, qw, o), (sn, sy, sx, sy, sx, so), shifted.storage_offset() + u0 * sy + v0 * sx
            ).reshape(-1, qh * qw * o)
            # (q_y·q_x·O, C), taps in a' order; a zero block where s·a + r falls outside the kernel
            w_phase = torch.stack(
                [
                    w[:, :, i, j] if i < kh and j < kw else w.new_zeros(o, c)
                    for i in range(sh * (qh - 1) + ry, -1, -sh)
                    for j in range(sw * (qw - 1) + rx, -1, -sw)
                ]
            ).view(-1, c)
            result = _product(gathered, w_phase, bias)
            out[:, h0 : h0 + sh * (count_h - 1) + 1 : sh, w0 : w0 + sw * (count_w - 1) + 1 : sw, :] = result.view(n, count_h, count_w, c)
    return out


def weight_grad(x: Tensor, gy: Tensor, g: Geometry) -> Tensor:
    """dL/dw of `conv` (O, C, kh, kw), laid out channels-last: x (N, H, W, C), gy (N, Ho, Wo, O)."""
    cols = im2col(x, g)
    k = cols.shape[-1]
    o = gy.shape[-1]
    # (O, N·L) @ (N·L, kh·kw·C): every (n, l) pair summed in one GEMM
    gw = gy.reshape(-1, o).t() @ cols.reshape(-1, k)
    kh, kw = g.kernel
    return gw.view(o, kh, kw, -1).permute(0, 3, 1, 2)


def _nhwc(t: Tensor) -> Tensor:
    return t.permute(0, 2, 3, 1)


def _nchw(t: Tensor) -> Tensor:  # a view: the result keeps NHWC memory (PyTorch's channels-last)
    return t.permute(0, 3, 1, 2)


class _GemmConv(torch.autograd.Function):
    """conv2d or conv_transpose2d in bfloat16; `io` says whether the forward pass and the input gradient
    are GEMMs here (else oneDNN's), the weight gradient always is. Takes the float32 parameters and
    casts them itself, so their gradients come back in float32."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, b: Tensor | None, g: Geometry, transposed: bool, io: bool) -> Tensor:
        x16, w16 = x.to(torch.bfloat16), w.to(torch.bfloat16)
        b16 = b.to(torch.bfloat16) if b is not None else None
        ctx.save_for_backward(x16, w16)
        ctx.conf = (g, transposed, io, x.dtype, b is not None)
        if not io:
            if transposed:
                return F.conv_transpose2d(x16, w16, b16, g.stride, g.padding)
            return F.conv2d(x16, w16, b16, g.stride, g.padding)
        if transposed:  # w (C_in, C_out, kh, kw): the transpose of the convolution from C_out to C_in
            (kh, kw), (sh, sw), (ph, pw) = g
            size = ((x.shape[2] - 1) * sh - 2 * ph + kh, (x.shape[3] - 1) * sw - 2 * pw + kw)
            return _nchw(conv_transposed(_nhwc(x16), w16, g, size, b16))
        return _nchw(conv(_nhwc(x16), w16, g, b16))

    @staticmethod
    def backward(ctx, gy: Tensor) -> tuple:
        x16, w16 = ctx.saved_tensors
        g, transposed, io, x_dtype, has_bias = ctx.conf
        gy16 = gy.to(torch.bfloat16)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            if not io:
                gx = torch.ops.aten.convolution_backward(
                    gy16, x16, w16, None, list(g.stride), list(g.padding), [1, 1], transposed, [0, 0], 1, [True, False, False]
                )[0]
            elif transposed:
                gx = _nchw(conv(_nhwc(gy16), w16, g))
            else:
                gx = _nchw(conv_transposed(_nhwc(gy16), w16, g, (x16.shape[2], x16.shape[3])))
            gx = gx.to(x_dtype)
        if ctx.needs_input_grad[1]:
            # conv: unfold x against dL/dy; conv-transpose: unfold dL/dy against x
            gw16 = weight_grad(_nhwc(gy16), _nhwc(x16), g) if transposed else weight_grad(_nhwc(x16), _nhwc(gy16), g)
            gw = torch.empty_like(w16, dtype=torch.float32).copy_(gw16)  # the parameter's layout, one pass
        if has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum((0, 2, 3), dtype=torch.float32)
        return gx, gw, gb, None, None, None


class Plan(NamedTuple):
    """Which passes of one call take the GEMMs."""

    weight: bool  # the weight gradient
    io: bool  # the forward pass and the input gradient


NATIVE = Plan(weight=False, io=False)


def plan(module: nn.Module, x: Tensor) -> Plan:
    """bfloat16 autocast on the CPU and a plain convolution: by the size of its small side (the weight
    gradient only where gradients are on)."""
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu") or torch.get_autocast_dtype("cpu") != torch.bfloat16:
        return NATIVE
    if x.dim() != 4 or min(module.in_channels, module.out_channels) < MIN_CHANNELS:
        return NATIVE
    if module.groups != 1 or module.dilation != (1, 1) or isinstance(module.padding, str) or module.padding_mode != "zeros":
        return NATIVE
    if isinstance(module, nn.ConvTranspose2d) and module.output_padding != (0, 0):
        return NATIVE
    (kh, kw), (sh, sw), (ph, pw) = module.kernel_size, module.stride, module.padding
    if isinstance(module, nn.ConvTranspose2d):
        small = x.shape[-2] * x.shape[-1]  # its input is the small side
    else:
        small = ((x.shape[-2] + 2 * ph - kh) // sh + 1) * ((x.shape[-1] + 2 * pw - kw) // sw + 1)
    fits = bool(small <= SMALL_SIDE)  # a plain bool under torch.compile's symbolic shapes too (a guard)
    # stride 1 (G's z → 4×4 layer): most of a phase's taps would fall in the padding
    return Plan(weight=fits and torch.is_grad_enabled(), io=fits and min(sh, sw) > 1)


def _forward(module: nn.Module, x: Tensor, how: Plan, transposed: bool) -> Tensor:
    g = Geometry(module.kernel_size, module.stride, module.padding)
    with torch.autocast("cpu", enabled=False):  # the casts are done in _GemmConv, where its backward sees them
        return _GemmConv.apply(x, module.weight, module.bias, g, transposed, how.io)


class GemmConv2d(nn.Conv2d):
    """nn.Conv2d whose small bfloat16 passes are GEMMs (same parameters)."""

    def forward(self, x: Tensor) -> Tensor:
        how = plan(self, x)
        return _forward(self, x, how, transposed=False) if how.weight or how.io else super().forward(x)


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose small bfloat16 passes are GEMMs (same parameters)."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        how = plan(self, x) if output_size is None else NATIVE
        return _forward(self, x, how, transposed=True) if how.weight or how.io else super().forward(x, output_size)


def use_gemm_convolutions(*networks: nn.Module) -> int:
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
