"""Nothing newer is lost without a word: resuming from anything but a run's newest checkpoint continues in
a new folder (the run it came from is left byte for byte as it was); an empty value is refused; a kill in
the middle of writing a sample grid leaves no truncated picture."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY_GAN, run_cli
from PIL import Image

from gantrain.training.checkpoint import load_checkpoint

SHORT = [*TINY_GAN, "device=cpu", "eval.every=0", "train.log_every=5"]


def _fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder` (but the lock-free .hydra records) by its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("rewind")
    done = run_cli(
        *SHORT, "train.steps=30", "train.ckpt_every=10", "train.sample_every=10", "train.keep_ckpts=0", "hydra.run.dir=run", cwd=where
    )
    assert done.returncode == 0, done.stderr
    return where / "run"


@pytest.mark.parametrize("older", ["checkpoints/step_0000010.pt", "checkpoints/step_0000020.pt", "copy.pt"])
def test_resuming_from_an_older_checkpoint_continues_in_a_new_folder(finished_run: Path, tmp_path: Path, older: str) -> None:
    run = tmp_path / "run"
    subprocess.run(["cp", "-a", str(finished_run), str(run)], check=True)
    if older == "copy.pt":  # a loose copy of a checkpoint, outside any run's checkpoints/
        subprocess.run(["cp", str(run / "checkpoints" / "step_0000020.pt"), str(tmp_path / "copy.pt")], check=True)
        source = tmp_path / "copy.pt"
    else:
        source = run / older
    before = _fingerprint(run)
    done = run_cli(f"train.resume={source}", "train.steps=40", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _fingerprint(run) == before  # the newer checkpoints, samples, curves: untouched
    assert "continues in the new folder" in done.stdout + done.stderr
    new = [p for p in (tmp_path / "outputs").glob("*/*") if p.is_dir()]
    assert len(new) == 1
    assert load_checkpoint(new[0] / "checkpoints" / "last.pt")["step"] == 40
    # and the new folder is a run like any other: it resumes in place
    again = run_cli(f"train.resume={new[0]}", "train.steps=45", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert load_checkpoint(new[0] / "checkpoints" / "last.pt")["step"] == 45
    assert len([p for p in (tmp_path / "outputs").glob("*/*") if p.is_dir()]) == 1


@pytest.mark.parametrize("name", ["run", "run/checkpoints", "run/checkpoints/last.pt"])
def test_resuming_from_the_newest_checkpoint_continues_in_place(finished_run: Path, tmp_path: Path, name: str) -> None:
    subprocess.run(["cp", "-a", str(finished_run), str(tmp_path / "run")], check=True)
    done = run_cli(f"train.resume={tmp_path / name}", "train.steps=35", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 35
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "run" / "checkpoints" / "checkpoints").exists()


@pytest.mark.parametrize("override", ["train.resume=", "data.root=", "run=", "model.z_dim=", "train.steps= ", "hydra.run.dir="])
def test_an_empty_value_is_refused_before_any_work(tmp_path: Path, override: str) -> None:
    done = run_cli(*SHORT, "train.steps=2", override, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {override.strip()} has no value"), done.stderr
    assert not list(tmp_path.iterdir())  # no run folder, no outputs/


def test_a_kill_in_the_middle_of_writing_samples_leaves_no_truncated_picture(tmp_path: Path) -> None:
    script = f"""
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {str(ROOT / "tests")!r})
from conftest import make_trainer
import gantrain.core.files
trainer = make_trainer(Path({str(tmp_path / "run")!r}), steps=9, sample_every=3, ckpt_every=3)
real, calls = gantrain.core.files.write_bytes, []
def dies_half_way(path, data, what):
    if what == "samples":
        calls.append(1)
        if len(calls) == 2:  # the second grid: half of its bytes reach the disk, then the process is killed
            write = os.write
            def half(fd, chunk):
                write(fd, bytes(chunk[: len(chunk) // 2])); os.kill(os.getpid(), signal.SIGKILL)
            os.write = half
    return real(path, data, what)
gantrain.core.files.write_bytes = dies_half_way
trainer.fit()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    pictures = sorted((tmp_path / "run" / "samples").glob("step_*.png"))
    assert [p.name for p in pictures] == ["step_0000003.png"]
    for picture in pictures:
        Image.open(picture).load()  # whole: a truncated PNG would raise here


def test_a_resume_whose_networks_do_not_fit_names_the_parameter_and_the_override(finished_run: Path, tmp_path: Path) -> None:
    subprocess.run(["cp", "-a", str(finished_run), str(tmp_path / "run")], check=True)
    done = run_cli("train.resume=run", "model=gan", "model.generator.hidden=[64]", "train.steps=40", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not fit" in lines[0], done.stderr
    assert "generator: its net.0.weight has shape [32, 100], the network built here [64, 100]" in lines[0]
    assert "model.generator.hidden=[64] changed the networks the run was built with" in lines[0]


def test_the_resume_hint_of_a_folder_with_spaces_and_brackets_can_be_pasted(tmp_path: Path) -> None:
    """Ctrl-C a run in 'my run (2)', paste the line's command into a real shell: it resumes."""
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gantrain", *SHORT, "train.steps=100000", "train.ckpt_every=5", "hydra.run.dir='my run (2)'"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = tmp_path / "my run (2)" / "checkpoints" / "last.pt"
    started = time.monotonic()
    while not last.exists() and process.poll() is None and time.monotonic() - started < 120:  # training has begun
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    command = err.split("Resume with: ", 1)[1].strip()
    assert command.startswith("gantrain ")
    stopped = load_checkpoint(tmp_path / "my run (2)" / "checkpoints" / "last.pt")["step"]
    python_command = command.replace("gantrain ", f"{sys.executable} -m gantrain ", 1) + f" train.steps={stopped + 3}"
    resumed = subprocess.run(["bash", "-c", python_command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(tmp_path / "my run (2)" / "checkpoints" / "last.pt")["step"] == stopped + 3


def test_an_unreadable_image_whose_name_is_not_utf8_is_named_and_skipped(tmp_path: Path) -> None:
    import numpy as np

    images = tmp_path / "images"
    images.mkdir()
    for i in range(20):
        Image.fromarray((np.random.default_rng(i).random((32, 32, 3)) * 255).astype("uint8")).save(images / f"{i}.png")
    with open(os.path.join(os.fsencode(images), b"bad\xff\xfe.png"), "wb") as f:  # a name from a Latin-1 system, say
        f.write(b"not a png")
    common = [*TINY_GAN, "data=folder", f"data.root={images}", "data.image_size=32", "eval.every=0", "train.batch_size=8"]
    raised = run_cli(*common, "train.steps=4", cwd=tmp_path)
    assert raised.returncode == 2 and "Traceback" not in raised.stderr
    assert raised.stderr.strip().startswith("error: cannot read image") and "bad\\xff\\xfe.png" in raised.stderr
    skipped = run_cli(*common, "data.on_error=skip", "train.steps=6", "hydra.run.dir=run", cwd=tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert "bad\\xff\\xfe.png" in (tmp_path / "run" / "skipped_images.txt").read_text()


def test_ctrl_c_while_a_checkpoint_is_being_written_stops_cleanly(tmp_path: Path) -> None:
    """A checkpoint every step, so that a Ctrl-C mostly lands in torch.save: it is held until the write is
    done (raised inside torch's writer it broke the file's zip records: "unexpected pos", exit 1)."""
    rng = __import__("random").Random(7)
    wide = ["model.generator.hidden=[1024,1024]", "model.discriminator.hidden=[1024]"]  # 60-MB checkpoints: writing is most of a step
    for attempt in range(2):
        folder = tmp_path / f"run{attempt}"
        process = subprocess.Popen(
            [sys.executable, "-m", "gantrain", *SHORT, *wide, "train.steps=100000", "train.ckpt_every=1", f"hydra.run.dir={folder}"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        last = folder / "checkpoints" / "last.pt"
        started = time.monotonic()
        while not last.exists() and process.poll() is None and time.monotonic() - started < 120:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130, err
        assert "unexpected error" not in err and err.strip().startswith("error: interrupted at step"), err
        assert load_checkpoint(last)["step"] >= 1  # the checkpoint it stopped with loads
