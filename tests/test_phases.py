"""Per-phase settings: each phase of an objective has its own optimiser settings (a learning rate and Adam's
betas per player: TTUR) and an interval (`every`: a lazy phase runs every N-th step), set by the objective
or by train.phases.<name>.* on the command line, without an edit to the loop."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import make_trainer

from gantrain.core.errors import ConfigError
from gantrain.core.objective import Phase
from gantrain.losses.adversarial import AdversarialGAN
from gantrain.training.settings import TrainSettings

ROOT = Path(__file__).resolve().parent.parent


def test_train_phases_give_each_phase_its_own_learning_rate_and_betas(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, steps=2, phases={"discriminator": {"lr": 4e-4, "beta1": 0.0}, "generator": {"lr": 1e-4, "beta2": 0.9}})
    d, g = trainer.optimizers["discriminator"].param_groups[0], trainer.optimizers["generator"].param_groups[0]
    assert d["lr"] == pytest.approx(4e-4) and g["lr"] == pytest.approx(1e-4)
    assert d["betas"] == (0.0, 0.999) and g["betas"] == (0.5, 0.9)  # the other beta is optim's (adam: 0.5, 0.999)
    trainer.fit()
    # the schedule (train.lr_decay) and a rollback start from each phase's own rate
    assert trainer.optimizers["discriminator"].param_groups[0]["initial_lr"] == pytest.approx(4e-4)


class _LazyD(AdversarialGAN):
    """The non-saturating GAN whose D phase runs every 3rd step (as StyleGAN2's lazy R1 phase)."""

    def phases(self, k: int) -> list[Phase]:
        d, g = super().phases(k)
        return [Phase(d.name, d.trains, d.loss, repeats=d.repeats, every=3), g]


def _updates(trainer) -> dict[str, int]:
    """Adam's step count per phase: how many times each phase's optimiser stepped."""
    counts = {}
    for name, optimizer in trainer.optimizers.items():
        steps = [int(state["step"]) for state in optimizer.state.values()]
        counts[name] = max(steps) if steps else 0
    return counts


def test_a_phase_with_every_n_runs_at_steps_0_n_2n(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "objective", objective=_LazyD(), steps=7)
    trainer.fit()
    assert _updates(trainer) == {"discriminator": 3, "generator": 7}  # steps 0, 3, 6

    # the same from the command line's train.phases, with no new class
    trainer = make_trainer(tmp_path / "config", steps=7, phases={"discriminator": {"every": 2}})
    trainer.fit()
    assert _updates(trainer) == {"discriminator": 4, "generator": 7}  # steps 0, 2, 4, 6


def test_a_lazy_phase_resumes_on_its_own_schedule(tmp_path: Path) -> None:
    """Stopped at step 4 and resumed to 7, a phase with every=3 runs at the steps an unbroken run does."""
    whole = make_trainer(tmp_path / "whole", objective=_LazyD(), steps=7, ckpt_every=4)
    whole.fit()
    first = make_trainer(tmp_path / "parts", objective=_LazyD(), steps=4, ckpt_every=4)
    first.fit()
    resumed = make_trainer(tmp_path / "parts", objective=_LazyD(), steps=7, ckpt_every=4, resume=str(tmp_path / "parts"))
    resumed.fit()
    assert _updates(resumed) == _updates(whole)
    for name in whole.nets:
        for a, b in zip(whole.nets[name].state_dict().values(), resumed.nets[name].state_dict().values()):
            assert torch.equal(a, b), name


@pytest.mark.parametrize(
    "phases, says",
    [
        ({"discriminator": {"lr": -1}}, "train.phases.discriminator.lr must be > 0"),
        ({"discriminator": {"beta1": 1.0}}, "train.phases.discriminator.beta1 must be in [0, 1)"),
        ({"generator": {"every": 0}}, "train.phases.generator.every must be an integer >= 1"),
        ({"generator": {"every": 1.5}}, "train.phases.generator.every must be an integer >= 1"),
        ({"generator": {"momentum": 0.9}}, "train.phases.generator.momentum is not a phase setting"),
        ({"generator": 3}, "train.phases.generator must be a mapping"),
    ],
)
def test_bad_phase_settings_are_refused_in_one_line(phases, says) -> None:
    with pytest.raises(ConfigError, match=says.replace("[", r"\[").replace(")", r"\)").replace("(", r"\(")):
        TrainSettings(phases=phases)


def test_a_phase_the_objective_does_not_have_is_refused_with_its_phases(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no phase 'critic'; its phases are discriminator, generator"):
        make_trainer(tmp_path, phases={"critic": {"lr": 1e-4}})


def test_phase_rejects_a_bad_interval() -> None:
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        Phase("d", ("discriminator",), lambda *a: None, every=0)


def test_ttur_from_the_command_line(tmp_path: Path) -> None:
    """`gantrain train.phases.discriminator.lr=4e-4 ...` trains, and TensorBoard's optim/lr_* say each rate."""
    run = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gantrain",
            "model=gan",
            "train.steps=4",
            "train.batch_size=8",
            "train.log_every=2",
            "train.sample_every=4",
            "train.ckpt_every=4",
            "train.num_workers=0",
            "eval.every=0",
            "+train.phases.discriminator.lr=4e-4",
            "+train.phases.generator.lr=1e-4",
            f"hydra.run.dir={run}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    groups = {name: opt["param_groups"][0]["lr"] for name, opt in state["optimizers"].items()}
    assert groups == {"discriminator": pytest.approx(4e-4), "generator": pytest.approx(1e-4)}


def test_a_phase_setting_without_its_plus_says_how_to_write_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gantrain", "model=gan", "train.phases.discriminator.lr=4e-4", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "put a + before the override (e.g. +train.phases.discriminator.lr=4e-4)" in done.stderr + done.stdout
    assert not (tmp_path / "run" / "checkpoints").exists()
