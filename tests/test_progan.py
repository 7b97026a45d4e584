"""Progressive growing (gantrain/models/progan.py, gantrain/losses/progan.py): the schedule, the fade-in's
continuity, the paper's components, growing through every resolution on the bundled MNIST, and the bad
inputs. (Resuming mid-fade bit for bit: tests/test_resume_models.py, "progan".)"""

import math
from pathlib import Path

import pytest
import torch
from conftest import run_cli, scalars
from torch import Tensor

from gantrain.core.errors import ConfigError
from gantrain.core.priors import Latent
from gantrain.losses.base import Batch
from gantrain.losses.criteria import Wasserstein
from gantrain.losses.progan import ProgressiveGAN
from gantrain.models.progan import EqualizedConv2d, ProGANDiscriminator, ProGANGenerator, minibatch_stddev, pixel_norm, resolutions

TINY = ["model=progan", "model.fmap_base=32", "model.fmap_max=16", "model.z_dim=16", "device=cpu", "eval.every=0"]


def test_the_schedule_fades_each_resolution_in_then_trains_it_alone() -> None:
    objective = ProgressiveGAN(Wasserstein(), image_size=32, start_size=4, phase_images=100)
    stage = objective.stage
    assert stage(0) == (0, 1.0) and stage(99) == (0, 1.0)  # 4 x 4 alone
    assert stage(100) == (1, 0.0) and stage(150) == (1, 0.5) and stage(199) == (1, 0.99)  # 8 fading in
    assert stage(200) == (1, 1.0) and stage(299) == (1, 1.0)  # 8 alone
    assert stage(300) == (2, 0.0) and stage(500) == (3, 0.0) and stage(700) == (3, 1.0) and stage(10**9) == (3, 1.0)
    assert ProgressiveGAN(Wasserstein(), image_size=32, grow=False).stage(0) == (3, 1.0)


def test_after_step_resets_the_optimisers_at_each_phase_and_keeps_each_finished_resolution() -> None:
    objective = ProgressiveGAN(Wasserstein(), image_size=16, start_size=4, phase_images=10)
    events = []
    for _ in range(9):  # 5 images a step: phases change at 10, 20, 30, 40
        objective.images_seen += 5
        events.append(objective.after_step())
    assert [e.restart_optimisers for e in events] == [False, True, False, True, False, True, False, True, False]
    assert [e.keep_checkpoint for e in events] == [None, "resolution_4", None, None, None, "resolution_8", None, None, None]

    kept = ProgressiveGAN(Wasserstein(), image_size=16, start_size=4, phase_images=10, reset_optimizers=False)
    quiet = []
    for _ in range(9):
        kept.images_seen += 5
        quiet.append(kept.after_step())
    assert not any(e.restart_optimisers for e in quiet)  # model.reset_optimizers=false: Adam's state kept
    assert [e.keep_checkpoint for e in quiet] == [e.keep_checkpoint for e in events]  # the schedule itself unchanged
    with pytest.raises(ConfigError, match="model.reset_optimizers must be true or false"):
        ProgressiveGAN(Wasserstein(), image_size=16, reset_optimizers=1)  # type: ignore[arg-type]


def test_a_fade_in_starts_where_the_previous_resolution_left_off() -> None:
    """At alpha = 0 the new level contributes nothing: G draws (and D judges) exactly what the previous level
    drew (judged), so growing does not jolt the game; at alpha = 1 the old path contributes nothing."""
    torch.manual_seed(0)
    G = ProGANGenerator(z_dim=8, image_size=16, channels=1, fmap_base=32, fmap_max=16)
    D = ProGANDiscriminator(image_size=16, channels=1, fmap_base=32, fmap_max=16)
    z, x = torch.randn(4, 8), torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        G.grow_to(1, 1.0), D.grow_to(1, 1.0)
        before_g, before_d = (
            G(z),
            D(torch.nn.functional.avg_pool2d(torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 4), scale_factor=4), 1)),
        )
        G.grow_to(2, 0.0)
        assert torch.allclose(G(z), before_g, atol=1e-6)
        G.grow_to(1, 1.0)
        d_old = D(x)
        D.grow_to(2, 0.0)
        assert torch.allclose(D(x), d_old, atol=1e-5)
    assert G(z).shape == (4, 1, 16, 16) and before_d.shape == (4,)


