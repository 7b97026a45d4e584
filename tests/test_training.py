"""A short real training run, its run folder and TensorBoard events, and exact resume on CPU."""

import errno
import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
from conftest import make_trainer, scalars
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gantrain.core.errors import CheckpointError, ConfigError
from gantrain.metrics.evaluation import Evaluator
from gantrain.training.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from gantrain.training.settings import TrainSettings


def test_short_run_writes_curves_samples_and_checkpoints(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=6, log_every=2, sample_every=3, ckpt_every=3)
    before = [p.detach().clone() for p in trainer.nets["generator"].parameters()]
    result = trainer.fit()
    assert result.step == 6
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.nets["generator"].parameters()))  # G learned something

    events = EventAccumulator(str(tmp_path / "run" / "tb"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    for name in ("loss/d", "loss/g", "d/real", "d/fake"):
        steps = [e.step for e in events.Scalars(name)]
        assert steps == [2, 4, 6], name
    for e in events.Scalars("d/real") + events.Scalars("d/fake"):
        assert 0.0 < e.value < 1.0  # mean D(x), D(G(z)) are probabilities
    assert [e.step for e in events.Images("samples")] == [3, 6]
    assert events.Scalars("loss/d")[-1].value == pytest.approx(result.metrics["loss/d"], rel=1e-5)

    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["step_0000003.png", "step_0000006.png"]
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["last.pt", "step_0000003.pt", "step_0000006.pt"]


def test_hparams_are_recorded(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=2, log_every=1)
    trainer.hparams = {"train.k": 1, "model": "dcgan"}
    trainer.fit()
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    plugins = set()
    for path in (tmp_path / "run" / "tb").iterdir():
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                plugins.add(value.metadata.plugin_data.plugin_name)
    assert "hparams" in plugins and "scalars" in plugins and "images" in plugins


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("model", ["dcgan", "gan"])  # gan: dropout in D, so the torch RNG must resume too
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path: Path, model: str) -> None:
    straight = make_trainer(tmp_path / "straight", model=model, steps=6, ckpt_every=3)
    straight.fit()

    first = make_trainer(tmp_path / "split", model=model, steps=3, ckpt_every=3)
    first.fit()
    state = load_checkpoint(find_checkpoint(tmp_path / "split"))
    assert state["step"] == 3
    torch.manual_seed(12345)  # a resumed process starts with other RNG states: the checkpoint must restore them
    resumed = make_trainer(tmp_path / "split", model=model, seed=0, steps=6, ckpt_every=3)
    resumed.load_state_dict(state, tmp_path / "split")
    resumed.fit()

    _assert_same_state(straight.nets["generator"].state_dict(), resumed.nets["generator"].state_dict())
    _assert_same_state(straight.nets["discriminator"].state_dict(), resumed.nets["discriminator"].state_dict())
    sa, sb = straight.optimizers["generator"].state_dict()["state"], resumed.optimizers["generator"].state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)


def test_a_resumed_runs_curves_keep_the_checkpoints_step_and_replace_what_came_after(tmp_path: Path) -> None:
    """A run that crashed after logging step 15 but before checkpointing it resumes from step 10: in
    TensorBoard, steps 5 and 10 keep the first process's values and step 15 appears once (the stale
    value purged, the resumed run's logged; exact resume makes the two equal)."""
    first = make_trainer(tmp_path / "run", model="gan", steps=15, log_every=5, ckpt_every=10, sample_every=100)
    first.fit()
    stale = scalars(tmp_path / "run", "loss/d")
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "step_0000010.pt")  # as if step 15's checkpoint never came
    resumed = make_trainer(tmp_path / "run", model="gan", steps=20, log_every=5, ckpt_every=10, sample_every=100)
    resumed.load_state_dict(state, tmp_path / "run")
    resumed.fit()
    curve = scalars(tmp_path / "run", "loss/d")
    assert [step for step, _ in curve] == [5, 10, 15, 20]
    assert curve[:3] == stale  # the checkpoint's own step is not dropped; step 15 again, as an exact resume gives it


