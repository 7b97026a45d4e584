"""Shared helpers: tiny models and data so that real training runs take seconds."""

import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from gantrain.core.priors import LatentPrior
from gantrain.data.base import InMemoryImages
from gantrain.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gantrain.models.gan import MLPDiscriminator, MLPGenerator
from gantrain.training.distributed import World
from gantrain.training.loop import Trainer
from gantrain.training.optim import adam
from gantrain.training.settings import TrainSettings

ROOT = Path(__file__).resolve().parents[1]
# the offline feature extractor's cache: never the user's ~/.cache while testing
# one cache for the whole run, shared by pytest-xdist's workers: the offline classifiers the scores need (a
# minute or two each on a CPU) are trained once per run, not once per worker (gantrain locks while it trains)
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")
os.environ["GANTRAIN_CACHE"] = (
    os.path.join(tempfile.gettempdir(), f"gantrain-test-cache-{_RUN}") if _RUN else tempfile.mkdtemp(prefix="gantrain-test-cache-")
)
TINY_GAN = ["model=gan", "model.generator.hidden=[32]", "model.discriminator.hidden=[16]", "train.batch_size=16"]


def bench_module(name: str):
    """bench/NAME.py imported as a module (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_data(n: int = 64, size: int = 28, channels: int = 1, seed: int = 0) -> InMemoryImages:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    return InMemoryImages(images, torch.arange(n) % 10, num_classes=10)


def scalars(run: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of one TensorBoard scalar of a run folder; [] where the run logged no such tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)] if tag in events.Tags()["scalars"] else []


_GAN_PRIOR = object()  # make_trainer's default prior: the tiny GAN's, or one of the given networks' z_dim


def make_trainer(
    run_dir: Path,
    model: str = "dcgan",
    seed: int = 0,
    world: World = World(),
    data=None,
    networks=None,
    objective=None,
    prior=_GAN_PRIOR,
    picture_inputs=None,
    **settings,
) -> Trainer:
    """A seconds-long trainer on random 28x28 images; `settings` override TrainSettings; `networks`,
    `objective`, `prior` (None: none) and `picture_inputs` replace the tiny GAN's."""
    torch.manual_seed(seed)
    if model == "dcgan":
        G = DCGANGenerator(z_dim=8, image_size=28, channels=1, width=4)
        D = DCGANDiscriminator(image_size=28, channels=1, width=4)
        prior_gan = LatentPrior(8, "normal")
    else:
        G = MLPGenerator(z_dim=8, image_size=28, channels=1, hidden=[32])
        D = MLPDiscriminator(image_size=28, channels=1, hidden=[16], pieces=2, dropout=0.5)
        prior_gan = LatentPrior(8, "uniform")
    from gantrain.losses.adversarial import AdversarialGAN

    defaults = dict(steps=6, batch_size=8, log_every=2, sample_every=3, ckpt_every=3, n_samples=4)
    if prior is _GAN_PRIOR:
        z_dims = [net.z_dim for net in (networks or {}).values() if hasattr(net, "z_dim")]
        prior = prior_gan if networks is None else LatentPrior(z_dims[0], "normal")
    return Trainer(
        networks={"generator": G, "discriminator": D} if networks is None else networks,
        objective=AdversarialGAN() if objective is None else objective,
        prior=prior,
        picture_inputs=picture_inputs,
        data=tiny_data() if data is None else data,
        make_optimizer=functools.partial(adam, lr=1e-3),
        settings=TrainSettings(**{**defaults, **settings}),
        run_dir=run_dir,
        device=torch.device("cpu"),
        seed=seed,
        show_progress=False,
        world=world,
    )


_SERVER: list[subprocess.Popen] = []  # tests/cli_server.py, started by the first run_cli


def _cli_server() -> subprocess.Popen:
    if not _SERVER or _SERVER[0].poll() is not None:
        env = {**os.environ, "COLUMNS": "200", "HYDRA_FULL_ERROR": "0"}
        server = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("cli_server.py"))],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and "ready" in server.stdout.readline(), "tests/cli_server.py did not start"
        _SERVER[:] = [server]
    return _SERVER[0]


