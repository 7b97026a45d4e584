"""gantrain/models/gemm_conv.py: small bfloat16 convolutions as GEMMs. The NHWC primitives against PyTorch's
convolutions in float64 over many geometries; the layers against PyTorch's bf16 layers, both measured
from a float64 reference; which calls take the path."""

import copy

import pytest
import torch
import torch.nn.functional as F

import gantrain.models.gemm_conv as gemm_conv
from gantrain.models.gemm_conv import NATIVE, Geometry, Plan, conv, conv_transposed, plan, use_gemm_convolutions, weight_grad

# (N, C, O, H, kernel, stride, padding): DCGAN's 4/2/1, odd kernels, kernels smaller than or not a
# multiple of the stride, padding up to and beyond the kernel's reach, stride 1, a U-Net's 2×2 → 1×1
GEOMETRIES = [
    (3, 5, 7, 8, 4, 2, 1),
    (2, 3, 4, 9, 3, 2, 1),
    (2, 3, 4, 7, 3, 1, 1),
    (2, 3, 4, 10, 5, 3, 2),
    (2, 3, 4, 4, 4, 1, 0),
    (2, 4, 3, 6, 1, 1, 0),
    (2, 3, 4, 8, 4, 2, 0),
    (2, 3, 4, 11, 4, 2, 3),
    (2, 3, 4, 9, 1, 2, 0),
    (2, 3, 4, 2, 4, 1, 3),
    (2, 3, 4, 2, 4, 2, 1),
]


@pytest.mark.parametrize("n, c, o, h, k, s, p", GEOMETRIES)
def test_nhwc_primitives_match_pytorchs_convolutions_in_float64(n: int, c: int, o: int, h: int, k: int, s: int, p: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(n, c, h, h + 1, dtype=torch.float64)  # not square: rows and columns kept apart
    w, b, b_in = torch.randn(o, c, k, k, dtype=torch.float64), torch.randn(o, dtype=torch.float64), torch.randn(c, dtype=torch.float64)
    g = Geometry((k, k), (s, s), (p, p))
    nhwc, nchw = (lambda t: t.permute(0, 2, 3, 1)), (lambda t: t.permute(0, 3, 1, 2))
    y = F.conv2d(x, w, b, s, p)
    torch.testing.assert_close(nchw(conv(nhwc(x), w, g, b)), y)
    gy = torch.randn_like(y)
    gx, gw, _ = torch.ops.aten.convolution_backward(gy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, True, False])
    torch.testing.assert_close(nchw(conv_transposed(nhwc(gy), w, g, (h, h + 1))), gx)
    torch.testing.assert_close(nchw(conv_transposed(nhwc(gy), w, g, (h, h + 1), b_in)), gx + b_in.view(1, -1, 1, 1))
    torch.testing.assert_close(weight_grad(nhwc(x), nhwc(gy), g), gw)


