"""The sliced Wasserstein distance (gantrain/metrics/swd.py): near its floor for two draws of one distribution,
growing with a blur and with a shift; its pyramid and descriptors; reported by task=eval and during
training, alone for data without labels (eval.extractor=none)."""

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from conftest import run_cli, task_file

from gantrain.metrics import swd


def _digits(n: int = 1200) -> tuple[torch.Tensor, torch.Tensor]:
    from gantrain.data.mnist import MNIST

    images = MNIST(image_size=32, channels=1).images
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return images[order[:n]], images[order[n : 2 * n]]


def _blur(x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(F.pad(x.float(), (1, 1, 1, 1), mode="replicate"), torch.ones(1, 1, 3, 3) / 9).round().clamp(0, 255).to(torch.uint8)


def test_a_set_against_itself_is_near_zero_and_a_blur_or_a_shift_raises_it() -> None:
    a, b = _digits(400)
    per = 32  # 12,800 descriptors a level: the default 32,400 cost seconds more a call and change nothing here
    real = swd.descriptors(a, per_image=per)
    itself = swd.swd(real, a, per_image=per)["eval/swd"]  # other random neighbourhoods of the same images
    other = swd.swd(real, b, per_image=per)["eval/swd"]  # another draw of the same digits
    blurred = swd.swd(real, _blur(b), per_image=per)["eval/swd"]
    shifted = [swd.swd(real, torch.roll(b, (s, s), dims=(2, 3)), per_image=per)["eval/swd"] for s in (2, 6)]
    assert itself < 20 and other < 20, (itself, other)
    assert blurred > 2 * max(itself, other), (blurred, itself, other)
    assert shifted[0] > 2 * max(itself, other) and shifted[1] > shifted[0], shifted
    # the same numbers again: descriptors and directions come from seeded generators
    assert swd.swd(real, b, per_image=per)["eval/swd"] == other


def test_levels_and_the_pyramid_give_back_the_image() -> None:
    assert swd.levels(128) == [128, 64, 32, 16] and swd.levels(32) == [32, 16] and swd.levels(28) == [28, 14]
    x = torch.randn(2, 3, 32, 32)
    bands = swd.laplacian_pyramid(x, 3)
    assert [tuple(b.shape[-2:]) for b in bands] == [(32, 32), (16, 16), (8, 8)]
    # a Laplacian pyramid is invertible: upsample the coarsest and add each band back
    rebuilt = bands[-1]
    for band in reversed(bands[:-1]):
        rebuilt = F.interpolate(rebuilt, size=band.shape[-2:], mode="bilinear", align_corners=False) + band
    assert torch.allclose(rebuilt, x, atol=1e-5)


def test_descriptors_are_normalised_neighbourhoods() -> None:
    images = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    levels = swd.descriptors(images, per_image=5)
    assert [tuple(d.shape) for d in levels] == [(50, 3 * 49), (50, 3 * 49)]
    per_channel = levels[0].view(50, 3, 49)
    assert torch.allclose(per_channel.mean(dim=(0, 2)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(per_channel.std(dim=(0, 2)), torch.ones(3), atol=1e-4)


def test_swd_alone_scores_a_folder_without_labels(tmp_path: Path) -> None:
    """data=folder has no labels, so no classifier FID: eval.extractor=none reports SWD during training and
    in task=eval."""
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(40):
        Image.fromarray(torch.randint(0, 256, (16, 16, 3), generator=g, dtype=torch.uint8).numpy()).save(folder / f"{i}.png")
    args = [
        "model=dcgan",
        "data=folder",
        f"data.root={folder}",
        "data.image_size=16",
        "model.generator.width=4",
        "model.discriminator.width=4",
    ]
    done = run_cli(
        *args,
        "train.batch_size=8",
        "train.steps=2",
        "eval.every=2",
        "eval.n=40",
        "eval.extractor=none",
        "device=cpu",
        "train.num_workers=0",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"eval/swd", "eval/swd_16"} <= set(record) and "eval/fid" not in record
    done = run_cli("task=eval", "run=run", "n=40", "eval.extractor=none", "device=cpu", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    scores = json.loads(task_file(tmp_path / "run" / "eval", "metrics_none_n40_seed0.json").read_text())
    assert scores["eval/swd"] > 0 and "eval/fid" not in scores
