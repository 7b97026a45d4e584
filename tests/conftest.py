"""Shared helpers: tiny models and data so that real training runs take seconds."""

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from gantrain.data.base import InMemoryImages
from gantrain.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gantrain.models.gan import MLPDiscriminator, MLPGenerator
from gantrain.optim import adam
from gantrain.priors import LatentPrior
from gantrain.settings import TrainSettings
from gantrain.distributed import World
from gantrain.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
# the offline feature extractor's cache: never the user's ~/.cache while testing
os.environ["GANTRAIN_CACHE"] = tempfile.mkdtemp(prefix="gantrain-test-cache-")
TINY_GAN = ["model=gan", "model.generator.hidden=[32]", "model.discriminator.hidden=[16]", "train.batch_size=16"]


def tiny_data(n: int = 64, size: int = 28, channels: int = 1, seed: int = 0) -> InMemoryImages:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    return InMemoryImages(images, torch.arange(n) % 10, num_classes=10)


def make_trainer(run_dir: Path, model: str = "dcgan", seed: int = 0, world: World = World(), data=None, **settings) -> Trainer:
    """A seconds-long trainer on random 28x28 images; `settings` override TrainSettings."""
    torch.manual_seed(seed)
    if model == "dcgan":
        G = DCGANGenerator(z_dim=8, image_size=28, channels=1, width=4)
        D = DCGANDiscriminator(image_size=28, channels=1, width=4)
        prior = LatentPrior(8, "normal")
    else:
        G = MLPGenerator(z_dim=8, image_size=28, channels=1, hidden=[32])
        D = MLPDiscriminator(image_size=28, channels=1, hidden=[16], pieces=2, dropout=0.5)
        prior = LatentPrior(8, "uniform")
    from gantrain.losses.non_saturating import NonSaturating

    defaults = dict(steps=6, batch_size=8, log_every=2, sample_every=3, ckpt_every=3, n_samples=4)
    return Trainer(
        G=G,
        D=D,
        objective=NonSaturating(),
        prior=prior,
        data=tiny_data() if data is None else data,
        make_optimizer=functools.partial(adam, lr=1e-3),
        settings=TrainSettings(**{**defaults, **settings}),
        run_dir=run_dir,
        device=torch.device("cpu"),
        seed=seed,
        show_progress=False,
        world=world,
    )


def run_cli(*args: str, cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run `python -m gantrain ARGS` as a user would, in `cwd`."""
    env = {**os.environ, "COLUMNS": "200", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "gantrain", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