def test_without_restoring_the_rng_a_resumed_run_would_differ(tmp_path: Path) -> None:
    """The resume test above can fail: skipping the saved z-generator state changes the weights."""
    straight = make_trainer(tmp_path / "straight", steps=6)
    straight.fit()
    first = make_trainer(tmp_path / "split", steps=3)
    first.fit()
    state = load_checkpoint(find_checkpoint(tmp_path / "split"))
    state["rng"]["z"] = torch.Generator().manual_seed(999).get_state()
    resumed = make_trainer(tmp_path / "split", steps=6)
    resumed.load_state_dict(state, tmp_path / "split")
    resumed.fit()
    assert any(not torch.equal(a, b) for a, b in zip(straight.nets["generator"].parameters(), resumed.nets["generator"].parameters()))


def test_periodic_checkpoints_are_pruned_and_last_is_newest(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=8, ckpt_every=2, keep_ckpts=2)
    trainer.fit()
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["last.pt", "step_0000006.pt", "step_0000008.pt"]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 8


def test_checkpoint_is_plain_data_loadable_with_weights_only(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=3, ckpt_every=3)
    trainer.metadata = {"config": "train:\n  k: 1\n", "choices": {"model": "dcgan"}}
    trainer.fit()
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert state["format_version"] == 2 and state["step"] == 3 and state["config"].startswith("train:")
    assert {"networks", "optimizers", "objective", "rng", "data"} <= state.keys()
    assert state["networks"].keys() == {"generator", "discriminator"} and state["optimizers"].keys() == {"discriminator", "generator"}


