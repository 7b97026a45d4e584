"""A trained run, loaded back from its checkpoint for the tasks (task=sample, eval, translate, ...):
its config, its objective and the networks it trained (or only those a task needs)."""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from gantrain.core.errors import CheckpointError, ConfigError
from gantrain.core.folders import run_folder
from gantrain.core.objective import Objective
from gantrain.data.base import open_image
from gantrain.training.checkpoint import TrainingState, check_stored_config, find_checkpoint, load_checkpoint, misfit
from gantrain.training.setup import build, build_networks, build_objective


@dataclass
class TrainedRun:
    """A finished (or interrupted) run, loaded back from its checkpoint."""

    run_dir: Path
    checkpoint: Path
    step: int
    config: DictConfig  # the run's own composed config
    objective: Objective  # built from the run's loss config (its declarations say which network does what)
    nets: dict[str, nn.Module]  # the networks loaded, by name, in eval-ready form on the device
    # name -> the moving average of that network's weights that evaluations scored (eval.ema, train.g_ema)
    averages: dict[str, nn.Module] = field(default_factory=dict)
    class_names: list[str] | None = None  # the training data's class names, kept in the checkpoint (a labelled folder's)

    @property
    def G(self) -> nn.Module:
        """The network that draws images from the prior's z (a GAN's G, a VAE's decoder): the moving average
        of its weights when the run kept one (train.g_ema), as its pictures and evaluations used."""
        name = self.objective.generator
        if name is None:
            raise ConfigError(f"run={self.run_dir} has no latent space (a translation run): use task=translate")
        return self.averages.get(name, self.nets[name])


NetworkChoice = tuple[str, ...] | Callable[[Objective], tuple[str, ...]] | None


def load_run(run: str | os.PathLike, device: torch.device, only: NetworkChoice = None) -> TrainedRun:
    """Rebuild the networks of the run `run` (a run folder or a checkpoint .pt) with their trained weights.
    `only`: just those networks, or a function of the run's objective that names them (the one generator a
    translation needs; it may refuse the run with a ConfigError before any network is built)."""
    checkpoint = find_checkpoint(run, key="run")
    state = load_checkpoint(checkpoint)
    if "config" not in state:
        raise CheckpointError(f"{checkpoint} holds no config, so its networks cannot be rebuilt")
    cfg = OmegaConf.create(state["config"])
    check_stored_config(cfg, checkpoint)
    _root_as_trained(cfg, run_folder(checkpoint))
    objective = build_objective(cfg)
    nets = build_networks(cfg, only(objective) if callable(only) else only)
    restored = TrainingState.from_checkpoint(state)
    averages = {name: build(cfg.model[name], f"model.{name}") for name in restored.averages if name in nets}
    try:
        for name, net in nets.items():
            net.load_state_dict(restored.networks[name])
        for name, average in averages.items():
            average.load_state_dict(restored.averages[name])
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint {checkpoint} does not fit the networks of its own config: {misfit(e)}") from None
    return TrainedRun(
        run_folder(checkpoint),
        checkpoint,
        restored.step,
        cfg,
        objective,
        {name: net.to(device) for name, net in nets.items()},
        {name: a.to(device).eval() for name, a in averages.items()},
        state.get("class_names"),
    )


def _root_as_trained(cfg: DictConfig, run_dir: Path) -> None:
    """A relative data.root names a folder relative to where the run was trained (Hydra's runtime.cwd,
    kept in RUN/.hydra/hydra.yaml), so a task started from another folder rebases it there."""
    root = OmegaConf.select(cfg, "data.root")
    if root in (None, "") or os.path.isabs(os.path.expanduser(str(root))):
        return
    try:
        trained_in = OmegaConf.select(OmegaConf.load(run_dir / ".hydra" / "hydra.yaml"), "hydra.runtime.cwd")
    except (OSError, ValueError):  # no record of it (a checkpoint copied on its own), or an unreadable one
        return
    if trained_in and (Path(trained_in) / str(root)).exists():
        cfg.data.root = str(Path(trained_in) / str(root))


def latent_prior(trained: TrainedRun) -> Any:
    """The run's p(z) (and labels, for a conditional G); a translation run has none."""
    from gantrain.core.priors import LatentPrior
    from gantrain.models.base import is_conditional

    model = trained.config.model
    G = trained.G  # (refuses a run without a latent space)
    return LatentPrior(int(model.z_dim), str(model.z_dist), G.num_classes if is_conditional(G) else None)


def truncated(G: nn.Module, psi: object) -> nn.Module:
    """G drawing with truncation `psi` (1: as trained; StyleGAN2's w_avg + psi (w - w_avg), psi in [0, 1]);
    a psi below 1 for a generator without a mapping network is refused in one line."""
    from gantrain.models.base import unwrap
    from gantrain.models.stylegan2 import StyleGAN2Generator, Truncated

    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not 0 <= psi <= 1:
        raise ConfigError(f"psi must be a number in [0, 1], the truncation of w (1: none) (got {psi!r})")
    if psi == 1:
        return G
    network = unwrap(G)
    if not isinstance(network, StyleGAN2Generator):
        raise ConfigError(
            f"psi={psi:g} truncates a StyleGAN2's w towards its mean, and this run's generator is {type(network).__name__}: leave psi out"
        )
    return Truncated(network, float(psi))


def psi_suffix(psi: float) -> str:
    """What a task's file name says of its truncation: nothing at psi 1, "_psi0.7" else (a grid at another psi
    never overwrites one)."""
    return "" if psi == 1 else f"_psi{psi:g}"


GRID_MAX = 1024  # the most images one picture of a task shows (32 x 32 of them)


@dataclass
class Written:
    files: list[Path]  # what the task wrote
    count: int  # images made
    step: int  # the training step of the generator used


def picture_to_tensorboard(trained: TrainedRun, tag: str, path: Path) -> None:
    """Show a task's picture in the run's TensorBoard too (Images tab), at the run's last step."""
    from gantrain.training.monitor import event_writer

    with event_writer(trained.run_dir / "tb") as writer:
        writer.add_image(tag, read_rgb(path), trained.step)


def read_rgb(path: Path) -> torch.Tensor:
    """A PNG as float (3, H, W) in [0, 1], for TensorBoard."""
    import numpy as np

    with open_image(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
