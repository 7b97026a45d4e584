"""A full disk, for real: each test trains into a small tmpfs and fills it to the last byte at a chosen
moment (before a checkpoint, a sample grid, a TensorBoard flush, an evaluation's metrics line, a task's
pictures), then checks what the user is told and what is left on the disk. Skipped where mounting a tmpfs
is not allowed."""

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_GAN, fill_disk, make_trainer, run_cli

from gantrain.core.errors import CheckpointError, OutputError
from gantrain.metrics.evaluation import Evaluator
from gantrain.training.checkpoint import load_checkpoint
from gantrain.training.monitor import Monitor


def _fill_after_first_save(trainer, disk: Path) -> None:
    """The disk fills right after the trainer's first checkpoint."""
    save = trainer.save

    def save_then_fill(keep_as=None):
        path = save(keep_as=keep_as)
        if not (disk / ".filler").exists():
            fill_disk(disk)
        return path

    trainer.save = save_then_fill


def test_a_full_disk_while_checkpointing_leaves_the_previous_checkpoint(small_disk) -> None:
    disk = small_disk(8 << 20)
    trainer = make_trainer(disk / "run", steps=8, ckpt_every=3, sample_every=1000)  # (the last step draws samples first)
    _fill_after_first_save(trainer, disk)
    with pytest.raises(CheckpointError) as caught:
        trainer.fit()
    message = str(caught.value)
    assert "cannot write checkpoint" in message and "step_0000006.pt (No space left on device)" in message
    assert "the previous checkpoint" in message and "last.pt is intact" in message
    assert f"resume with: gantrain train.resume={disk / 'run'}" in message
    folder = disk / "run" / "checkpoints"
    assert load_checkpoint(folder / "last.pt")["step"] == 3
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "step_0000003.pt"]  # nothing half-written
    # where the run stopped is on record (the failed write's space came back when its temporary file went)
    assert json.loads((disk / "run" / "summary.json").read_text())["finished"] is False


def test_a_full_disk_while_writing_samples_is_one_clear_error(small_disk) -> None:
    disk = small_disk(8 << 20)
    trainer = make_trainer(disk / "run", steps=6, sample_every=3, ckpt_every=2)
    _fill_after_first_save(trainer, disk)
    with pytest.raises(OutputError) as caught:
        trainer.fit()
    message = str(caught.value)
    assert "cannot write samples" in message and "step_0000003.png (No space left on device)" in message
    assert "the checkpoints up to" in message and "last.pt are intact" in message and "resume with" in message
    assert not list((disk / "run" / "samples").glob("*.png")) and not list((disk / "run" / "samples").glob(".*"))
    assert load_checkpoint(disk / "run" / "checkpoints" / "last.pt")["step"] == 2


class _Constant(Evaluator):
    name = "eval/constant"

    def __call__(self, nets):
        return {"eval/constant": 1.0}


def test_a_full_disk_while_recording_metrics_keeps_the_earlier_lines(small_disk) -> None:
    from gantrain.training.settings import EvalSettings

    disk = small_disk(8 << 20)
    trainer = make_trainer(disk / "run", steps=6, ckpt_every=2, sample_every=1000)
    trainer.evaluate, trainer.eval_settings = _Constant(), EvalSettings(every=1)
    _fill_after_first_save(trainer, disk)
    with pytest.raises(OutputError, match=r"cannot write metrics .*metrics.jsonl \(No space left on device\)"):
        trainer.fit()
    lines = (disk / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]  # whole lines only, none lost


def test_a_full_disk_under_tensorboard_is_one_error_and_no_thread_traceback(small_disk, capfd) -> None:
    disk = small_disk(1 << 20)
    log = Monitor(disk / "tb", total_steps=10, show_progress=False)
    fill_disk(disk)
    with pytest.raises(OutputError, match=r"cannot write TensorBoard events in .*tb \(No space left on device\)"):
        for step in range(5000):  # until the writer's buffer goes to the disk
            log.scalars(step, {"loss/d": 1.0, "loss/g": torch.tensor(2.0)})
    log.close()
    assert "Traceback" not in capfd.readouterr().err  # TensorBoard's writer thread says nothing of its own


def test_a_full_disk_before_any_checkpoint_through_the_command(small_disk) -> None:
    """The whole command on a disk too small for the first checkpoint: one line, exit 1, no traceback,
    no advice to resume a run that cannot be resumed, and no folder left that looks like a run but holds
    nothing to resume."""
    disk = small_disk(600 << 10)
    run = disk / "my run (1)"
    done = run_cli(
        *TINY_GAN,
        "model.generator.hidden=[256,256]",
        "train.steps=4",
        "train.ckpt_every=4",
        "eval.every=0",
        f"hydra.run.dir='{run}'",
        cwd=disk,
    )
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: cannot write checkpoint"), done.stderr
    assert "No space left on device" in errors[0] and "cannot be resumed" in errors[0] and "train.resume" not in errors[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert not run.exists(), list(run.rglob("*"))


def test_a_task_on_a_full_disk_is_one_line(small_disk, tmp_path: Path) -> None:
    disk = small_disk(4 << 20)
    run = disk / "run"
    assert run_cli(*TINY_GAN, "train.steps=2", "eval.every=0", f"hydra.run.dir={run}", cwd=tmp_path).returncode == 0
    fill_disk(disk)
    done = run_cli("task=sample", f"run={run}", "n=16", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().startswith("error: cannot write") and "No space left on device" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not [p for p in (run / "sample").rglob("*") if p.is_file()]  # no half-written picture


def test_sample_npy_larger_than_the_disk_is_refused_before_writing(small_disk, tmp_path: Path) -> None:
    """task=sample npy=true on a disk without room for the array: one line naming the sizes and output=,
    exit 2, and neither the grid nor a partial .npy left behind."""
    assert run_cli(*TINY_GAN, "train.steps=2", "eval.every=0", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    disk = small_disk(1 << 20)
    done = run_cli("task=sample", "run=run", "n=5000", "npy=true", f"output={disk / 'out'}", cwd=tmp_path)  # 5000 x 784 bytes
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: npy=true: the images take 3.7 MiB, but "), done.stderr
    assert "free: lower n, or write elsewhere with output=FOLDER" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (disk / "out").exists()


def test_a_read_only_working_folder_is_one_line_naming_the_fix(small_disk, tmp_path: Path) -> None:
    """Started from a folder that cannot be written (a read-only share): the default outputs/ cannot be
    made. One line that says so and names hydra.run.dir, not Hydra's "while resolving interpolation"."""
    read_only = small_disk(1 << 20, read_only=True)
    done = run_cli(*TINY_GAN, "train.steps=2", cwd=read_only)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "interpolation" not in lines[0], done.stderr
    assert lines[0].startswith("error: cannot create or write outputs (Read-only file system)") and "hydra.run.dir=" in lines[0]


def test_a_read_only_cache_names_gantrain_cache(small_disk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scores need the offline classifier, trained once and kept in $GANTRAIN_CACHE: a cache that cannot
    be written is named with the variable that moves it."""
    read_only = small_disk(1 << 20, read_only=True)
    monkeypatch.setenv("GANTRAIN_CACHE", str(read_only / "cache"))
    done = run_cli(*TINY_GAN, "train.steps=2", "eval.n=100", "eval.every=2", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "set GANTRAIN_CACHE to a folder you can write" in lines[0], done.stderr
    assert not (tmp_path / "run").exists()
