"""Memory without surprises: measured on the real process tree (every child's RSS summed, sampled while
it runs, killed above a ceiling), and the pieces that keep it flat checked against the whole-at-once results."""

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_GAN, bench_module, run_cli, task_file

from gantrain.data.base import Resized, resize_square


def peak_memory(args: list[str], cwd: Path, ceiling: int, timeout: float = 600) -> tuple[subprocess.CompletedProcess, int]:
    """Run `python -m gantrain ARGS`; the peak RSS of its process tree, sampled every 50 ms; killed (and
    the test failed) above `ceiling` bytes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gantrain", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak, started = 0, time.monotonic()
    while process.poll() is None:
        peak = max(peak, bench_module("memory").tree_rss(process.pid))  # (bench/memory.py's measurement)
        if peak > ceiling or time.monotonic() - started > timeout:
            process.kill()
            out, err = process.communicate()
            pytest.fail(
                f"{' '.join(args)}: {peak / 2**30:.2f} GiB after {time.monotonic() - started:.0f} s, over the {ceiling / 2**30:.1f} "
                f"GiB ceiling\n{err[-2000:]}"
            )
        time.sleep(0.05)
    out, err = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err), peak


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_run_too_big_for_the_machine_is_refused_before_it_allocates(tmp_path: Path) -> None:
    # DCGAN at 128 x 128, twice as wide, with batch 4,000: about 76 GiB of activations a step (at 128 the
    # bundled digits' resize takes a second, where 512 x 512 took 14)
    wide = ["model.generator.width=128", "model.discriminator.width=128"]
    done, peak = peak_memory(
        ["data.image_size=128", "train.batch_size=4000", *wide, "eval.every=0", "hydra.run.dir=run"], tmp_path, ceiling=4 << 30
    )
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert line.startswith("error: model=dcgan at data.image_size=128 with train.batch_size=4000 needs about") and "GiB free" in line
    assert "train.batch_size" in line and "max_channels" in line and len(line.splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_many_samples_are_written_in_chunks_with_flat_memory(tmp_path: Path) -> None:
    assert run_cli(*TINY_GAN, "train.steps=2", "eval.every=0", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    refused = run_cli("task=sample", "run=run", "n=100000", cwd=tmp_path)
    assert refused.returncode == 2 and "add npy=true" in refused.stderr
    done, peak = peak_memory(["task=sample", "run=run", "n=120000", "npy=true"], tmp_path, ceiling=2 << 30)
    assert done.returncode == 0, done.stderr
    import numpy as np

    images = np.load(task_file(tmp_path / "run" / "sample", "samples_n120000_seed0.npy"), mmap_mode="r")
    assert images.shape == (120000, 1, 28, 28) and images.dtype == np.uint8
    assert images[-1].any() and images[100000].any()  # every chunk written, not left at zero


def test_eval_refuses_an_n_it_cannot_hold(tmp_path: Path) -> None:
    assert run_cli(*TINY_GAN, "train.steps=2", "eval.every=0", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    done = run_cli("task=eval", "run=run", "n=1000000000", cwd=tmp_path)
    assert (
        done.returncode == 2
        and done.stderr.startswith("error: task=eval n=1,000,000,000 needs about")
        and "use n of at most" in done.stderr
    )


def test_lazily_resized_images_are_the_images_resized_at_once() -> None:
    images = torch.randint(0, 256, (37, 2, 28, 28), dtype=torch.uint8)
    whole = resize_square(images, 96)
    lazy = Resized(images, 96)
    assert lazy.shape == whole.shape and len(lazy) == 37
    assert torch.equal(lazy[torch.tensor([3, 0, 36])], whole[[3, 0, 36]])
    assert torch.equal(lazy[5], whole[5]) and torch.equal(lazy[-1], whole[-1])
    assert torch.equal(lazy[10:20], whole[10:20]) and torch.equal(lazy[:, 0], whole[:, 0])


def test_chunked_translation_metrics_equal_the_whole_set_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    import gantrain.metrics.evaluation as evaluation
    from gantrain.models.inference import translate

    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Tanh())
    sources = torch.randint(0, 256, (23, 1, 16, 16), dtype=torch.uint8)
    targets = torch.randint(0, 256, (23, 1, 16, 16), dtype=torch.uint8)
    monkeypatch.setattr(evaluation, "CHUNK_VALUES", 5 * 256)  # chunks of 5 images: 23 = 5 + 5 + 5 + 5 + 3
    chunked = evaluation.TranslationMetrics(list(zip(sources, targets)), device=torch.device("cpu"))({"generator": G})
    outputs, t = translate(G, sources, device=torch.device("cpu")), targets.float() / 255
    assert chunked["eval/l1"] == pytest.approx(float((outputs - t).abs().mean()), rel=1e-6)
    assert chunked["eval/psnr"] == pytest.approx(float(peak_signal_noise_ratio(outputs, t, data_range=1.0)), rel=1e-5)
    assert chunked["eval/ssim"] == pytest.approx(float(structural_similarity_index_measure(outputs, t, data_range=1.0)), rel=1e-5)
    assert chunked["eval/sharpness"] == pytest.approx(float(evaluation.laplacian_variance(outputs).mean()), rel=1e-5)


def test_max_channels_caps_every_dcgan_layer() -> None:
    from gantrain.models.dcgan import DCGANDiscriminator, DCGANGenerator

    G = DCGANGenerator(z_dim=8, image_size=256, channels=3, width=8, max_channels=32)
    D = DCGANDiscriminator(image_size=256, channels=3, width=8, max_channels=32)
    widths = [m.out_channels for net in (G, D) for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert max(widths) == 32 and widths[:3] == [32, 32, 32]  # G's first layers would be 8 * 2**5 = 256 wide uncapped
    assert G(torch.zeros(2, 8)).shape == (2, 3, 256, 256) and D(torch.zeros(2, 3, 256, 256)).shape == (2,)
    uncapped = DCGANGenerator(z_dim=8, image_size=256, channels=3, width=8)
    assert max(m.out_channels for m in uncapped.modules() if isinstance(m, torch.nn.ConvTranspose2d)) == 256


def test_the_memory_estimate_leaves_the_objective_as_it_was() -> None:
    """The estimate runs a batch through every phase on the meta device; CycleGAN's image pools must not
    keep those meta tensors (the real run then failed at its first step)."""
    from conftest import ROOT
    from hydra import compose, initialize_config_dir

    from gantrain.app.config import register_schema
    from gantrain.app.run import assemble

    register_schema()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["model=cyclegan", "model.generator_ab.width=4", "model.discriminator_a.width=4", "model.generator_ab.blocks=1"],
        )
    parts = assemble(cfg, {"model": "cyclegan", "loss": "cyclegan", "data": "mnist_uci"})
    state = parts.objective.state_dict()  # raised "Cannot copy out of meta tensor" when the estimate used this objective
    assert state["pool_a"]["count"] == state["pool_b"]["count"] == 0


def test_a_walk_too_long_for_one_picture_is_refused_before_any_work(tmp_path: Path) -> None:
    assert run_cli(*TINY_GAN, "train.steps=2", "eval.every=0", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    done = run_cli("task=interpolate", "run=run", "length=100000000", cwd=tmp_path)  # 800 million images in one grid
    assert done.returncode == 2 and done.stderr.strip() == (
        "error: n x length = 8 x 100,000,000 images would not fit one grid (it shows at most 1,024): lower n or length"
    ), done.stderr
    assert not (tmp_path / "run" / "interpolate").exists()


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_AS") or sys.platform != "linux", reason="an address-space limit")
def test_an_allocation_the_machine_cannot_make_is_one_line(tmp_path: Path) -> None:
    # a real failed allocation: the process may map 5 GiB (torch's imports take about 3), and a step of DCGAN
    # at 64 x 64 with batch 4,000 asks for more, though the machine's free memory passes the estimate
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (5 << 30, 5 << 30))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["data.image_size=64", "train.batch_size=4000", "eval.every=0", "train.steps=2", "hydra.run.dir=run"]
    done = subprocess.run(
        [sys.executable, "-m", "gantrain", *args], cwd=tmp_path, env=env, preexec_fn=limit, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: out of memory: this asked for") and "train.batch_size" in lines[0], done.stderr
    assert not (tmp_path / "run").exists()  # nothing in it could be resumed


def test_an_output_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    done = run_cli(*TINY_GAN, "train.steps=2", "hydra.run.dir=precious.txt", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error: cannot create or write") and "precious.txt" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and (tmp_path / "precious.txt").read_text() == "keep me"


def test_a_checkpoint_is_streamed_to_disk_not_made_in_memory_first(tmp_path: Path) -> None:
    """save_checkpoint of a 512 MiB state: the process's peak RSS (measured by the kernel) grows by far less
    than the checkpoint's size (a copy in memory first doubled the peak of a large model at each save)."""
    script = f"""
import resource, torch
from pathlib import Path
from gantrain.training.checkpoint import save_checkpoint, load_checkpoint
state = {{"networks": {{"generator": {{"w": torch.ones(128 * 2**20)}}}}, "step": 3}}  # 512 MiB of float32
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
save_checkpoint(state, Path({str(tmp_path / "last.pt")!r}))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    grown = int(result.stdout.split()[-1])
    assert grown < 128 * 2**20, f"peak RSS grew by {grown / 2**20:.0f} MiB while writing a 512 MiB checkpoint"
    assert (tmp_path / "last.pt").stat().st_size > 512 * 2**20
    assert not list(tmp_path.glob(".*.tmp"))
