"""CycleGAN: its losses against hand-computed values on tiny tensors, the criteria, exact resume (the image
pools included), a short real run read back from TensorBoard, task=translate both ways, and its bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_GAN, make_trainer, run_cli, scalars
from PIL import Image
from torch import nn

from gantrain.core.errors import ConfigError
from gantrain.data.unpaired import UnpairedImages
from gantrain.losses.criteria import LeastSquares, NonSaturating
from gantrain.losses.cyclegan import CycleGAN
from gantrain.models.cyclegan import PatchDiscriminator, ResNetGenerator
from gantrain.training.checkpoint import find_checkpoint, load_checkpoint

TINY = ["model=cyclegan", "model.generator_ab.width=4", "model.discriminator_a.width=4", "model.generator_ab.blocks=1", "device=cpu"]


class Scale(nn.Module):
    """x -> c x: a translator whose losses are easy to write by hand."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = nn.Parameter(torch.tensor(float(c)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c * x


class MeanScore(nn.Module):
    """A discriminator whose one output per image is the image's mean (B, 1, 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3)).view(-1, 1, 1)


def test_the_criteria_against_hand_computed_values() -> None:
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    ls = LeastSquares()
    assert ls.discriminator_loss(real, fake).item() == pytest.approx(((0 + 4) / 2) + ((0 + 4) / 2))  # E(r-1)^2 + E f^2
    assert ls.generator_loss(fake).item() == pytest.approx((1 + 1) / 2)  # E(f-1)^2
    assert ls.judged_real(real).item() == pytest.approx(2.0)
    ns = NonSaturating()
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert ns.discriminator_loss(real, fake).item() == pytest.approx((softplus(-1) + softplus(-3)) / 2 + (softplus(0) + softplus(2)) / 2)
    assert ns.generator_loss(fake).item() == pytest.approx((softplus(0) + softplus(-2)) / 2)


def test_cyclegan_losses_against_hand_computed_values() -> None:
    a, b = torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), -0.5)
    nets = {"generator_ab": Scale(2.0), "generator_ba": Scale(0.25), "discriminator_a": MeanScore(), "discriminator_b": MeanScore()}
    objective = CycleGAN(LeastSquares(), lambda_cycle=10.0, lambda_identity=0.5, pool_size=0)
    loss, logs, fake_a, fake_b = objective.generator_losses(nets, a, b)
    # G_ab(a) = 1.0, G_ba(b) = -0.125; D_b(1.0) = 1 -> (1-1)^2 = 0; D_a(-0.125) -> (-1.125)^2
    gan = 0.0 + 1.125**2
    cycle_a = abs(0.25 * 1.0 - 0.5)  # G_ba(G_ab(a)) = 0.25
    cycle_b = abs(2.0 * -0.125 + 0.5)  # G_ab(G_ba(b)) = -0.25
    identity_a, identity_b = abs(0.25 * 0.5 - 0.5), abs(2.0 * -0.5 + 0.5)  # G_ba(a) vs a, G_ab(b) vs b
    assert logs["loss/cycle_a"].item() == pytest.approx(cycle_a) and logs["loss/cycle_b"].item() == pytest.approx(cycle_b)
    assert logs["loss/identity_a"].item() == pytest.approx(identity_a) and logs["loss/identity_b"].item() == pytest.approx(identity_b)
    assert loss.item() == pytest.approx(gan + 10 * (cycle_a + cycle_b) + 10 * 0.5 * (identity_a + identity_b))
    d, d_logs = objective.discriminator_losses(nets, a, b, fake_a.detach(), fake_b.detach())
    # D_a: real a scores 0.5, fake -0.125; D_b: real b -0.5, fake 1.0; each half of E(r-1)^2 + E f^2
    d_a, d_b = 0.5 * ((0.5 - 1) ** 2 + 0.125**2), 0.5 * ((-0.5 - 1) ** 2 + 1.0**2)
    assert d_logs["loss/d_a"].item() == pytest.approx(d_a) and d_logs["loss/d_b"].item() == pytest.approx(d_b)
    assert d.item() == pytest.approx(d_a + d_b)


@pytest.mark.parametrize(
    "kwargs, absent",
    [
        ({"lambda_cycle": 0.0}, {"loss/cycle_a", "loss/cycle_b", "loss/identity_a"}),  # GAN alone
        ({"gan_weight": 0.0}, {"loss/g_gan_ab", "loss/g_gan_ba"}),  # cycle alone
        ({"backward_cycle": False}, {"loss/cycle_b"}),  # GAN + forward cycle
        ({"forward_cycle": False}, {"loss/cycle_a"}),  # GAN + backward cycle
        ({"lambda_identity": 0.0}, {"loss/identity_a", "loss/identity_b"}),
    ],
)
def test_each_ablation_drops_its_terms(kwargs: dict, absent: set) -> None:
    a, b = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    nets = {"generator_ab": Scale(2.0), "generator_ba": Scale(0.5), "discriminator_a": MeanScore(), "discriminator_b": MeanScore()}
    full = CycleGAN(pool_size=0).generator_losses(nets, a, b)[1]
    ablated = CycleGAN(pool_size=0, **kwargs).generator_losses(nets, a, b)[1]
    assert absent <= set(full) and not absent & set(ablated)


def test_bad_objective_settings_are_one_line_each() -> None:
    for kwargs, message in (
        ({"lambda_cycle": -1}, "loss.lambda_cycle must be a number >= 0"),
        ({"forward_cycle": "yes"}, "loss.forward_cycle must be true or false"),
        ({"gan_weight": 0, "lambda_cycle": 0}, "leave the generators nothing to learn"),
        ({"pool_size": -2}, "loss.pool_size=-2 must be a whole number >= 0"),
    ):
        with pytest.raises(ConfigError, match=message):
            CycleGAN(**kwargs)
    with pytest.raises(ConfigError, match="direction=AtoB or direction=BtoA"):
        CycleGAN().translator(None)
    with pytest.raises(ConfigError, match="direction must be AtoB or BtoA"):
        CycleGAN().translator("AB")


def _tiny_unpaired(n_a: int = 12, n_b: int = 9) -> UnpairedImages:
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (n_a, 1, 8, 8), generator=g, dtype=torch.uint8)
    b = torch.randint(0, 256, (n_b, 1, 8, 8), generator=g, dtype=torch.uint8)
    return UnpairedImages(a, b, image_size=8)


def _cycle_trainer(run_dir: Path, steps: int):
    torch.manual_seed(0)
    nets = {
        "generator_ab": ResNetGenerator(image_size=8, in_channels=1, out_channels=1, width=2, blocks=1),
        "generator_ba": ResNetGenerator(image_size=8, in_channels=1, out_channels=1, width=2, blocks=1),
        "discriminator_a": PatchDiscriminator(image_size=8, channels=1, patch_size=16, width=2),
        "discriminator_b": PatchDiscriminator(image_size=8, channels=1, patch_size=16, width=2),
    }
    data = _tiny_unpaired()
    return make_trainer(
        run_dir,
        networks=nets,
        objective=CycleGAN(pool_size=3, pool_seed=1),
        prior=None,
        data=data,
        picture_inputs=(data.images_a[:2], data.images_b[:2]),
        steps=steps,
        batch_size=2,
        ckpt_every=3,
        sample_every=100,
        log_every=1,
    )


def test_cyclegan_resumes_bit_identically_pools_included(tmp_path: Path) -> None:
    straight = _cycle_trainer(tmp_path / "straight", 6)
    straight.fit()
    first = _cycle_trainer(tmp_path / "split", 3)
    first.fit()
    state = load_checkpoint(find_checkpoint(tmp_path / "split"))
    assert state["objective"]["pool_b"]["count"] == 3  # 3 steps x 2 fakes, the pool full at 3
    resumed = _cycle_trainer(tmp_path / "split", 6)
    resumed.load_state_dict(state, tmp_path / "split")
    resumed.fit()
    for name in straight.nets:
        for key, value in straight.nets[name].state_dict().items():
            assert torch.equal(value, resumed.nets[name].state_dict()[key]), (name, key)
    for pool in ("pool_a", "pool_b"):
        a, b = straight.objective.state_dict()[pool], resumed.objective.state_dict()[pool]
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["generator"], b["generator"])
    assert set(straight.optimizers) == {"generators", "discriminators"}


@pytest.fixture(scope="module")
def cycle_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cyclegan")
    done = run_cli(*TINY, "train.steps=4", "train.log_every=2", "train.sample_every=4", "eval.every=0", "hydra.run.dir=run", cwd=folder)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return folder / "run"


def test_a_short_run_logs_every_term_and_draws_the_cycles(cycle_run: Path) -> None:
    for side in ("a", "b"):
        other = "b" if side == "a" else "a"
        for tag in (f"loss/g_gan_{side}{other}", f"loss/cycle_{side}", f"loss/identity_{side}", f"loss/d_{side}"):
            assert [step for step, _ in scalars(cycle_run, tag)] == [2, 4], tag
    grid = Image.open(cycle_run / "samples" / "step_0000004.png")
    assert grid.size[0] == 3 * 32 + 4 * 2  # a | G_ab(a) | G_ba(G_ab(a)), and b's rows likewise
    state = load_checkpoint(cycle_run / "checkpoints" / "last.pt")
    assert set(state["networks"]) == {"generator_ab", "generator_ba", "discriminator_a", "discriminator_b"}
    assert state["objective"]["pool_a"]["count"] == 4 and state["objective"]["pool_b"]["count"] == 4  # 4 steps of batch 1


def test_translate_loads_only_the_generator_of_its_direction(cycle_run: Path, tmp_path: Path) -> None:
    from gantrain.tasks import load_run

    only = load_run(cycle_run, torch.device("cpu"), only=lambda objective: (objective.translator("BtoA"),))
    assert set(only.nets) == {"generator_ba"}
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 24), 40 * i, np.uint8)).save(folder / f"{i}.png")
    for direction in ("AtoB", "BtoA"):
        out = tmp_path / direction
        done = run_cli("task=translate", f"run={cycle_run}", f"input={folder}", f"direction={direction}", f"output={out}", cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert sorted(p.name for p in out.iterdir()) == ["0.png", "1.png", "2.png", "grid.png"]
        assert Image.open(out / "0.png").size == (32, 32)
    missing = run_cli("task=translate", f"run={cycle_run}", f"input={folder}", cwd=tmp_path)
    assert missing.returncode == 2 and "needs direction=AtoB or direction=BtoA" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    misspelt = run_cli("task=translate", f"run={cycle_run}", f"input={folder}", "direction=AB", cwd=tmp_path)
    assert misspelt.returncode == 2 and "direction must be AtoB or BtoA (got 'AB')" in misspelt.stderr


def test_eval_on_a_cyclegan_run_gives_both_judges_and_the_transfer_score(
    cycle_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """task=eval on a CycleGAN run trained with eval.every=0: label preservation by both judges, FID, cycle
    L1 and CyCADA's transfer score with its two baselines, in RUN/eval/ and in its TensorBoard curves."""
    from gantrain.metrics import classifier, cycle_metrics
    from gantrain.tasks import evaluate_run

    monkeypatch.setattr(classifier, "TRAIN_STEPS", 10)  # the judges' and transfer's recipes, in seconds
    monkeypatch.setattr(cycle_metrics, "TRANSFER_IMAGES", 200)  # each side's translated training set
    monkeypatch.setenv("GANTRAIN_CACHE", str(tmp_path / "cache"))
    scored = evaluate_run(cycle_run, tmp_path / "eval", device=torch.device("cpu"))
    assert scored.step == 4 and "CycleMetrics" in scored.extractor
    for way in ("ab", "ba"):
        for key in (
            f"eval/labels_{way}",
            f"eval/labels_{way}_plain",
            f"eval/source_only_{way}",
            f"eval/transfer_{way}",
            f"eval/transfer_source_only_{way}",
            f"eval/transfer_target_only_{way}",
        ):
            assert 0 <= scored.numbers[key] <= 1, key
        assert scored.numbers[f"eval/fid_{way}"] >= 0
    record = json.loads((tmp_path / "eval" / "metrics_step4_seed0.json").read_text())
    assert record["eval/transfer_ab"] == scored.numbers["eval/transfer_ab"]
    assert [step for step, _ in scalars(cycle_run, "eval/transfer_ba")] == [4]


