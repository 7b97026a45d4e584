"""A -m sweep checks every one of its jobs before the first starts: one bad value anywhere in the sweep
is one line naming that job, exit 2, and no job run, no sweep folder."""

from pathlib import Path

import pytest
from conftest import TINY_GAN, run_cli

from gantrain.app.sweep_check import sweep_jobs


def test_the_jobs_are_hydras_cartesian_product_in_its_order() -> None:
    assert sweep_jobs(["model=gan", "train.k=1,2", "seed=0,1"]) == [
        ["model=gan", "train.k=1", "seed=0"],
        ["model=gan", "train.k=1", "seed=1"],
        ["model=gan", "train.k=2", "seed=0"],
        ["model=gan", "train.k=2", "seed=1"],
    ]
    assert len(sweep_jobs(["train.k=range(1,4)", "seed=choice(0,1)"])) == 6


@pytest.mark.parametrize(
    ("sweep", "job", "says"),
    [
        (["model=pix2pix", "model.patch_size=1,16,70,286"], "job 3 of 4 (model=pix2pix model.patch_size=286", "model.patch_size=286"),
        (["train.k=1,2", "optim.lr=1e-4,-1"], "job 1 of 4 (train.k=1 optim.lr=-1", "optim.lr must be > 0"),
        (
            ["model=gan,cgan", "data.labeled_per_class=0,10"],
            "job 2 of 4 (model=cgan data.labeled_per_class=0",
            "conditional GAN needs a label",
        ),
        (["eval.ema=0.5,2"], "job 1 of 2 (eval.ema=2", "eval.ema must be in [0, 1)"),
    ],
)
def test_a_bad_job_anywhere_in_a_sweep_stops_it_before_the_first_job(tmp_path: Path, sweep: list[str], job: str, says: str) -> None:
    done = run_cli("-m", *sweep, "train.steps=2", "eval.every=0", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and job in lines[0] and says in lines[0], done.stderr
    assert "no job was started" in lines[0]
    assert not (tmp_path / "multirun").exists() and "job 0" not in done.stdout  # nothing ran, no folder


def test_a_good_sweep_still_runs_every_job(tmp_path: Path) -> None:
    done = run_cli("-m", *TINY_GAN, "train.k=1,2", "train.steps=2", "eval.every=0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in next((tmp_path / "multirun").glob("*/*")).iterdir() if p.is_dir()) == ["0", "1"]
