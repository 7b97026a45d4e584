"""Pix2Pix ablations on the built-in edges -> digit task, as Isola et al.'s tables 1 and 2: the loss
variants (L1, cGAN, L1 + GAN, L1 + cGAN) and the PatchGAN's patch size, each a real `gantrain
model=pix2pix` run (2,000 steps, batches of 16, conf/model_data/pix2pix_edges2x.yaml), scored on the
1,000 held-out digits: L1, PSNR and SSIM against the target, and the sharpness of the outputs (the
variance of their Laplacian; the targets' own sharpness is given for reference).

    python bench/pix2pix.py --seeds 0            # runs into bench/results/pix2pix/seed<S>/<variant>/, then the table
    python bench/pix2pix.py --report             # the table of what has run

A finished run is not run again, so an interrupted benchmark continues where it stopped.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "pix2pix"
VARIANTS = {  # name -> (the overrides on top of `gantrain model=pix2pix`, what it is)
    "l1": (["loss.gan_weight=0"], "L1 only"),
    "cgan": (["loss.lambda_l1=0"], "cGAN only"),
    "l1_gan": (["loss.conditional=false"], "L1 + GAN (D sees the output alone)"),
    "l1_cgan": ([], "L1 + cGAN, PatchGAN 70 (the default)"),
    "l1_cgan_patch1": (["model.patch_size=1"], "L1 + cGAN, PixelGAN (1x1)"),
    "l1_cgan_patch16": (["model.patch_size=16"], "L1 + cGAN, PatchGAN 16"),
    "l1_cgan_patch34": (["model.patch_size=34"], "L1 + cGAN, PatchGAN 34"),
}
METRICS = ("eval/l1", "eval/psnr", "eval/ssim", "eval/sharpness")


def run_one(variant: str, seed: int, extra: list[str]) -> None:
    folder = RESULTS / f"seed{seed}" / variant
    summary = folder / "summary.json"
    if summary.is_file() and json.loads(summary.read_text()).get("finished"):
        return
    overrides, _ = VARIANTS[variant]
    args = ["model=pix2pix", *overrides, f"seed={seed}", f"hydra.run.dir={folder}", *extra]
    if (folder / "checkpoints" / "last.pt").is_file():
        args = [f"train.resume={folder}"]
    result = subprocess.run([sys.executable, "-m", "gantrain", *args])
    if result.returncode != 0:
        raise SystemExit(f"{variant} seed {seed} failed (exit {result.returncode})")


def target_sharpness() -> float:
    """The variance of the Laplacian of the held-out target digits themselves."""
    import torch

    from gantrain.data.paired import Edges2X
    from gantrain.metrics.evaluation import laplacian_variance

    held_out = Edges2X(None, split="test")
    targets = torch.stack([held_out[i][1] for i in range(len(held_out))]).float() / 255
    return float(laplacian_variance(targets).mean())


def report() -> str:
    lines = [
        "| variant | runs (seeds) | L1 ↓ | PSNR (dB) ↑ | SSIM ↑ | sharpness |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for variant, (_, meaning) in VARIANTS.items():
        finals = []
        for folder in sorted(RESULTS.glob(f"seed*/{variant}")):
            summary = folder / "summary.json"
            if not summary.is_file() or not json.loads(summary.read_text()).get("finished"):
                continue
            finals.append(json.loads(summary.read_text())["metrics"])
        if not finals:
            continue
        cells = []
        for metric in METRICS:
            values = [f[metric] for f in finals]
            mean = statistics.mean(values)
            digits = 2 if metric == "eval/psnr" else 4 if metric == "eval/l1" else 3
            cells.append(f"{mean:.{digits}f}" + (f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""))
        lines.append(f"| {meaning} | {len(finals)} | {' | '.join(cells)} |")
    lines.append(f"| the target digits themselves | | 0 | ∞ | 1 | {target_sharpness():.3f} |")
    return "\n".join(lines)


def picture(seed: int = 0) -> Path | None:
    """docs/pix2pix_variants.png: the held-out edge maps, each variant's output for them (its last sample
    grid), and the target digits, side by side; None until every variant of `seed` has run."""
    import numpy as np
    from PIL import Image

    folders = [RESULTS / f"seed{seed}" / v for v in VARIANTS if v not in ("l1_cgan_patch34",)]
    grids = [folder / "samples" / "step_0002000.png" for folder in folders]
    if not all(g.is_file() for g in grids):
        return None
    pixels = [np.asarray(Image.open(g).convert("L")) for g in grids]
    column = lambda grid, c: grid[:, 2 + c * 34 : 2 + c * 34 + 32]  # noqa: E731  (source | output | target, 32 px + 2 px pad)
    columns = [column(pixels[0], 0), *(column(p, 1) for p in pixels), column(pixels[0], 2)]
    pad = np.full((pixels[0].shape[0], 2), 255, np.uint8)
    image = np.concatenate([pad, *(x for c in columns for x in (c, pad))], axis=1)
    out = Path(__file__).resolve().parents[1] / "docs" / "pix2pix_variants.png"
    Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2), Image.Resampling.NEAREST).save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--report", action="store_true", help="only print the table of what has run")
    parser.add_argument("extra", nargs="*", help="more gantrain overrides for new runs, e.g. device=cuda")
    args = parser.parse_args()
    if not args.report:
        for seed in args.seeds:
            for variant in args.variants:
                run_one(variant, seed, args.extra)
    table = report()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "table.md").write_text(table + "\n")
    print(table)
    drawn = picture()
    if drawn:
        print(f"outputs side by side: {drawn}")


if __name__ == "__main__":
    main()