def run_cli(
    *args: str, cwd: Path, timeout: int = 240, fresh: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m gantrain ARGS` as a user would, in `cwd`: in a process forked from one that has
    imported gantrain already (tests/cli_server.py: the same main(), argv, folder, environment, output
    and exit code, without 5-7 s of imports per command), or, with fresh=True, a new interpreter (`env`:
    variables set for it, such as a PYTHONPATH, which a forked process could not take up)."""
    env = {**os.environ, "COLUMNS": "200", "HYDRA_FULL_ERROR": "0", **(env or {})}
    command = [sys.executable, "-m", "gantrain", *args]
    if fresh:
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    server = _cli_server()
    assert server.stdin is not None and server.stdout is not None
    with tempfile.TemporaryDirectory(prefix="gantrain-cli-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        request = {
            "args": list(args),
            "cwd": str(Path(cwd).resolve()),
            "env": env,
            "stdout": str(out),
            "stderr": str(err),
            "timeout": timeout,
        }
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        returncode = json.loads(server.stdout.readline())["returncode"]
        stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    if returncode == -signal.SIGALRM:
        raise subprocess.TimeoutExpired(command, timeout, stdout, stderr)
    return subprocess.CompletedProcess(command, returncode, stdout, stderr)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real, small file system (tmpfs) to run into a full disk: small_disk(size_bytes) -> its mount point
    (small_disk(size, read_only=True): one that cannot be written at all, as a read-only share).
    Skipped where mounting is not allowed (not root, a container without the capability)."""
    mounted: list[Path] = []

    def mount(size: int, *, read_only: bool = False) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill_disk(folder: Path) -> None:
    """Fill the file system holding `folder` to its last byte, for real (a file of zeros grown until ENOSPC)."""
    import errno as _errno

    with open(folder / ".filler", "ab", buffering=0) as f:
        chunk = b"\0" * 65536
        while True:
            try:
                f.write(chunk)
            except OSError as e:
                if e.errno != _errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]


def task_file(folder: Path, name: str) -> Path:
    """The one file of a task's output folder named `name` with the generator's step put in before the count
    (tasks name their files by the step they used: samples_n4_seed0.png -> samples_step12_n4_seed0.png)."""
    import re

    found = sorted(folder.glob(re.sub(r"_n(\d)", r"_step*_n\1", name, count=1)))
    assert len(found) == 1, f"{name}: {sorted(p.name for p in folder.iterdir()) if folder.is_dir() else 'no folder ' + str(folder)}"
    return found[0]


# each model with a discriminator, at a size that trains a few steps in a second (augmentation, LeCam)
SMALL_MODELS = {
    "gan": ["model=gan", "model.generator.hidden=[16]", "model.discriminator.hidden=[8]"],
    "dcgan": ["model.generator.width=4", "model.discriminator.width=4"],
    "cgan": ["model=cgan", "model.generator.hidden=[16]", "model.discriminator.hidden=[8]"],
    "cdcgan": ["model=cdcgan", "model.generator.width=4", "model.discriminator.width=4"],
    "sgan": ["model=sgan", "data.labeled_per_class=2", "model.generator.hidden=[16]", "model.discriminator.hidden=[16,8]"],
    "catgan": ["model=catgan", "data.labeled_per_class=0", "model.generator.width=4", "model.discriminator.width=4"],
    "progan": ["model=progan", "data.image_size=16", "model.phase_images=4", "model.fmap_base=32", "model.fmap_max=8", "model.z_dim=8"],
    "pix2pix": ["model=pix2pix", "model.generator.width=4", "model.discriminator.width=4", "model.patch_size=16"],
    "cyclegan": ["model=cyclegan", "model.generator_ab.width=4", "model.discriminator_a.width=4", "model.generator_ab.blocks=1"],
}
