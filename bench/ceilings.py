"""What this CPU can compute: the GFLOP/s of a large matrix product and of DCGAN-sized convolutions (forward,
input gradient and weight gradient), in float32 and bfloat16, stored NCHW and channels-last, at the
threads torch uses. The ceilings that docs/performance.md compares each training loop with.

    python bench/ceilings.py                   # both cores
    python bench/ceilings.py --threads 1

Run it alone: anything else on the machine lowers every figure.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

RESULTS = Path(__file__).resolve().parent / "results" / "ceilings"


def cpu_description() -> dict:
    """The CPU's model name and the instruction sets that decide which kernels are fast."""
    name, family, number, flags = "", "", "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name" and not name:
                name = value
            elif key == "cpu family" and not family:
                family = value
            elif key == "model" and not number:
                number = value
            elif key == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    model = (name or platform.processor() or platform.machine()) + (f", family {family} model {number}" if family else "")
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx_vnni", "avx512_vnni")
    return {
        "model": model,
        "isa": [f for f in wanted if f in flags],
        "torch": torch.__version__,
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }


def rate(fn, flop: float, seconds: float = 1.5) -> float:
    """GFLOP/s of fn(), which does `flop` floating-point operations, timed for about `seconds` after a warm-up."""
    for _ in range(3):
        fn()
    runs, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or runs < 3:
        fn()
        runs += 1
    return flop * runs / elapsed / 1e9


def matmul(dtype: torch.dtype, n: int = 2048) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return rate(lambda: a @ b, 2 * n**3)


# DCGAN 64x64's convolutions (batch 64): (c_in, c_out, input size), kernel 4, stride 2, padding 1
LAYERS = [(64, 128, 32), (128, 256, 16), (256, 512, 8)]


def convolution(dtype: torch.dtype, channels_last: bool, which: str) -> float:
    """The mean GFLOP/s over LAYERS of one pass: forward, the input gradient or the weight gradient."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    rates = []
    for c_in, c_out, size in LAYERS:
        x = torch.randn(64, c_in, size, size, dtype=dtype).to(memory_format=fmt)
        w = torch.randn(c_out, c_in, 4, 4, dtype=dtype).to(memory_format=fmt)
        out = size // 2
        flop = 2 * 64 * c_out * out * out * c_in * 16  # every output position: c_in x 4 x 4 multiply-adds
        grad = torch.randn(64, c_out, out, out, dtype=dtype).to(memory_format=fmt)
        if which == "forward":
            rates.append(rate(lambda: F.conv2d(x, w, stride=2, padding=1), flop))
        elif which == "input gradient":
            rates.append(rate(lambda: torch.nn.grad.conv2d_input(x.shape, w, grad, stride=2, padding=1), flop))
        else:
            rates.append(rate(lambda: torch.nn.grad.conv2d_weight(x, w.shape, grad, stride=2, padding=1), flop))
    return sum(rates) / len(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}; {' '.join(cpu['isa'])}; torch {cpu['torch']} ({cpu['torch_capability']}), {cpu['threads']} threads")
    rows = []
    for dtype, name in ((torch.float32, "float32"), (torch.bfloat16, "bfloat16")):
        rows.append((f"{name} matrix product 2048 x 2048", matmul(dtype)))
        for channels_last in (False, True):
            for which in ("forward", "input gradient", "weight gradient"):
                layout = "channels-last" if channels_last else "NCHW"
                rows.append((f"{name} convolution {layout}, {which}", convolution(dtype, channels_last, which)))
    print("\n| operation | GFLOP/s |\n| --- | --- |")
    for what, gflops in rows:
        print(f"| {what} | {gflops:.3g} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps({"cpu": cpu, "gflops": dict(rows)}, indent=1))


if __name__ == "__main__":
    main()