LAYERS = [
    (lambda: torch.nn.Conv2d(32, 48, 4, 2, 1), (5, 32, 8, 8), Plan(weight=True, io=True)),  # D's 256→512 layer in small
    (lambda: torch.nn.ConvTranspose2d(48, 32, 4, 2, 1), (5, 48, 4, 4), Plan(weight=True, io=True)),  # G's mirror image
    (lambda: torch.nn.ConvTranspose2d(48, 32, 3, 2, 1), (5, 48, 4, 3), Plan(weight=True, io=True)),  # odd kernel, not square
    (lambda: torch.nn.Conv2d(32, 48, 4, 2, 1), (5, 32, 2, 2), Plan(weight=True, io=True)),  # a U-Net's bottleneck, 2×2 → 1×1
    (lambda: torch.nn.ConvTranspose2d(48, 32, 4, 2, 1), (5, 48, 1, 1), Plan(weight=True, io=True)),  # and back
    (lambda: torch.nn.ConvTranspose2d(20, 32, 4, 1, 0, bias=False), (5, 20, 1, 1), Plan(weight=True, io=False)),  # z → 4×4
    (lambda: torch.nn.Conv2d(32, 48, 4, 2, 1), (5, 32, 16, 16), NATIVE),  # 8×8 out: oneDNN is as fast there
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("make, shape, planned", LAYERS)
def test_gemm_layers_match_pytorchs_bf16_layers(make, shape: tuple, planned: Plan, channels_last: bool) -> None:
    torch.manual_seed(0)
    layer = make()
    fast, reference = copy.deepcopy(layer), copy.deepcopy(layer).double()
    assert use_gemm_convolutions(fast) == 1
    assert list(fast.state_dict()) == list(layer.state_dict())  # checkpoints keep their names
    x = torch.randn(shape)
    if channels_last:
        layer.to(memory_format=torch.channels_last), fast.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    xs = [x.clone().requires_grad_() for _ in range(2)]
    x64 = x.double().requires_grad_()
    calls, produced = [], []
    fast.weight.register_hook(lambda grad: produced.append(grad))  # the gradient as the layer gives it, before accumulation
    original = gemm_conv._GemmConv.forward

    def counted(ctx, *args):  # the GEMM path must be taken exactly where planned
        calls.append(args[-1])
        return original(ctx, *args)

    gemm_conv._GemmConv.forward = staticmethod(counted)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert plan(fast, x) == planned
            y, y_fast = layer(xs[0]), fast(xs[1])
        g = torch.randn(y.shape)
        y64 = reference(x64)
        for out in (y, y_fast):
            (out.float() * g).sum().backward()
        (y64 * g.double()).sum().backward()
    finally:
        gemm_conv._GemmConv.forward = staticmethod(original)
    assert calls == ([] if planned == NATIVE else [planned.io])
    assert y_fast.dtype == torch.bfloat16 and y_fast.shape == y.shape
    # each result's error from float64 no larger than PyTorch's own bf16 error (x 1.5: roundings fall differently)
    for native, gemm, exact in [
        (y, y_fast, y64),
        (xs[0].grad, xs[1].grad, x64.grad),
        (layer.weight.grad, fast.weight.grad, reference.weight.grad),
    ]:
        error = lambda t: (t.double() - exact).abs().max().item()  # noqa: E731
        assert error(gemm) <= 1.5 * error(native) + 1e-6 * exact.abs().max().item()
    assert fast.weight.grad.dtype == torch.float32
    if planned != NATIVE:  # float32 and the parameter's own layout: autograd neither casts nor copies it
        assert produced[0].dtype == torch.float32 and produced[0].stride() == fast.weight.stride()
    if layer.bias is not None:
        torch.testing.assert_close(fast.bias.grad, layer.bias.grad, rtol=2e-2, atol=1e-3)


def test_plan_takes_the_gemms_only_under_cpu_bf16_autocast_for_small_layers() -> None:
    small, large, narrow, first = (
        torch.nn.Conv2d(32, 48, 4, 2, 1),
        torch.nn.Conv2d(32, 48, 4, 2, 1),
        torch.nn.Conv2d(512, 1, 4, 1, 0),
        torch.nn.ConvTranspose2d(20, 32, 4, 1, 0),
    )
    use_gemm_convolutions(small, large, narrow, first)
    x8, x32, x4, z = torch.randn(2, 32, 8, 8), torch.randn(2, 32, 32, 32), torch.randn(2, 512, 4, 4), torch.randn(2, 20, 1, 1)
    assert plan(small, x8) == NATIVE  # float32: PyTorch's kernels
    with torch.autocast("cpu", dtype=torch.float16):
        assert plan(small, x8) == NATIVE
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert plan(small, x8) == Plan(weight=True, io=True)
        assert plan(large, x32) == NATIVE  # a 16×16 output
        assert plan(narrow, x4) == NATIVE  # one output channel
        assert plan(first, z) == Plan(weight=True, io=False)  # stride 1: the weight gradient alone
        with torch.no_grad():  # no weight gradient to take; the forward pass still a GEMM
            assert plan(small, x8) == Plan(weight=False, io=True)
            assert plan(first, z) == NATIVE


def test_forward_without_gradients_matches_the_one_with() -> None:
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose2d(48, 32, 4, 2, 1)
    use_gemm_convolutions(layer)
    x = torch.randn(3, 48, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.no_grad():
            y_eval = layer(x)
        y_train = layer(x)
    assert torch.equal(y_eval, y_train.detach())


@pytest.mark.slow  # compiling on a 2-core CPU takes minutes
def test_bf16_training_compiles_with_the_gemm_layers(workdir) -> None:
    """torch.compile recompiles with symbolic shapes: the plan must stay plain booleans there (a symbolic
    comparison once reached the layer and stopped compilation), in G's forward pass without gradients too."""
    from conftest import run_cli

    args = ["model=dcgan", "data=mnist", "data.image_size=32", "train.precision=bf16", "train.compile=true", "train.steps=3", "device=cpu"]
    result = run_cli(*args, "hydra.run.dir=run", cwd=workdir, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (workdir / "run" / "checkpoints" / "last.pt").is_file()
