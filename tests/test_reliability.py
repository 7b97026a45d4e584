"""Issue 7's promises, each shown by injecting the fault: NaN losses, damaged checkpoints, a full disk,
kills at any moment, pre-emption, concurrent runs. docs/reliability.md lists them with these tests."""

import errno
import json
import os
from pathlib import Path

import pytest
import torch
from conftest import make_trainer

from gantrain.core.errors import RunBusy
from gantrain.training.checkpoint import DamagedCheckpoint, hold_run, load_checkpoint, load_resumable, save_checkpoint
from gantrain.training.loop import NonFiniteLoss


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
    assert all(torch.isfinite(t).all() for t in state["networks"]["generator"].values())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["finished"] is False


def test_nan_rollback_reloads_the_checkpoint_lowers_the_learning_rate_and_finishes(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=8, ckpt_every=2, nan_policy="rollback", nan_lr_factor=0.5)
    lr = trainer.optimizers["generator"].param_groups[0]["lr"]
    poisoned = _poison(trainer, {4})
    result = trainer.fit()
    assert poisoned == [4] and result.step == 8
    assert trainer.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(lr * 0.5)
    assert trainer.optimizers["discriminator"].param_groups[0]["lr"] == pytest.approx(lr * 0.5)
    assert all(torch.isfinite(p).all() for p in trainer.nets["generator"].parameters())
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["optimizers"]["generator"]["param_groups"][0][
        "lr"
    ] == pytest.approx(lr * 0.5)


def test_nan_rollback_gives_up_after_the_retries(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=8, ckpt_every=2, nan_policy="rollback", nan_retries=2)
    poisoned = _poison(trainer, {4}, times=99)  # NaN every time step 5 is tried
    with pytest.raises(NonFiniteLoss, match="at step 5 after 2 rollbacks"):
        trainer.fit()
    assert poisoned == [4, 4, 4]


def test_rollback_before_any_checkpoint_returns_to_the_start(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=4, ckpt_every=100, nan_policy="rollback")
    start = [p.detach().clone() for p in trainer.nets["generator"].parameters()]
    poisoned = _poison(trainer, {1})
    assert trainer.fit().step == 4 and poisoned == [1]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "step_0000000.pt")["step"] == 0
    assert any(not torch.equal(a, b) for a, b in zip(start, trainer.nets["generator"].parameters()))


