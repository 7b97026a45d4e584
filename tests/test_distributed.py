"""Data-parallel training: two CPU processes on the gloo backend, started by torchrun as a user would, and
in-process through the importable core."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from conftest import make_trainer, tiny_data

from gantrain.data.base import BatchStream
from gantrain.training.checkpoint import find_checkpoint, load_checkpoint
from gantrain.training.distributed import World

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gantrain"]
TINY = [
    "model.generator.width=8",
    "model.discriminator.width=8",
    "train.batch_size=16",
    "device=cpu",
    "train.log_every=1",
    "train.ckpt_every=3",
]


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run([*TORCHRUN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_torchrun_two_processes_write_one_run_and_keep_its_best(tmp_path: Path) -> None:
    """CatGAN without labels, evaluated every 2 steps: rank 0 alone speaks, evaluates and keeps best.pt (by
    mutual information, a run without labels' measure), with both ranks' random streams in its checkpoints."""
    import json

    game = ["model=catgan", "data.labeled_per_class=0", "eval.every=2", *TINY]
    done = _torchrun(*game, "train.steps=4", cwd=tmp_path)  # a run folder of its own under outputs/
    assert done.returncode == 0, done.stderr[-3000:]
    assert "x 2 processes" in done.stdout
    assert done.stdout.count("gantrain: done") == 1  # rank 0 alone speaks
    runs = [p for p in (tmp_path / "outputs").glob("*/*") if p.is_dir()]
    assert len(runs) == 1  # the second process made no folder of its own
    run = runs[0]
    evaluations = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evaluations] == [2, 4]  # rank 0 alone evaluated, once each
    best = max(evaluations, key=lambda e: e["eval/mutual_information"])  # the first of equals, as the trainer keeps it
    state = load_checkpoint(run / "checkpoints" / "best.pt")
    assert state["step"] == best["step"] and state["best"]["step"] == best["step"]
    assert len(state["rng"]["ranks"]) == 2  # gathered from both ranks, as every checkpoint is
    assert json.loads((run / "summary.json").read_text())["best"]["step"] == best["step"]


# three torchrun launches, a minute on 2 cores (the launch and best.pt: the test above; resuming one process:
# test_resume_models.py)
@pytest.mark.slow
def test_torchrun_resumes_as_if_never_stopped(tmp_path: Path) -> None:
    """A run stopped at step 3 of 6 and resumed under torchrun ends with the weights of one never stopped,
    the evaluations between included; its checkpoints carry both ranks' random streams."""
    game = ["model=catgan", "data.labeled_per_class=0", "eval.every=2", *TINY]
    straight = _torchrun(*game, "train.steps=6", "hydra.run.dir=straight", cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr[-3000:]
    run = tmp_path / "straight"
    first = _torchrun(*game, "train.steps=3", cwd=tmp_path)  # a run folder of its own under outputs/
    assert first.returncode == 0, first.stderr[-3000:]
    runs = [p for p in (tmp_path / "outputs").glob("*/*") if p.is_dir()]
    assert len(runs) == 1  # the second process made no folder of its own
    assert sorted(p.name for p in (runs[0] / "checkpoints").iterdir()) == ["best.pt", "last.pt", "step_0000003.pt"]
    assert len(load_checkpoint(runs[0] / "checkpoints" / "last.pt")["rng"]["ranks"]) == 2  # both ranks' streams

    resumed = _torchrun(f"train.resume={runs[0]}", "train.steps=6", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from step 3" in resumed.stdout
    a = load_checkpoint(find_checkpoint(run))
    b = load_checkpoint(find_checkpoint(runs[0]))
    assert a["step"] == b["step"] == 6
    for net in ("generator", "discriminator"):
        for key, value in a["networks"][net].items():
            assert torch.equal(value, b["networks"][net][key]), (net, key)


def test_each_rank_takes_its_own_slice_of_the_global_batch() -> None:
    data = tiny_data()
    whole = BatchStream(data, 8, seed=3, device=torch.device("cpu"))
    halves = [BatchStream(data, 4, seed=3, device=torch.device("cpu"), rank=r, world_size=2) for r in (0, 1)]
    for _ in range(5):  # across an epoch boundary too
        x = next(whole).x
        x0, x1 = next(halves[0]).x, next(halves[1]).x
        assert torch.equal(torch.cat([x0, x1]), x)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_rank(rank: int, run_dir: str, port: int) -> None:
    from gantrain.augment.ada import ADA
    from gantrain.losses.adversarial import AdversarialGAN

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    try:
        # with ADA adjusting p at every D step: each rank sees its own images, and r_t is summed over both
        objective = AdversarialGAN(augment=ADA(p=0.2, ada_kimg=0.01, interval=1))
        trainer = make_trainer(Path(run_dir), steps=3, ckpt_every=3, world=World(rank, 2, rank), objective=objective)
        trainer.fit()
        torch.save({k: v.clone() for k, v in trainer.nets["discriminator"].state_dict().items()}, Path(run_dir) / f"D_rank{rank}.pt")
        torch.save(objective.augment.state_dict(), Path(run_dir) / f"ada_rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_the_replicas_stay_identical(tmp_path: Path) -> None:
    mp.spawn(_train_rank, args=(str(tmp_path), _free_port()), nprocs=2, join=True)
    d0, d1 = (torch.load(tmp_path / f"D_rank{r}.pt", weights_only=True) for r in (0, 1))
    for key in d0:
        if "running" not in key and "num_batches" not in key:  # batch-norm statistics are each rank's own
            assert torch.equal(d0[key], d1[key]), key
    ada0, ada1 = (torch.load(tmp_path / f"ada_rank{r}.pt", weights_only=False) for r in (0, 1))
    assert ada0["p"] == ada1["p"] != 0.2, (ada0, ada1)  # ADA's p moved, and alike on both ranks: r_t over all their images
    single = make_trainer(tmp_path / "single", steps=3)
    single.fit()
    assert not torch.equal(
        single.nets["discriminator"].state_dict()["features.0.weight"], d0["features.0.weight"]
    )  # two shards differ from one
    shutil.rmtree(tmp_path / "single")


@pytest.mark.slow  # a sweep through submitit's local executor; the SLURM config's composition: the next test
def test_a_sweep_fans_out_as_submitit_jobs(tmp_path: Path) -> None:
    """The submitit launcher that sends jobs to SLURM (hydra/launcher=slurm), here with its local executor."""
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gantrain",
            "-m",
            "hydra/launcher=submitit_local",
            "train.k=1,2",
            *TINY[:-2],
            "train.steps=2",
            "hydra.sweep.dir=sweep",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for job in ("0", "1"):
        assert (tmp_path / "sweep" / job / "checkpoints" / "last.pt").is_file()
    assert (tmp_path / "sweep" / ".submitit").is_dir()  # it went through submitit
    assert "| 1 |" in (tmp_path / "sweep" / "report.md").read_text()


def test_the_slurm_launcher_config_composes() -> None:
    from hydra import compose, initialize_config_dir

    import gantrain.app.cli  # noqa: F401  (the schema and resolvers)

    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(str(conf), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node) == ("gpu", 1, 1)


def _train_vae_rank(rank: int, run_dir: str, port: int) -> None:
    """Two ranks train a VAE on their own slices of each batch; each saves its networks."""
    from gantrain.losses.elbo import ELBO
    from gantrain.models.vae import VAEDecoder, VAEEncoder

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)  # the same initial weights on both ranks, as run.py builds them
        nets = {"decoder": VAEDecoder(4, 28, 1, hidden=[16]), "encoder": VAEEncoder(28, 1, 4, hidden=[16])}
        trainer = make_trainer(Path(run_dir), steps=3, ckpt_every=3, world=World(rank, 2, rank), networks=nets, objective=ELBO())
        trainer.fit()
        torch.save({name: net.state_dict() for name, net in trainer.nets.items()}, Path(run_dir) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_a_vae_under_two_processes_averages_the_decoders_gradients_too(tmp_path: Path) -> None:
    """Each rank sees other images, so replicas stay identical only if every gradient is averaged: the
    decoder's too, which the loss reaches through its forward (a side entrance such as a .logits()
    method would bypass DDP's hooks and leave each rank's decoder on its own)."""
    mp.spawn(_train_vae_rank, args=(str(tmp_path), _free_port()), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for net in ("decoder", "encoder"):
        for key, value in a[net].items():
            assert torch.equal(value, b[net][key]), (net, key)