def test_the_papers_components() -> None:
    x = torch.randn(2, 5, 3, 3)
    assert torch.allclose(pixel_norm(x).pow(2).mean(dim=1), torch.ones(2, 3, 3), atol=1e-5)
    # minibatch stddev: biased variance over groups of 4 (strided), averaged over C, H, W, one more map
    y = torch.randn(8, 2, 4, 4)
    out = minibatch_stddev(y, 4)
    groups = y.view(4, 2, 2, 4, 4)  # image i in group i mod 2
    expected = (groups.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (2,)
    assert out.shape == (8, 3, 4, 4) and torch.allclose(out[:, 2, 0, 0], expected.repeat(4))
    # equalised learning rate: N(0, 1) weights, He's constant applied at run time
    conv = EqualizedConv2d(16, 4, 3)
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(16 * 9))
    assert 0.8 < float(conv.weight.detach().std()) < 1.2
    plain = EqualizedConv2d(16, 4, 3, equalized=False)
    assert plain.scale == 1.0 and float(plain.weight.detach().std()) == pytest.approx(math.sqrt(2 / 144), rel=0.2)
    # channels: the paper's 512 up to 32 px with fmap_base 8192, halving above
    G = ProGANGenerator(z_dim=4, image_size=128, channels=3, fmap_base=8192, fmap_max=512)
    assert [m.weight.shape[1] for m in G.to_rgb] == [512, 512, 512, 512, 256, 128]
    assert resolutions(4, 32) == [4, 8, 16, 32]


