"""The VAE / beta-VAE baseline: its loss terms by hand, its networks, and a short run that the GAN
tools (sample grid, task=eval, latent traversals) take as they take a GAN's."""

import math
from pathlib import Path

import pytest
import torch
from conftest import run_cli, task_file
from PIL import Image

from gantrain.core.errors import ConfigError
from gantrain.losses.base import Batch
from gantrain.losses.elbo import ELBO
from gantrain.losses.functional import bernoulli_nll, gaussian_kl
from gantrain.models.vae import VAEDecoder, VAEEncoder


def test_gaussian_kl_by_hand() -> None:
    mu = torch.tensor([[0.0, 0.0], [1.0, -2.0]])
    logvar = torch.tensor([[0.0, 0.0], [math.log(4.0), 0.0]])
    # KL(N(mu, s^2) || N(0, 1)) = (s^2 + mu^2 - 1 - log s^2) / 2 per coordinate
    expected = torch.tensor([0.0, (4 + 1 - 1 - math.log(4)) / 2 + (1 + 4 - 1 - 0) / 2])
    assert torch.allclose(gaussian_kl(mu, logvar), expected)


def test_bernoulli_nll_by_hand() -> None:
    logits = torch.tensor([[[[0.0, math.log(3.0)]]]])  # p = 1/2 and 3/4
    targets = torch.tensor([[[[1.0, 0.0]]]])
    assert torch.allclose(bernoulli_nll(logits, targets), torch.tensor([math.log(2) + math.log(4)]))
    assert torch.allclose(bernoulli_nll(logits, torch.tensor([[[[0.5, 1.0]]]])), torch.tensor([math.log(2) + math.log(4 / 3)]))


def test_elbo_is_reconstruction_plus_beta_kl_with_the_reparameterised_z() -> None:
    torch.manual_seed(0)
    E, G = VAEEncoder(4, 1, z_dim=3, hidden=[8]), VAEDecoder(3, 4, 1, hidden=[8])
    x = torch.rand(5, 1, 4, 4) * 2 - 1
    batch = Batch(x=x, y=None, x_lab=None, y_lab=None)
    for beta in (1.0, 4.0):
        torch.manual_seed(1)
        terms = ELBO(beta=beta).loss(E, G, batch)
        torch.manual_seed(1)
        mu, logvar = E(x)
        z = mu + torch.exp(logvar / 2) * torch.randn(5, 3)
        reconstruction = torch.nn.functional.binary_cross_entropy_with_logits(G(z, logits=True), (x + 1) / 2, reduction="sum") / 5
        kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp())).sum() / 5
        assert torch.allclose(terms.logs["loss/reconstruction"], reconstruction)
        assert torch.allclose(terms.logs["loss/kl"], kl)
        assert torch.allclose(terms.loss, reconstruction + beta * kl)
    assert torch.allclose(G(z), 2 * torch.sigmoid(G(z, logits=True)) - 1, atol=1e-6)  # the mean image on [-1, 1]
    with pytest.raises(ConfigError, match="model.beta must be a number >= 0"):
        ELBO(beta=-1)


def test_a_short_vae_run_draws_grids_and_traversals_like_a_gan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    common = ["model.decoder.hidden=[32]", "model.encoder.hidden=[32]", "model.z_dim=4", "device=cpu"]
    result = run_cli("model=vae", "model.beta=4", *common, "train.steps=20", "train.log_every=10", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tb"))
    events.Reload()
    first, last = (e.value for e in events.Scalars("loss/g"))  # logged at steps 10 and 20
    assert last < first  # twenty Adam steps already lower the bound's loss
    assert {"loss/reconstruction", "loss/kl"} <= set(events.Tags()["scalars"])
    assert (tmp_path / "run" / "samples" / "step_0000020.png").is_file()
    traversal = run_cli("task=interpolate", "run=run", "mode=traverse", "n=4", "length=5", cwd=tmp_path)
    assert traversal.returncode == 0, traversal.stderr[-2000:]
    assert Image.open(task_file(tmp_path / "run" / "interpolate", "traverse_n4_seed0.png")).size == (5 * 28 + 6 * 2, 4 * 28 + 5 * 2)
    too_many = run_cli("task=interpolate", "run=run", "mode=traverse", "n=5", cwd=tmp_path)
    assert too_many.returncode == 2 and "n must be <= model.z_dim=4" in too_many.stderr
    for args, expected in (
        (["loss=non_saturating"], "model=vae trains with its own loss"),
        (["model=gan", "loss=elbo"], "the ELBO trains a VAE"),
    ):
        failed = run_cli(*([] if args[0].startswith("model=") else ["model=vae"]), *args, "hydra.run.dir=bad", cwd=tmp_path)
        assert failed.returncode == 2 and expected in failed.stderr and not (tmp_path / "bad").exists()


def test_traversal_sweeps_one_coordinate_per_row() -> None:
    from gantrain.tasks import traversal

    base = torch.randn(4)
    z = traversal(base, n=3, length=5, reach=3.0)
    assert z.shape == (3, 5, 4)
    for i in range(3):
        changed = (z[i] != base).any(dim=0)
        assert changed.tolist() == [j == i for j in range(4)]  # row i moves coordinate i only
        assert torch.equal(z[i, :, i], torch.linspace(-3, 3, 5))
