"""The schema of gantrain's top-level config, stored in Hydra's ConfigStore.

It type-checks the trainer's own settings (`train.*`, `device`, `seed`) and makes unknown keys an
error; the model, data, loss and optim groups are checked by the constructors they build.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from gantrain.settings import EvalSettings, TrainSettings


@dataclass
class GantrainConfig:
    model: Any = MISSING  # conf/model/*.yaml: generator, discriminator, latent prior
    data: Any = MISSING  # conf/data/*.yaml: the data set
    loss: Any = MISSING  # conf/loss/*.yaml: the training objective
    optim: Any = MISSING  # conf/optim/*.yaml: the optimiser, one per network
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    seed: int = 0  # seeds weights, z and data order: a CPU run with the same seed repeats exactly


def register_schema() -> None:
    ConfigStore.instance().store(name="gantrain_schema", node=GantrainConfig)