def test_bad_input_is_one_line_before_any_work(tmp_path: Path) -> None:
    no_b = tmp_path / "horses"
    (no_b / "trainA").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(no_b / "trainA" / "x.png")
    cases = [
        (["data=unpaired", f"data.root={no_b}"], "has no trainB/"),
        (["data=unpaired"], "data=unpaired reads root/trainA, root/trainB"),
        (["data.image_size=30"], "halves the image twice, so it must be a multiple of 4"),
        (["data.direction=AtB"], "data.direction must be AtoB or BtoA"),
        (["data.load_size=16"], "images too small for the crop"),
        (["train.k=2"], "leave train.k=1"),
        (["loss=non_saturating"], "model=cyclegan trains with its own loss"),
        (
            ["data=mnist"],
            "which model=gan, dcgan, vae or another image model trains, but CycleGAN's loss trains two generators and two "
            "discriminators on two unpaired domains: use data=unpaired",
        ),
    ]
    for args, message in cases:
        done = run_cli(*TINY, *args, "hydra.run.dir=bad", cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr[-1500:])
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert not (tmp_path / "bad").exists()
    gan = run_cli(*TINY_GAN, "loss=cyclegan", "hydra.run.dir=bad", cwd=tmp_path)
    assert gan.returncode == 2 and "CycleGAN's loss trains two generators and two discriminators" in gan.stderr


def test_least_squares_is_one_override_for_pix2pix_and_non_saturating_for_cyclegan(tmp_path: Path) -> None:
    pix = run_cli(
        "model=pix2pix",
        "loss/criterion=least_squares",
        "model.generator.width=4",
        "model.discriminator.width=4",
        "model.patch_size=16",
        "train.batch_size=4",
        "train.steps=2",
        "eval.every=0",
        "device=cpu",
        "hydra.run.dir=pix",
        cwd=tmp_path,
    )
    assert pix.returncode == 0, pix.stderr[-2000:]
    cyc = run_cli(*TINY, "loss/criterion=non_saturating", "train.steps=2", "eval.every=0", "hydra.run.dir=cyc", cwd=tmp_path)
    assert cyc.returncode == 0, cyc.stderr[-2000:]
    for run, target in (("pix", "LeastSquares"), ("cyc", "NonSaturating")):
        config = (tmp_path / run / ".hydra" / "config.yaml").read_text()
        assert f"_target_: gantrain.losses.criteria.{target}" in config
