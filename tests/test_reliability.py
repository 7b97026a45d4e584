"""Issue 7's promises, each shown by injecting the fault: NaN losses, damaged checkpoints, a full disk,
kills at any moment, pre-emption, concurrent runs. docs/reliability.md lists them with these tests."""

import errno
import json
import os
from pathlib import Path

import pytest
import torch

from conftest import make_trainer
from gantrain.checkpoint import DamagedCheckpoint, load_checkpoint, load_resumable, save_checkpoint
from gantrain.errors import CheckpointError, OutputError
from gantrain.training import NonFiniteLoss


def _poison(trainer, at_steps: set[int], times: int = 1) -> list[int]:
    """Make G's loss NaN when the trainer is at one of `at_steps` (the first `times` times). Returns the log of poisonings."""
    original = trainer.objective.generator_step
    poisoned: list[int] = []

    def step(G, D, batch, latent):
        terms = original(G, D, batch, latent)
        if trainer.step in at_steps and len(poisoned) < times:
            poisoned.append(trainer.step)
            return type(terms)(terms.loss * float("nan"), {**terms.logs, "loss/g": terms.logs["loss/g"] * float("nan")})
        return terms

    trainer.objective.generator_step = step
    return poisoned


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=8, ckpt_every=2, log_every=4)
    _poison(trainer, {4})  # the 5th generator step
    with pytest.raises(NonFiniteLoss, match=r"loss/g became NaN or Inf at step 5; the last good checkpoint .*last.pt is kept"):
        trainer.fit()
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["step"] == 4
    assert all(torch.isfinite(t).all() for t in state["generator"].values())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["finished"] is False


def test_nan_rollback_reloads_the_checkpoint_lowers_the_learning_rate_and_finishes(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=8, ckpt_every=2, nan_policy="rollback", nan_lr_factor=0.5)
    lr = trainer.opt_g.param_groups[0]["lr"]
    poisoned = _poison(trainer, {4})
    result = trainer.fit()
    assert poisoned == [4] and result.step == 8
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(lr * 0.5)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(lr * 0.5)
    assert all(torch.isfinite(p).all() for p in trainer.G.parameters())
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["opt_g"]["param_groups"][0]["lr"] == pytest.approx(lr * 0.5)


def test_nan_rollback_gives_up_after_the_retries(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=8, ckpt_every=2, nan_policy="rollback", nan_retries=2)
    poisoned = _poison(trainer, {4}, times=99)  # NaN every time step 5 is tried
    with pytest.raises(NonFiniteLoss, match="at step 5 after 2 rollbacks"):
        trainer.fit()
    assert poisoned == [4, 4, 4]


def test_rollback_before_any_checkpoint_returns_to_the_start(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=4, ckpt_every=100, nan_policy="rollback")
    start = [p.detach().clone() for p in trainer.G.parameters()]
    poisoned = _poison(trainer, {1})
    assert trainer.fit().step == 4 and poisoned == [1]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "step_0000000.pt")["step"] == 0
    assert any(not torch.equal(a, b) for a, b in zip(start, trainer.G.parameters()))


def test_nan_weights_never_reach_a_checkpoint(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=6, ckpt_every=3)
    original = trainer.opt_g.step

    def corrupting_step(*args, **kwargs):  # an update that leaves a NaN in G's weights at the 3rd step
        out = original(*args, **kwargs)
        if trainer.step == 2:
            with torch.no_grad():
                next(trainer.G.parameters()).view(-1)[0] = float("inf")
        return out

    trainer.opt_g.step = corrupting_step
    with pytest.raises(NonFiniteLoss, match="the weights of G became NaN or Inf at step 3; no checkpoint had been written"):
        trainer.fit()
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def _flip_a_weight_byte(path: Path, marker: torch.Tensor) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(marker.numpy().tobytes())
    assert at > 0
    data[at + 1] ^= 0x40
    path.write_bytes(bytes(data))  # in place: the same file (and inode)


def test_a_flipped_bit_is_caught_by_the_checksum(tmp_path: Path) -> None:
    marker = torch.full((16,), 1234.5)
    save_checkpoint({"step": 1, "generator": {"w": marker}}, tmp_path / "c.pt")
    assert torch.equal(load_checkpoint(tmp_path / "c.pt")["generator"]["w"], marker)
    _flip_a_weight_byte(tmp_path / "c.pt", marker)
    assert not torch.equal(torch.load(tmp_path / "c.pt", weights_only=True)["generator"]["w"], marker)  # torch reads it...
    with pytest.raises(DamagedCheckpoint, match=r"c.pt is damaged: its contents do not match its checksum"):
        load_checkpoint(tmp_path / "c.pt")  # ...gantrain does not


def test_a_damaged_last_checkpoint_falls_back_to_the_one_before(tmp_path: Path) -> None:
    make_trainer(tmp_path / "run", steps=6, ckpt_every=2).fit()
    folder = tmp_path / "run" / "checkpoints"
    last = folder / "last.pt"
    assert last.samefile(folder / "step_0000006.pt")
    last.write_bytes(last.read_bytes()[:1000])  # truncated in place: step_0000006.pt (the same file) too
    state, used, notes = load_resumable(last)
    assert used.name == "step_0000004.pt" and state["step"] == 4
    assert len(notes) == 1 and "last.pt is damaged" in notes[0]
    for name in ("step_0000004.pt", "step_0000002.pt"):
        (folder / name).write_bytes(b"garbage")
    with pytest.raises(DamagedCheckpoint, match="no intact checkpoint is left"):
        load_resumable(last)


def test_a_full_disk_while_checkpointing_leaves_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = make_trainer(tmp_path / "run", steps=6, ckpt_every=3)
    real_save = torch.save
    calls = []

    def fills_the_disk(obj, f, *args, **kwargs):  # the second checkpoint's write runs out of space half-way
        calls.append(1)
        if len(calls) == 2:
            f.write(b"x" * 100)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fills_the_disk)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*step_0000006.pt \(No space left on device\); the previous checkpoint .*last.pt is intact"):
        trainer.fit()
    folder = tmp_path / "run" / "checkpoints"
    assert load_checkpoint(folder / "last.pt")["step"] == 3
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "step_0000003.pt"]  # nothing half-written


def test_a_full_disk_while_writing_samples_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.utils

    trainer = make_trainer(tmp_path / "run", steps=6, sample_every=3, ckpt_every=2)

    def fills_the_disk(grid, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torchvision.utils, "save_image", fills_the_disk)
    with pytest.raises(OutputError, match=r"cannot write samples .*step_0000003.png \(No space left on device\); checkpoints up to .*last.pt are intact"):
        trainer.fit()
    assert not list((tmp_path / "run" / "samples").glob("*.png"))
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 2


def test_stale_temporary_files_of_a_killed_write_are_cleared(tmp_path: Path) -> None:
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    save_checkpoint({"step": 1}, tmp_path / "last.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
