"""Every model trains for real (its TensorBoard curves read back) and resumes bit-identically on the CPU: a run stopped at
step 2 and resumed to step 4 holds the
very state of a run that went straight to 4 -- every network, every optimiser, every moving average and
the objective's own state (CycleGAN's image pools)."""

from pathlib import Path

import pytest
import torch
from conftest import run_cli, scalars

from gantrain.training.checkpoint import find_checkpoint, load_checkpoint

COMMON = ["device=cpu", "train.log_every=1", "train.ckpt_every=2", "train.sample_every=2", "eval.every=2", "eval.bn_images=50"]
MODELS = {
    "dcgan": ["model.generator.width=4", "model.discriminator.width=4", "train.batch_size=8"],
    "gan": ["model=gan", "model.generator.hidden=[16]", "model.discriminator.hidden=[8]", "train.batch_size=8"],
    "cgan": ["model=cgan", "model.generator.hidden=[16]", "model.discriminator.hidden=[8]", "train.batch_size=8"],
    "cdcgan": ["model=cdcgan", "model.generator.width=4", "model.discriminator.width=4", "train.batch_size=8"],
    "sgan": [
        "model=sgan",
        "data.labeled_per_class=2",
        "model.generator.hidden=[16]",
        "model.discriminator.hidden=[16,8]",
        "train.batch_size=10",
    ],
    "catgan": ["model=catgan", "data.labeled_per_class=2", "model.generator.width=4", "model.discriminator.width=4", "train.batch_size=10"],
    "pix2pix": ["model=pix2pix", "model.generator.width=4", "model.discriminator.width=4", "model.patch_size=16", "train.batch_size=8"],
    "vae": ["model=vae", "model.decoder.hidden=[16]", "model.encoder.hidden=[16]", "train.batch_size=8"],
    # the stabilisers of issue 32: spectral norm's u and v, the penalties' randomness and R1's lazy count resume too
    "dcgan_hinge_sn": [
        "loss=hinge",
        "model.discriminator.spectral_norm=true",
        "model.discriminator.norm=none",
        "model.generator.width=4",
        "model.discriminator.width=4",
        "train.batch_size=8",
    ],
    "dcgan_g_ema": ["train.g_ema=0.9", "model.generator.width=4", "model.discriminator.width=4", "train.batch_size=8"],
    "gan_wgan_gp_r1": [
        "model=gan",
        "loss=wgan_gp",
        "loss.r1_gamma=1",
        "loss.r1_every=3",
        "train.k=2",
        "model.generator.hidden=[16]",
        "model.discriminator.hidden=[8]",
        "train.batch_size=8",
    ],
    # progressive growing, stopped at step 2 in the middle of the 4 -> 8 fade-in (16 images of 12 + 12) and resumed
    "progan": [
        "model=progan",
        "data.image_size=16",
        "model.phase_images=12",
        "model.fmap_base=32",
        "model.fmap_max=8",
        "model.z_dim=8",
        "train.batch_size=8",
    ],
    # ADA's p and its running sums (mid-interval at the split) and LeCam's anchors resume too
    "dcgan_ada_lecam": [
        "model.generator.width=4",
        "model.discriminator.width=4",
        "train.batch_size=8",
        "augment=ada",
        "augment.ada_kimg=0.02",
        "augment.interval=3",
        "loss.lecam=0.3",
    ],
    # StyleGAN2: its path-length mean and lazy counts, the mean of w (truncation), G's moving average and ADA's p
    "stylegan2_ada": [
        "model=stylegan2",
        "model.channel_base=256",
        "model.channel_max=16",
        "model.z_dim=16",
        "model.w_dim=16",
        "loss.pl_every=1",
        "loss.r1_every=3",
        "train.batch_size=8",
        "augment=ada",
        "augment.ada_kimg=0.02",
        "augment.interval=3",
    ],
    "cyclegan": [
        "model=cyclegan",
        "model.generator_ab.width=4",
        "model.discriminator_a.width=4",
        "model.generator_ab.blocks=1",
        "loss.pool_size=3",
    ],
}


def _same(a: object, b: object, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.parametrize("model", list(MODELS))
def test_every_model_resumes_bit_identically(model: str, tmp_path: Path) -> None:
    # CycleGAN's evaluation trains four domain judges (minutes on a CPU): it is tested with short recipes in
    # test_cycle_metrics.py and test_cyclegan.py, and resumes here without it
    args = [*MODELS[model], *COMMON, *(["eval.every=0"] if model == "cyclegan" else [])]
    straight = run_cli(*args, "train.steps=4", "hydra.run.dir=straight", cwd=tmp_path)
    assert straight.returncode == 0, straight.stdout[-1500:] + straight.stderr[-1500:]
    first = run_cli(*args, "train.steps=2", "hydra.run.dir=split", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-1500:]
    resumed = run_cli("train.resume=split", "train.steps=4", cwd=tmp_path)
    assert resumed.returncode == 0 and "resumed from step 2" in resumed.stdout, resumed.stderr[-1500:]
    # a short real run of each model: its curves read back from TensorBoard, its pictures drawn
    assert [step for step, _ in scalars(tmp_path / "straight", "loss/g")] == [1, 2, 3, 4]
    assert (tmp_path / "straight" / "samples" / "step_0000004.png").is_file()
    a, b = (load_checkpoint(find_checkpoint(tmp_path / run)) for run in ("straight", "split"))
    assert a["step"] == b["step"] == 4
    for part in ("networks", "optimizers", "averages", "objective", "data", "scalers"):
        _same(a[part], b[part], part)
    if model == "cyclegan":
        assert a["objective"]["pool_a"]["count"] == 3  # the pools were full, and resumed as they were
    if model == "sgan":
        assert "discriminator" in a["averages"]  # eval.ema's average of D, restored too