def test_progan_grows_through_every_resolution_on_the_bundled_mnist(tmp_path: Path) -> None:
    done = run_cli(
        *TINY,
        "data.image_size=32",
        "model.phase_images=32",
        "train.batch_size=8",
        "train.steps=30",
        "train.log_every=1",
        "train.sample_every=10",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    resolution = [value for _, value in scalars(tmp_path / "run", "grow/resolution")]
    alpha = [value for _, value in scalars(tmp_path / "run", "grow/alpha")]
    assert sorted(set(resolution)) == [4, 8, 16, 32] and resolution == sorted(resolution)
    assert any(0 < a < 1 for a in alpha) and alpha[-1] == 1.0
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("resolution_*.pt"))
    assert kept == ["resolution_16.pt", "resolution_4.pt", "resolution_8.pt"]
    assert (tmp_path / "run" / "samples" / "step_0000010.png").is_file()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["model.phase_images=0"], "model.phase_images must be an integer >= 1"),
        (["data.image_size=28"], "data.image_size=28 is not model.start_size x 2^n"),
        (["model.start_size=64", "data.image_size=32"], "model.start_size=64 is larger than data.image_size=32"),
        (["model.batch_sizes={4:64}"], "model.batch_sizes.4=64 must be an integer from 1 to train.batch_size (32)"),
        (["model.batch_sizes={5:8}"], "model.batch_sizes names resolution 5"),
        (["model.batch_sizes=[8,8]"], "model.batch_sizes must map resolutions to batch sizes"),
        (["model.discriminator.minibatch_stddev=sometimes"], "model.discriminator.minibatch_stddev must be true or false"),
    ],
)
def test_bad_progan_input_is_one_line_before_any_work(args: list[str], said: str, tmp_path: Path) -> None:
    done = run_cli(*TINY, *args, "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 2 and said in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "run").exists()


def test_the_stage_follows_the_buffers_however_they_change() -> None:
    """The networks read their stage from a cache kept by grow_to (no GPU sync per forward); a checkpoint
    loaded or the moving average's buffer copy must still be seen."""
    G = ProGANGenerator(z_dim=4, image_size=16, channels=1, fmap_base=16, fmap_max=8)
    G.grow_to(1, 0.25)
    assert G.stage() == (1, 0.25)
    other = ProGANGenerator(z_dim=4, image_size=16, channels=1, fmap_base=16, fmap_max=8)
    other.load_state_dict(G.state_dict())
    assert other.stage() == (1, 0.25) and other.resolution == 8
    other.alpha.copy_(torch.tensor(0.75))  # as ParameterAverage copies buffers
    assert other.stage() == (1, 0.75)
    other.to(torch.float64)
    assert other.stage() == (1, 0.75)


def _collapsed_generator() -> ProGANGenerator:
    """A G that draws one picture whatever z is (its first layer's weights zero, its to_rgb's bias a
    pattern): the collapse the minibatch stddev exists to show D."""
    G = ProGANGenerator(z_dim=8, image_size=8, channels=1, fmap_base=16, fmap_max=8)
    with torch.no_grad():
        G.dense.weight.zero_()
        for layer in G.to_rgb:
            layer.bias.fill_(0.3)
    return G


def test_minibatch_stddev_sees_a_collapsed_g_through_the_objectives_own_path() -> None:
    """D's minibatch-stddev feature, as D's step computes it: large on a varied real batch, near zero on a
    collapsed fake batch. Calling D once on the concatenation of the two (what a samplewise D gets) put two
    real and two fake images in every group, and the feature read the same for both."""
    torch.manual_seed(0)
    G = _collapsed_generator()
    D = ProGANDiscriminator(image_size=8, channels=1, fmap_base=16, fmap_max=8)
    objective = ProgressiveGAN(Wasserstein(), image_size=8, phase_images=10**6, gp_lambda=10.0, drift=0.001)
    objective.images_seen = 3 * 10**6  # past the fade-in: 8 x 8 alone
    seen: list[Tensor] = []  # the stddev map of each call to D's last block, (B,)
    D.last_conv.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0][:, -1, 0, 0].detach()))
    real = torch.rand(8, 1, 8, 8) * 2 - 1  # varied images
    latent = Latent(torch.randn(8, 8))
    with torch.no_grad():
        assert G(latent.z).std(dim=0).max() < 1e-6  # collapsed indeed
    terms = objective.discriminator_step(G, D, Batch(real), latent)
    # the real batch, the fakes, the penalty's interpolates: three calls of 8, none mixing real with fake;
    # the drift term reuses the real batch's scores instead of a fourth pass
    assert [len(s) for s in seen] == [8, 8, 8]
    real_feature, fake_feature = seen[0], seen[1]
    assert float(real_feature.min()) > 0.1 and float(fake_feature.max()) < 1e-3, (real_feature, fake_feature)
    with torch.no_grad():
        D.zero_grad()
        scores = D(real)
    assert float(terms.logs["loss/drift"]) == pytest.approx(float(scores.pow(2).mean()), rel=1e-5)
    seen.clear()
    objective.generator_step(G, D, Batch(real), latent)
    assert len(seen) == 1 and float(seen[0].max()) < 1e-3  # G's step: D on fakes alone, as D trained on them


def test_a_batch_level_discriminator_is_never_called_on_real_and_fake_together() -> None:
    from gantrain.models.base import declared, samplewise

    assert declared(ProGANDiscriminator(image_size=8, channels=1, fmap_base=16, fmap_max=8)).batch_level
    assert not samplewise(ProGANDiscriminator(image_size=8, channels=1, fmap_base=16, fmap_max=8))
    plain = ProGANDiscriminator(image_size=8, channels=1, fmap_base=16, fmap_max=8, minibatch_stddev=False)
    assert not declared(plain).batch_level and samplewise(plain)  # without the layer one call is exact again