def test_interrupted_write_leaves_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"step": 1}, path)

    def boom(*args, **kwargs):  # the file write fails (the checkpoint's bytes are made in memory first)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", boom)
    with pytest.raises(
        CheckpointError, match=r"cannot write checkpoint .*last.pt \(No space left on device\); the previous checkpoint .* is intact"
    ):
        save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_damaged_and_foreign_checkpoints_are_reported(tmp_path: Path) -> None:
    save_checkpoint({"step": 1}, tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a gantrain checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


class _RunsCode:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_a_checkpoint_whose_pickle_runs_code_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    torch.save({"format_version": 1, "payload": _RunsCode()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("field, value", [("k", 0), ("steps", -1), ("batch_size", 0), ("log_every", 0), ("keep_ckpts", -1)])
def test_invalid_train_settings_are_rejected(field: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"train.{field}"):
        TrainSettings(**{field: value})


def test_k_discriminator_steps_per_generator_step(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=2, k=3, ckpt_every=2)
    trainer.fit()
    assert trainer.stream.consumed == 6  # k real batches per generator step
    assert trainer.optimizers["discriminator"].state_dict()["state"][0]["step"].item() == 6
    assert trainer.optimizers["generator"].state_dict()["state"][0]["step"].item() == 2


def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not(tmp_path: Path) -> None:
    a = make_trainer(tmp_path / "a", model="gan", seed=3, steps=4)
    b = make_trainer(tmp_path / "b", model="gan", seed=3, steps=4)
    c = make_trainer(tmp_path / "c", model="gan", seed=4, steps=4)
    for t in (a, b, c):
        t.fit()
    _assert_same_state(a.nets["generator"].state_dict(), b.nets["generator"].state_dict())
    _assert_same_state(a.nets["discriminator"].state_dict(), b.nets["discriminator"].state_dict())
    assert any(not torch.equal(x, y) for x, y in zip(a.nets["generator"].parameters(), c.nets["generator"].parameters()))


def _sgan_trainer(run_dir: Path, steps: int, **loss: object):  # -> gantrain.training.loop.Trainer
    import functools

    from gantrain.core.priors import LatentPrior
    from gantrain.data.mnist import MNIST
    from gantrain.losses.feature_matching import FeatureMatching
    from gantrain.metrics.evaluation import TestError
    from gantrain.models.gan import MLPGenerator
    from gantrain.models.sgan import SemiSupervisedMLPDiscriminator
    from gantrain.training.loop import Trainer
    from gantrain.training.optim import adam
    from gantrain.training.settings import EvalSettings

    torch.manual_seed(0)
    data = MNIST(labeled_per_class=2, label_seed=1)
    test = MNIST(split="test")
    return Trainer(
        networks={
            "generator": MLPGenerator(z_dim=8, image_size=28, channels=1, hidden=[32], batch_norm=True),
            "discriminator": SemiSupervisedMLPDiscriminator(image_size=28, channels=1, num_classes=10, hidden=[32, 16]),
        },
        objective=FeatureMatching(**loss),
        prior=LatentPrior(8, "uniform"),
        data=data,
        make_optimizer=functools.partial(adam, lr=1e-3),
        settings=TrainSettings(steps=steps, batch_size=16, log_every=2, sample_every=3, ckpt_every=3, n_samples=4),
        run_dir=run_dir,
        device=torch.device("cpu"),
        evaluate=TestError(test.images[:200], test.labels[:200], 10, clustering=False, device=torch.device("cpu")),
        eval_settings=EvalSettings(every=3, ema=0.9),
        show_progress=False,
    )


def test_semi_supervised_resume_restores_labelled_stream_and_average(tmp_path: Path) -> None:
    straight = _sgan_trainer(tmp_path / "straight", 6)
    straight.fit()
    first = _sgan_trainer(tmp_path / "split", 3)
    first.fit()
    state = load_checkpoint(find_checkpoint(tmp_path / "split"))
    assert state["data"] == {"consumed": 3, "labelled": 3} and "discriminator" in state["averages"]
    resumed = _sgan_trainer(tmp_path / "split", 6)
    resumed.load_state_dict(state, tmp_path / "split")
    result = resumed.fit()
    _assert_same_state(straight.nets["discriminator"].state_dict(), resumed.nets["discriminator"].state_dict())
    _assert_same_state(straight.averages["discriminator"].state_dict(), resumed.averages["discriminator"].state_dict())
    assert 0.0 <= result.metrics["eval/test_error"] <= 1.0


def test_feature_matching_with_a_fresh_batch_draws_g_its_own_real_batch_and_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = _sgan_trainer(tmp_path / "spy", 1, fresh_batch=True)
    seen: list[torch.Tensor] = []
    for name in ("discriminator_step", "generator_step"):
        step = getattr(trainer.objective, name)
        monkeypatch.setattr(
            trainer.objective, name, lambda G, D, batch, latent, step=step: (seen.append(batch.x), step(G, D, batch, latent))[1]
        )
    trainer.train_step()
    assert len(seen) == 2 and not torch.equal(seen[0], seen[1])  # D's batch, then G's own
    assert trainer.stream.consumed == 2

    straight = _sgan_trainer(tmp_path / "straight", 6, fresh_batch=True)
    straight.fit()
    first = _sgan_trainer(tmp_path / "split", 3, fresh_batch=True)
    first.fit()
    state = load_checkpoint(find_checkpoint(tmp_path / "split"))
    assert state["data"]["consumed"] == 6  # two batches a step
    resumed = _sgan_trainer(tmp_path / "split", 6, fresh_batch=True)
    resumed.load_state_dict(state, tmp_path / "split")
    resumed.fit()
    _assert_same_state(straight.nets["generator"].state_dict(), resumed.nets["generator"].state_dict())
    _assert_same_state(straight.nets["discriminator"].state_dict(), resumed.nets["discriminator"].state_dict())


def test_with_an_average_the_live_discriminator_is_scored_too(tmp_path: Path) -> None:
    trainer = _sgan_trainer(tmp_path / "run", 6)
    result = trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6] and all({"eval/test_error", "eval/test_error_live"} <= set(r) for r in rows)
    # the numbers are each network's own: the live D's now, and the average's, which lags behind it
    live = trainer.evaluate(trainer.nets)["eval/test_error"]
    averaged = trainer.evaluate({**trainer.nets, "discriminator": trainer.averages["discriminator"].average})["eval/test_error"]
    assert rows[-1]["eval/test_error_live"] == live == result.metrics["eval/test_error_live"]
    assert rows[-1]["eval/test_error"] == averaged


def test_a_fresh_run_initialises_weight_norm_from_data_and_starts_the_average_there(tmp_path: Path) -> None:
    trainer = _sgan_trainer(tmp_path / "run", 3)
    first = trainer.nets["discriminator"].features[2]  # the first weight-normalised layer
    assert torch.equal(first.g, torch.ones_like(first.g))
    trainer.initialize_from_data()
    assert not torch.equal(first.g, torch.ones_like(first.g))  # scales set from real images
    _assert_same_state(trainer.nets["discriminator"].state_dict(), trainer.averages["discriminator"].state_dict())


def test_a_resumed_run_does_not_repeat_evaluations_in_metrics_jsonl(tmp_path: Path) -> None:
    evaluate = _ScriptedScore([1.0] * 10, key="eval/x", select=False)
    first = make_trainer(tmp_path / "run", steps=4, ckpt_every=4)
    first.evaluate = evaluate
    first.eval_settings.every = 2
    first.fit()
    metrics = tmp_path / "run" / "metrics.jsonl"
    with open(metrics, "a") as f:
        f.write('{"step": 6, "eval/x": 1.0}\n')  # evaluated, then killed before the step-8 checkpoint
    resumed = make_trainer(tmp_path / "run", steps=8, ckpt_every=4)
    resumed.evaluate = evaluate
    resumed.eval_settings.every = 2
    resumed.load_state_dict(load_checkpoint(find_checkpoint(tmp_path / "run")), tmp_path / "run")
    resumed.fit()
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [2, 4, 6, 8]


def test_lr_decay_keeps_the_rate_then_lowers_it_linearly() -> None:
    s = TrainSettings(steps=10, lr_decay=0.5)  # the last 5 of 10 steps decay
    assert [s.lr_factor(t) for t in range(1, 11)] == pytest.approx([1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2])
    assert [TrainSettings(steps=4, lr_decay=1.0).lr_factor(t) for t in range(1, 5)] == pytest.approx([1, 0.75, 0.5, 0.25])
    assert {TrainSettings(steps=10).lr_factor(t) for t in range(1, 11)} == {1.0}  # the default: constant


@pytest.mark.parametrize("value", [-0.1, 1.5, "half", True])
def test_lr_decay_outside_zero_to_one_is_rejected(value: object) -> None:
    with pytest.raises(ConfigError, match=r"train.lr_decay must be a number in \[0, 1\]"):
        TrainSettings(lr_decay=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("stored", ["with initial_lr", "from before lr_decay"])
def test_lr_decay_sets_each_steps_rate_and_a_resumed_run_follows_it(tmp_path: Path, stored: str) -> None:
    straight = make_trainer(tmp_path / "straight", steps=6, ckpt_every=3, keep_ckpts=0, lr_decay=0.5)
    rates: list[tuple[float, float]] = []
    straight.optimizers["generator"].register_step_pre_hook(
        lambda opt, *_: rates.append((opt.param_groups[0]["lr"], straight.optimizers["discriminator"].param_groups[0]["lr"]))
    )
    straight.fit()
    # lr 1e-3 (conftest); the last 3 of 6 steps decay: x1 at step 4, x2/3 at 5, x1/3 at 6, for G and D alike
    expected = [1e-3, 1e-3, 1e-3, 1e-3, 2e-3 / 3, 1e-3 / 3]
    assert [g for g, _ in rates] == pytest.approx(expected) and [d for _, d in rates] == pytest.approx(expected)

    state = load_checkpoint(tmp_path / "straight" / "checkpoints" / "step_0000003.pt")
    assert state["optimizers"]["generator"]["param_groups"][0]["initial_lr"] == pytest.approx(1e-3)
    if stored == "from before lr_decay":  # a checkpoint written before the schedule existed: lr, no initial_lr
        for opt in ("generator", "discriminator"):
            for group in state["optimizers"][opt]["param_groups"]:
                del group["initial_lr"]
    resumed = make_trainer(tmp_path / "resumed", steps=6, ckpt_every=3, lr_decay=0.5)
    resumed.load_state_dict(state, tmp_path / "straight")
    resumed.fit()
    assert resumed.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(1e-3 / 3)
    _assert_same_state(straight.nets["generator"].state_dict(), resumed.nets["generator"].state_dict())
    _assert_same_state(straight.nets["discriminator"].state_dict(), resumed.nets["discriminator"].state_dict())


class _ScriptedScore(Evaluator):
    """An evaluation whose selected score takes the given values in turn, beside a constant second number."""

    def __init__(self, values: list[float], key: str = "eval/mutual_information", select: bool = True) -> None:
        self.values, self.key = list(values), key
        self.select_by = key if select else None

    def __call__(self, nets: Mapping[str, torch.nn.Module]) -> dict[str, float]:
        return {self.key: self.values.pop(0), "eval/cluster_error": 0.5}


@pytest.mark.parametrize(
    ("key", "values", "best_step"),
    [
        ("eval/mutual_information", [0.5, 0.9, 0.7], 4),  # higher is better: improves, then worse
        ("eval/fid", [9.0, 4.0, 6.0], 4),  # lower is better: improves, then worse
        ("eval/fid", [4.0, 4.0, 6.0], 2),  # a tie keeps the earlier checkpoint
    ],
)
def test_the_best_evaluation_is_kept_as_best_pt_by_the_metrics_own_direction_and_survives_resume(
    key: str, values: list[float], best_step: int, tmp_path: Path
) -> None:
    from gantrain.training.settings import EvalSettings

    trainer = make_trainer(tmp_path / "run", steps=6, ckpt_every=2, keep_ckpts=0)
    trainer.evaluate, trainer.eval_settings = _ScriptedScore(values, key), EvalSettings(every=2)  # at steps 2, 4, 6
    result = trainer.fit()
    assert result.best == {"step": best_step, key: values[best_step // 2 - 1], "eval/cluster_error": 0.5}
    assert result.last_evaluation == {"step": 6, key: values[2], "eval/cluster_error": 0.5} and result.best_by == key
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert best["step"] == best_step and best["best"][key] == values[best_step // 2 - 1]
    _assert_same_state(
        best["networks"]["generator"],
        load_checkpoint(tmp_path / "run" / "checkpoints" / f"step_{best_step:07d}.pt")["networks"]["generator"],
    )
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best"] == {"by": key, "step": best_step, key: values[best_step // 2 - 1], "eval/cluster_error": 0.5}
    assert summary["last"] == {"step": 6, key: values[2], "eval/cluster_error": 0.5}

    # resumed from step 4, the best so far comes back with the checkpoint: a worse number at step 6 does not
    # replace it
    resumed = make_trainer(tmp_path / "run", steps=6, ckpt_every=2)
    resumed.evaluate, resumed.eval_settings = _ScriptedScore([values[2]], key), EvalSettings(every=2)
    resumed.load_state_dict(load_checkpoint(tmp_path / "run" / "checkpoints" / "step_0000004.pt"), tmp_path / "run")
    again = resumed.fit()
    assert again.best["step"] == best_step and again.last_evaluation == {"step": 6, key: values[2], "eval/cluster_error": 0.5}


class _Closing(_ScriptedScore):
    """A scripted evaluation with a costly number (Evaluator.closing) that counts its calls."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(values, "eval/fid")
        self.closings = 0

    def closing(self, nets: Mapping[str, torch.nn.Module]) -> dict[str, float]:
        self.closings += 1
        return {"eval/transfer_ab": 0.25}


def test_the_closing_numbers_are_computed_once_at_the_last_step_and_logged_with_the_last_evaluation(tmp_path: Path) -> None:
    from gantrain.training.settings import EvalSettings

    trainer = make_trainer(tmp_path / "run", steps=6, ckpt_every=2)
    trainer.evaluate, trainer.eval_settings = _Closing([3.0, 2.0, 1.0]), EvalSettings(every=2)
    result = trainer.fit()
    assert trainer.evaluate.closings == 1
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6]
    assert [("eval/transfer_ab" in r) for r in records] == [False, False, True]
    assert result.last_evaluation["eval/transfer_ab"] == 0.25
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["last"]["eval/transfer_ab"] == 0.25
    assert scalars(tmp_path / "run", "eval/transfer_ab") == [(6, 0.25)]


def test_train_best_by_chooses_another_metric_and_none_keeps_no_best_pt(tmp_path: Path) -> None:
    from gantrain.training.settings import EvalSettings

    trainer = make_trainer(tmp_path / "by", steps=4, ckpt_every=2, best_by="eval/cluster_error")
    trainer.evaluate, trainer.eval_settings = _ScriptedScore([0.5, 0.9], "eval/mutual_information"), EvalSettings(every=2)
    assert trainer.fit().best["step"] == 2  # the error (0.5, 0.5) ties: the first is kept; MI is not consulted
    off = make_trainer(tmp_path / "off", steps=4, ckpt_every=2, best_by="none")
    off.evaluate, off.eval_settings = _ScriptedScore([0.5, 0.9]), EvalSettings(every=2)
    assert off.fit().best is None and not (tmp_path / "off" / "checkpoints" / "best.pt").exists()


def test_a_best_by_the_evaluation_does_not_report_is_said_once_and_training_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gantrain.training.settings import EvalSettings

    trainer = make_trainer(tmp_path / "run", steps=6, ckpt_every=2, best_by="eval/recall")
    trainer.evaluate, trainer.eval_settings = _ScriptedScore([0.5, 0.9, 0.7]), EvalSettings(every=2)
    result = trainer.fit()
    assert result.step == 6 and result.best is None and not (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    said = " ".join(capsys.readouterr().out.split())
    assert (
        said.count("train.best_by=eval/recall: this run's evaluation reports eval/cluster_error, eval/mutual_information, not eval/recall")
        == 1
    ), said


def test_a_best_by_that_no_evaluation_can_give_is_refused_before_training(tmp_path: Path) -> None:
    from gantrain.core.errors import ConfigError
    from gantrain.training.settings import TrainSettings

    with pytest.raises(ConfigError, match="train.best_by=eval/fidd is not a metric gantrain computes: choose one of .*eval/fid"):
        TrainSettings(best_by="eval/fidd")
    with pytest.raises(ConfigError, match="this run evaluates none: set eval.every=N"):
        make_trainer(tmp_path / "run", steps=4, best_by="eval/fid").fit()
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before the first step


def test_without_a_label_free_score_no_best_checkpoint_is_kept(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=4, ckpt_every=2)
    assert trainer.fit().best is None
    assert not (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    assert "best" not in json.loads((tmp_path / "run" / "summary.json").read_text())


def test_lost_game_watch_says_once_when_d_fake_stays_low_and_again_only_after_a_sustained_recovery() -> None:
    from gantrain.losses.lost_game import LostGameWatch

    watch = LostGameWatch(threshold=0.01, steps=100)
    said = {step: watch.update(step, value) for step, value in [(50, 0.3), (100, None), (150, 0.005), (200, 0.001), (249, 0.002)]}
    assert set(said.values()) == {None}  # low for 99 steps, and a log without d/fake changes nothing
    assert watch.update(250, 0.001) == 150  # 100 steps under 0.01: said, naming where the fall began
    assert watch.update(300, 0.02) is None and watch.update(350, 0.0) is None  # a flicker above is no recovery
    assert watch.update(500, 0.0) is None  # still lost: not said twice
    assert [watch.update(step, 0.2) for step in (550, 600, 650)] == [None] * 3  # back for 100 steps: re-armed
    assert watch.update(700, 0.001) is None and watch.update(800, 0.001) == 700  # a second fall is news again


def test_a_run_whose_d_rejects_every_sample_says_g_may_have_lost_the_game(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from gantrain.losses import lost_game

    monkeypatch.setattr(lost_game, "LOST_GAME_STEPS", 4)
    monkeypatch.setattr(lost_game, "LOST_GAME_D_FAKE", 1.01)  # every D(G(z)) is below it: the run "has lost"
    make_trainer(tmp_path / "lost", steps=12, log_every=2).fit()
    lines = [line for line in capsys.readouterr().out.splitlines() if "lost the game" in line]
    assert len(lines) == 1 and "since step 2" in lines[0] and "optim.lr" in lines[0], lines

    monkeypatch.setattr(lost_game, "LOST_GAME_D_FAKE", 0.0)  # nothing is below 0: a healthy run says nothing
    make_trainer(tmp_path / "fine", steps=12, log_every=2).fit()
    assert "lost the game" not in capsys.readouterr().out
