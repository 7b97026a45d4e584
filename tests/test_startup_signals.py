"""Ctrl-C and SIGTERM at random moments of a run's start-up (importing torch, composing the config,
loading the data, building the networks) and of its first steps, sent for real to a fresh `gantrain`
process: every moment ends in one line, exit 130 (Ctrl-C) or 143 (SIGTERM), no traceback, and no folder
that looks like a run but holds no checkpoint."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import TINY_GAN

COMMAND = [sys.executable, "-m", "gantrain", *TINY_GAN, "device=cpu", "eval.every=0", "train.steps=100000", "train.log_every=50"]


def _start(cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen(COMMAND, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _time_to_first_step(cwd: Path) -> float:
    """Seconds from launch to the first training step's output (the progress line), on this machine now."""
    process = _start(cwd)
    started = time.monotonic()
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("gantrain "):  # the line said just before training starts
            break
    elapsed = time.monotonic() - started
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    return elapsed


def test_signals_at_random_moments_of_start_up_end_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "probe").mkdir()
    window = _time_to_first_step(tmp_path / "probe")
    rng = random.Random(31)
    # from 0.2 s (before that the interpreter has not yet run gantrain's first line: SIGTERM then ends the
    # process silently, before anything is written) to a little past the first step
    moments = sorted(rng.uniform(0.2, window + 1.5) for _ in range(6))
    for i, delay in enumerate(moments):
        which = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
        cwd = tmp_path / f"try{i}"
        cwd.mkdir()
        process = _start(cwd)
        time.sleep(delay)
        process.send_signal(which)
        out, err = process.communicate(timeout=180)
        said = f"{which.name} after {delay:.2f} s of a {window:.2f} s start-up: rc {process.returncode}\nstdout: {out}\nstderr: {err}"
        assert process.returncode == (130 if which == signal.SIGINT else 143), said
        assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err, said
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: interrupted"), said
        for run in (cwd / "outputs").glob("*/*"):  # what is left is a run that can be resumed, or nothing
            assert (run / "checkpoints" / "last.pt").is_file(), said + f"\nleft: {sorted(p.name for p in run.iterdir())}"
            assert "Resume with: gantrain train.resume=" in err, said
        if not (cwd / "outputs").exists():
            assert "nothing was" in lines[0], said


def test_a_second_ctrl_c_while_the_checkpoint_is_written_neither_cuts_it_nor_says_twice(tmp_path: Path) -> None:
    process = _start(tmp_path)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("gantrain "):
            break
    time.sleep(3)  # training
    process.send_signal(signal.SIGINT)
    time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    time.sleep(0.06)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode == 130 and len(lines) == 1 and lines[0].startswith("error: interrupted at step"), err
    runs = list((tmp_path / "outputs").glob("*/*"))
    assert len(runs) == 1 and (runs[0] / "checkpoints" / "last.pt").is_file() and (runs[0] / "summary.json").is_file()
