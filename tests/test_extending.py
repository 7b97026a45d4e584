"""docs/extending.md's three examples, written out from the page itself and trained with: a new criterion, a
new transform of D's inputs and a new metric, each one class and one YAML file outside gantrain's tree."""

import json
import re
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_GAN, run_cli, scalars

from gantrain.augment.base import Augment
from gantrain.core.errors import ConfigError

PAGE = ROOT / "docs" / "extending.md"


def write_examples(where: Path) -> list[Path]:
    """Every fenced block of the page whose first line is `# file: PATH`, written to where/PATH."""
    written = []
    for body in re.findall(r"```(?:python|yaml)\n(.*?)```", PAGE.read_text(), flags=re.S):
        first, _, rest = body.partition("\n")
        if first.startswith("# file: "):
            path = where / first.removeprefix("# file: ").strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rest)
            written.append(path.relative_to(where))
    return written


def test_the_page_gives_one_class_and_one_yaml_file_for_each_example(tmp_path: Path) -> None:
    written = {str(p) for p in write_examples(tmp_path)}
    assert written == {
        "ext/my_criteria.py",
        "myconf/loss/criterion/soft_hinge.yaml",
        "ext/my_augment.py",
        "myconf/augment/flip.yaml",
        "ext/my_metrics.py",
        "myconf/metrics/brightness.yaml",
    }


@pytest.fixture(scope="module")
def extended_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short GAN run with the page's criterion, transform and metric, in a fresh interpreter whose
    PYTHONPATH holds the examples' module folder, as a user would start it."""
    where = tmp_path_factory.mktemp("extending")
    write_examples(where)
    done = run_cli(
        *TINY_GAN,
        f"hydra.searchpath=[file://{where / 'myconf'}]",
        "loss=hinge",
        "loss/criterion=soft_hinge",
        "augment=flip",
        "augment.p=0.5",
        "eval.n=64",
        "eval.every=4",
        "eval.extractor=none",
        "eval.metrics=[swd,brightness]",
        "train.steps=4",
        "train.log_every=1",
        "device=cpu",
        "hydra.run.dir=run",
        cwd=where,
        fresh=True,
        env={"PYTHONPATH": str(where / "ext")},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return where / "run"


def test_each_extension_is_used_by_a_run_without_an_edit_to_gantrain(extended_run: Path) -> None:
    from omegaconf import OmegaConf

    stored = OmegaConf.load(extended_run / ".hydra" / "config.yaml")
    assert stored.loss.criterion._target_ == "my_criteria.SoftHinge"
    assert stored.augment._target_ == "my_augment.RandomFlip"
    # the transform ran in both players' steps: its share of flipped images is logged beside the losses
    flipped = [value for _, value in scalars(extended_run, "augment/flipped")]
    assert len(flipped) >= 4 and 0.0 < sum(flipped) / len(flipped) < 1.0
    # the criterion's D loss: softplus(1 - D(x)) + softplus(1 + D(G(z))) >= 2 softplus(1) - ... > 0 always
    assert all(value > 0 for _, value in scalars(extended_run, "loss/d"))
    # the metric, beside the built-in one, in the run's evaluations
    lines = [json.loads(line) for line in (extended_run / "metrics.jsonl").read_text().splitlines()]
    assert "eval/brightness_gap" in lines[-1] and "eval/swd" in lines[-1]
    assert 0.0 <= lines[-1]["eval/brightness_gap"] <= 255.0


def test_the_criterion_and_the_transform_are_what_the_page_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_examples(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "ext"))
    import my_augment
    import my_criteria

    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    soft = torch.nn.functional.softplus
    expected = soft(1 - real).mean() + soft(1 + fake).mean()
    assert torch.allclose(my_criteria.SoftHinge().discriminator_loss(real, fake), expected)
    # the flip: the same draw for an image and its paired source, and a gradient through it
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).view(2, 1, 2, 3).requires_grad_()
    source = x.detach() * 10
    torch.manual_seed(0)
    out, out_source = my_augment.RandomFlip(p=0.5)(x, source)
    for i in range(2):
        flipped = torch.equal(out[i], x[i].flip(-1))
        assert flipped or torch.equal(out[i], x[i])
        assert torch.equal(out_source[i], source[i].flip(-1) if flipped else source[i])
    out.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    del sys.modules["my_augment"], sys.modules["my_criteria"]


class Shift(Augment):
    """A test transform: every image moved by one pixel."""

    def __call__(self, x: torch.Tensor, *paired: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t.roll(1, dims=-1) for t in (x, *paired))


def _composed(*overrides: str):
    from hydra import compose, initialize_config_dir

    import gantrain.app.cli  # noqa: F401  registers the schema and resolvers, as the command does

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize("model", ["dcgan", "sgan", "catgan", "progan", "pix2pix", "cyclegan"])
def test_every_model_with_a_discriminator_takes_a_transform_and_a_vae_refuses_one(model: str) -> None:
    from omegaconf import OmegaConf, open_dict

    from gantrain.losses.base import JudgedObjective
    from gantrain.training.setup import build_objective

    cfg = _composed(f"model={model}")
    with open_dict(cfg):
        cfg.augment = OmegaConf.create({"_target_": f"{__name__}.Shift"})
    objective = build_objective(cfg, {"augment": "shift", "loss": model})
    assert isinstance(objective, JudgedObjective) and isinstance(objective.augment, Shift)
    vae = _composed("model=vae")
    with open_dict(vae):
        vae.augment = OmegaConf.create({"_target_": f"{__name__}.Shift"})
    with pytest.raises(ConfigError, match="augment=shift transforms a discriminator's inputs, but loss=elbo trains none"):
        build_objective(vae, {"augment": "shift", "loss": "elbo"})