def test_nan_weights_never_reach_a_checkpoint(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", steps=6, ckpt_every=3)
    original = trainer.optimizers["generator"].step

    def corrupting_step(*args, **kwargs):  # an update that leaves a NaN in G's weights at the 3rd step
        out = original(*args, **kwargs)
        if trainer.step == 2:
            with torch.no_grad():
                weight = next(trainer.nets["generator"].parameters())  # any layout (channels-last on AVX-512)
                weight[(0,) * weight.dim()] = float("inf")
        return out

    trainer.optimizers["generator"].step = corrupting_step
    with pytest.raises(NonFiniteLoss, match="the weights of the generator became NaN or Inf at step 3; no checkpoint had been written"):
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


# a full disk (checkpoints, samples, metrics, TensorBoard, tasks): for real, on a tmpfs, in tests/test_full_disk.py


def test_stale_temporary_files_of_a_killed_write_are_cleared(tmp_path: Path) -> None:
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    save_checkpoint({"step": 1}, tmp_path / "last.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


# ----- through the command, as a user or a scheduler would do it ------------------------------------
import random  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from conftest import ROOT, TINY_GAN, run_cli  # noqa: E402

LONG = [*TINY_GAN, "device=cpu", "seed=11", "train.log_every=10", "train.sample_every=1000", "train.ckpt_every=20"]


def _start(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "gantrain", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _steps(folder: Path) -> list[int]:
    return sorted(int(p.stem.split("_")[1]) for p in folder.glob("step_*.pt"))


def _wait_for_checkpoint_after(process: subprocess.Popen, folder: Path, step: int, timeout: float = 120) -> int:
    """Poll until a periodic checkpoint past `step` exists; its step (or -1 if the run ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        newer = [s for s in _steps(folder) if s > step]
        if newer:
            return max(newer)
        time.sleep(0.005)
    return -1


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    steps = 400
    assert run_cli(*LONG, f"train.steps={steps}", "hydra.run.dir=straight", cwd=tmp_path).returncode == 0
    folder = tmp_path / "killed" / "checkpoints"
    rng = random.Random(0)
    args = [*LONG, f"train.steps={steps}", "hydra.run.dir=killed"]
    seen, kills = 0, 0
    for attempt in range(12):
        process = _start(*args, cwd=tmp_path)
        if kills < 2:
            reached = _wait_for_checkpoint_after(process, folder, seen)
            if reached > 0:
                time.sleep(rng.uniform(0.0, 0.05))  # somewhere in the next steps, or in a checkpoint write
                process.send_signal(signal.SIGKILL)
                kills += 1
        out, err = process.communicate(timeout=240)
        if process.returncode == 0:
            break
        assert process.returncode == -signal.SIGKILL, err
        last = load_checkpoint(folder / "last.pt")["step"]
        assert last >= seen and last % 20 == 0  # at most train.ckpt_every steps lost, never an earlier state
        seen = last
        args = ["train.resume=killed", f"train.steps={steps}"]
    assert kills == 2 and process.returncode == 0, err
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(folder / "last.pt")
    assert a["step"] == b["step"] == steps
    for net in ("generator", "discriminator"):
        for key in a["networks"][net]:
            assert torch.equal(a["networks"][net][key], b["networks"][net][key]), (net, key)


def test_sigkill_in_the_middle_of_a_checkpoint_write_keeps_the_previous_one(tmp_path: Path) -> None:
    script = f"""
import os, signal, sys
from pathlib import Path
import torch
sys.path.insert(0, {str(ROOT / "tests")!r})
from conftest import make_trainer
trainer = make_trainer(Path({str(tmp_path / "run")!r}), steps=6, ckpt_every=2)
import gantrain.training.checkpoint
real, calls = gantrain.training.checkpoint.write_streamed, []
def dies_half_way(path, what, make):
    calls.append(1)
    if len(calls) == 2:  # the second checkpoint: half of its bytes reach the file, then the process is killed
        write = os.write
        def half(fd, chunk):
            write(fd, bytes(chunk[: len(chunk) // 2])); os.kill(os.getpid(), signal.SIGKILL)
        os.write = half
    return real(path, what, make)
gantrain.training.checkpoint.write_streamed = dies_half_way
trainer.fit()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    folder = tmp_path / "run" / "checkpoints"
    assert load_checkpoint(folder / "last.pt")["step"] == 2
    assert list(folder.glob(".*.tmp"))  # the half-written file, never renamed into place
    resumed = make_trainer(tmp_path / "run", steps=6, ckpt_every=2)
    state, used, notes = load_resumable(folder / "last.pt")
    resumed.load_state_dict(state, used)
    resumed.fit()
    assert not list(folder.glob(".*.tmp"))  # cleared by the next write
    straight = make_trainer(tmp_path / "straight", steps=6, ckpt_every=2)
    straight.fit()
    for a, b in zip(straight.nets["generator"].parameters(), resumed.nets["generator"].parameters()):
        assert torch.equal(a, b)


def test_sigterm_writes_a_checkpoint_says_how_to_resume_and_exits_143(tmp_path: Path) -> None:
    process = _start(*LONG, "train.steps=1000000", "hydra.run.dir=run", cwd=tmp_path)
    assert _wait_for_checkpoint_after(process, tmp_path / "run" / "checkpoints", 0) > 0
    process.send_signal(signal.SIGTERM)  # what SLURM and Kubernetes send before pre-empting a job
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    step = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"]
    assert lines[0] == f"error: interrupted at step {step}; checkpoint run/checkpoints/last.pt. Resume with: gantrain train.resume=run"
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["finished"] is False
    result = run_cli("train.resume=run", f"train.steps={step + 2}", cwd=tmp_path)
    assert result.returncode == 0 and f"resumed from step {step}" in result.stdout, result.stderr


def test_a_damaged_last_checkpoint_is_named_and_the_run_resumes_from_the_one_before(tmp_path: Path) -> None:
    assert run_cli(*LONG, "train.steps=60", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, in place
    last.write_bytes(bytes(data))
    result = run_cli("train.resume=run", "train.steps=70", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "last.pt is damaged" in result.stdout and "resuming from run/checkpoints/step_0000040.pt instead" in result.stdout
    assert "resumed from step 40" in result.stdout
    assert load_checkpoint(last)["step"] == 70


def test_runs_started_together_get_their_own_folders(tmp_path: Path) -> None:
    same = "hydra.run.dir=${gantrain_run_dir:outputs/same}"  # the default's mechanism, with one name for both
    processes = [_start(*TINY_GAN, "device=cpu", "train.steps=2", same, cwd=tmp_path) for _ in range(2)]
    for p in processes:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    folders = sorted(p.name for p in (tmp_path / "outputs").iterdir())
    assert folders == ["same", "same-1"]
    for name in folders:
        assert load_checkpoint(tmp_path / "outputs" / name / "checkpoints" / "last.pt")["step"] == 2


def test_a_new_run_never_overwrites_an_existing_run_folder(tmp_path: Path) -> None:
    assert run_cli(*TINY_GAN, "device=cpu", "train.steps=2", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    config = (tmp_path / "run" / ".hydra" / "config.yaml").read_text()
    before = (tmp_path / "run" / "checkpoints" / "last.pt").read_bytes()
    result = run_cli(*TINY_GAN, "device=cpu", "train.steps=4", "seed=3", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2 and "run already holds a run: continue it with: gantrain train.resume=run" in result.stderr
    assert (tmp_path / "run" / "checkpoints" / "last.pt").read_bytes() == before
    assert (tmp_path / "run" / ".hydra" / "config.yaml").read_text() == config
    assert sorted(p.name for p in (tmp_path / "run" / ".hydra").iterdir()) == ["config.yaml", "hydra.yaml", "overrides.yaml"]


def test_a_run_being_trained_is_not_trained_by_a_second_process_too(tmp_path: Path) -> None:
    """The same resume started twice (two terminals, a requeued job while the first still runs): the
    second is refused in one line, before any work, and leaves the run's files and records as they were."""
    assert run_cli(*TINY_GAN, "device=cpu", "train.steps=2", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    run = tmp_path / "run"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with hold_run(run):  # this test process plays the first trainer
        result = run_cli("train.resume=run", "train.steps=4", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: run is being trained by another gantrain process: let it finish or stop it, then resume with: gantrain train.resume=run"
    ]
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # its own record removed, nothing else touched
    result = run_cli("train.resume=run", "train.steps=4", cwd=tmp_path)  # once the first has stopped
    assert result.returncode == 0 and "resumed from step 2" in result.stdout, result.stderr


def test_the_run_lock_is_held_while_training_and_released_after(tmp_path: Path) -> None:
    with hold_run(tmp_path / "run"):
        with pytest.raises(RunBusy, match="is being trained by another gantrain process"):
            with hold_run(tmp_path / "run"):
                pass
    with hold_run(tmp_path / "run"):  # released when the holder leaves, also after an error inside
        pass
    with pytest.raises(ValueError), hold_run(tmp_path / "run"):
        raise ValueError
    with hold_run(tmp_path / "run"):
        pass
    assert [p.name for p in (tmp_path / "run").iterdir()] == []  # no lock file left behind


def test_a_file_system_without_locks_trains_unlocked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gantrain.training.checkpoint as checkpoint

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")  # what some network mounts answer

    monkeypatch.setattr(checkpoint.fcntl, "flock", no_locks)
    with hold_run(tmp_path / "run"), hold_run(tmp_path / "run"):  # neither refused: no lock to tell them apart
        pass


# ----- faulty data -----------------------------------------------------------------------------------
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gantrain.core.errors import ConfigError, DataError  # noqa: E402
from gantrain.data.folder import ImageFolder  # noqa: E402


def _folder_with_broken_images(root: Path, good: int = 10, mode: str = "L") -> list[Path]:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(good):
        shape = (28, 28) if mode == "L" else (28, 28, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / f"img{i:02d}.png")
    whole = (root / "img00.png").read_bytes()
    broken = [root / "img03_truncated.png", root / "img07_garbage.png"]
    broken[0].write_bytes(whole[: len(whole) // 2])  # a copy cut short, as by an interrupted download
    broken[1].write_bytes(b"this is not an image at all")
    return broken


def test_on_error_raise_names_the_file_and_the_way_out(tmp_path: Path) -> None:
    broken = _folder_with_broken_images(tmp_path / "images")
    data = ImageFolder(str(tmp_path / "images"), image_size=28, channels=1)
    index = [p.name for p in sorted((tmp_path / "images").iterdir())].index(broken[0].name)
    with pytest.raises(DataError, match=r"cannot read image .*img03_truncated.png .*delete or replace the file, or set data.on_error=skip"):
        data[index]
    with pytest.raises(ConfigError, match="data.on_error must be skip or raise"):
        ImageFolder(str(tmp_path / "images"), on_error="ignore")


@pytest.mark.parametrize("workers", [0, 2])
def test_on_error_skip_trains_on_counts_and_lists_the_unreadable_files(tmp_path: Path, workers: int) -> None:
    broken = _folder_with_broken_images(tmp_path / "images")
    data = ImageFolder(str(tmp_path / "images"), image_size=28, channels=1, on_error="skip")
    trainer = make_trainer(tmp_path / "run", data=data, steps=4, batch_size=12, log_every=2, num_workers=workers)
    result = trainer.fit()  # 48 images drawn from 12 files: every file is met
    assert result.step == 4 and result.metrics["data/skipped"] == 2
    listed = (tmp_path / "run" / "skipped_images.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == sorted(str(p) for p in broken)
    assert all(line.split("\t")[1] for line in listed)  # each with its reason


def test_grey_images_for_a_colour_model_are_converted_and_said_once(tmp_path: Path) -> None:
    _folder_with_broken_images(tmp_path / "grey", good=3)
    data = ImageFolder(str(tmp_path / "grey"), image_size=16, channels=3, on_error="skip")
    assert data.notice is not None and "converted to RGB" in data.notice and "data.channels=1" in data.notice
    image, _ = data[0]
    assert image.shape == (3, 16, 16) and torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
    _folder_with_broken_images(tmp_path / "colour", good=3, mode="RGB")
    assert ImageFolder(str(tmp_path / "colour"), image_size=16, channels=3, on_error="skip").notice is None


def test_a_truncated_lmdb_is_one_clear_error(tmp_path: Path) -> None:
    import lmdb

    from gantrain.data.lsun import LSUN

    path = tmp_path / "bedroom_train_lmdb"
    env = lmdb.open(str(path), map_size=1 << 24)
    rng = np.random.default_rng(0)
    with env.begin(write=True) as txn:
        for i in range(50):
            buffer = __import__("io").BytesIO()
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buffer, format="PNG")
            txn.put(f"{i:04d}".encode(), buffer.getvalue())
    env.close()
    whole = (path / "data.mdb").read_bytes()
    (path / "data.mdb").write_bytes(whole[: len(whole) // 3])  # a copy cut short
    with pytest.raises(DataError, match=r"bedroom_train_lmdb/data.mdb is truncated .* copy or download it again"):
        data = LSUN(str(tmp_path), classes="bedroom_train", image_size=16)
        for i in range(len(data)):
            data[i]


def test_a_checkpoint_whose_config_would_build_foreign_code_is_refused(tmp_path: Path) -> None:
    assert run_cli(*TINY_GAN, "device=cpu", "train.steps=2", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    marker = tmp_path / "pwned"
    state["config"] = state["config"].replace(
        "_target_: gantrain.models.gan.MLPGenerator", f"_target_: os.system\n    _args_: ['touch {marker}']", 1
    )
    assert "os.system" in state["config"]
    del state["sha256"], state["format_version"]
    save_checkpoint(state, last)  # a validly written checkpoint: only its config is hostile
    for args in (["train.resume=run", "train.steps=4"], ["task=sample", "run=run"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stdout
        assert "asks to build 'os.system' at model.generator; gantrain builds only its own classes" in result.stderr
    assert not marker.exists()


def test_sighup_when_the_terminal_closes_checkpoints_and_exits_129(tmp_path: Path) -> None:
    """The ssh session drops or the terminal window is shut: the run checkpoints as for Ctrl-C."""
    process = _start(*LONG, "train.steps=1000000", "hydra.run.dir=run", cwd=tmp_path)
    assert _wait_for_checkpoint_after(process, tmp_path / "run" / "checkpoints", 0) > 0
    process.send_signal(signal.SIGHUP)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 129, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted at step") and "Traceback" not in err, err
    step = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"]
    assert f"interrupted at step {step};" in lines[0]


def test_a_reader_that_goes_away_does_not_stop_the_run(tmp_path: Path) -> None:
    """`gantrain ... | head -1`: the pipe closes after the first line; the run goes on to the end, quietly,
    and its results are whole."""
    reader = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    env = {**os.environ, "COLUMNS": "200"}
    args = [*LONG, "train.steps=60", "train.log_every=1", "hydra.run.dir=run"]
    process = subprocess.Popen(
        [sys.executable, "-m", "gantrain", *args], cwd=tmp_path, env=env, stdout=reader.stdin, stderr=subprocess.PIPE, text=True
    )
    reader.stdin.close()  # (only the two processes hold the pipe; head exits after one byte)
    _, err = process.communicate(timeout=300)
    reader.wait(timeout=10)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and not err.strip(), err
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 60
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["finished"] is True


def test_a_new_run_that_diverges_before_its_first_checkpoint_leaves_no_folder(tmp_path: Path) -> None:
    """A finite but absurd learning rate: NaN within a few steps, before any checkpoint. One line, and no
    folder that looks like a run (tb/, summary.json) but has nothing to resume."""
    result = run_cli(*LONG, "optim.lr=1e30", "train.steps=50", "train.ckpt_every=50", "hydra.run.dir=out/run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "became NaN or Inf" in lines[0] and "no checkpoint had been written" in lines[0], result.stderr
    assert "lower optim.lr" in lines[0]
    assert not (tmp_path / "out" / "run").exists(), list((tmp_path / "out").rglob("*"))
