"""Each pass of DCGAN 64x64's strided convolutions in bfloat16, oneDNN's kernel against gantrain/models/gemm_conv.py's
GEMMs, on the layers' own shapes (batch 64, channels-last): the measurement behind gemm_conv.SMALL_SIDE.

    python bench/gemm_conv.py              # both cores
    python bench/gemm_conv.py --rounds 5

D's convolution C -> O from H x H to H/2 x H/2 has three passes: the forward pass, the input gradient (a
transposed convolution: also G's forward pass in the mirror layer) and the weight gradient. Every pass is
timed A B A B (oneDNN, GEMM, oneDNN, ...); the median of the rounds is reported. Run it alone.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from ceilings import cpu_description

from gantrain.models.gemm_conv import Geometry, conv, conv_transposed, weight_grad

LAYERS = [(64, 128, 32), (128, 256, 16), (256, 512, 8)]  # (C, O, H): D's inner layers; G mirrors them


def milliseconds(f, repeats: int) -> float:
    f()
    start = time.perf_counter()
    for _ in range(repeats):
        f()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10, help="calls per measurement")
    args = parser.parse_args()
    cpu = cpu_description()
    print(f"{cpu['model']}; torch {torch.__version__}, {torch.get_num_threads()} threads; batch {args.batch}, bfloat16, channels-last")
    print("| layer | small side | pass | oneDNN ms | GEMM ms | GEMM / oneDNN |\n| --- | --- | --- | --- | --- | --- |")
    g, bf16, cl = Geometry((4, 4), (2, 2), (1, 1)), torch.bfloat16, torch.channels_last
    for c, o, h in LAYERS:
        x = torch.randn(args.batch, c, h, h, dtype=bf16).contiguous(memory_format=cl)
        w = torch.randn(o, c, 4, 4, dtype=bf16).contiguous(memory_format=cl)
        gy = torch.randn(args.batch, o, h // 2, h // 2, dtype=bf16).contiguous(memory_format=cl)
        nhwc = lambda t: t.permute(0, 2, 3, 1)  # noqa: E731

        def native_backward(mask: list[bool]):
            return lambda: torch.ops.aten.convolution_backward(gy, x, w, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1, mask)

        passes = {
            "forward": (lambda: F.conv2d(x, w, stride=2, padding=1), lambda: conv(nhwc(x), w, g)),
            "input gradient": (native_backward([True, False, False]), lambda: conv_transposed(nhwc(gy), w, g, (h, h))),
            "weight gradient": (native_backward([False, True, False]), lambda: weight_grad(nhwc(x), nhwc(gy), g)),
        }
        for name, (native, gemm) in passes.items():
            times = {"native": [], "gemm": []}
            for _ in range(args.rounds):
                times["native"].append(milliseconds(native, args.repeats))
                times["gemm"].append(milliseconds(gemm, args.repeats))
            a, b = statistics.median(times["native"]), statistics.median(times["gemm"])
            print(f"| {c}→{o} | {h // 2}×{h // 2} | {name} | {a:.2f} | {b:.2f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
