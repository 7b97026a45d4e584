"""The schema of gantrain's top-level config, stored in Hydra's ConfigStore.

It type-checks the trainer's own settings (`train.*`, `device`, `seed`) and makes unknown keys an
error; the model, data, loss and optim groups are checked by the constructors they build.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from gantrain.core.resolvers import if_unlabelled  # noqa: F401  (registered on import; conf/ uses it)
from gantrain.training.settings import EvalSettings, TrainSettings


@dataclass
class GantrainConfig:
    model: Any = MISSING  # conf/model/*.yaml: generator, discriminator, latent prior
    data: Any = MISSING  # conf/data/*.yaml: the data set
    loss: Any = MISSING  # conf/loss/*.yaml: the training objective
    optim: Any = MISSING  # conf/optim/*.yaml: the optimiser, one per network
    augment: Any = MISSING  # conf/augment/*.yaml: the transform of the discriminators' inputs (none by default)
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    seed: int = 0  # seeds weights, z and data order: a CPU run with the same seed repeats exactly
    # What the command does (gantrain/tasks.py, gantrain/app/report.py); the keys below belong to the tasks.
    task: str = "train"  # train | sample | interpolate | arithmetic | eval | nearest | confusion | probe | dfilters | translate | report
    run: str | None = None  # sample, interpolate, eval, translate: the trained run, a run folder or a checkpoint .pt
    output: str | None = None  # sample, interpolate, eval, translate: where files go (default RUN/<task>/)
    checkpoint: str = "last"  # every task on a run: last | best (RUN/checkpoints/best.pt, train.best_by) | step_N | resolution_N
    # sample: images (64); interpolate: walks, one per row (8); eval: samples scored (10000); nearest: samples (8);
    # confusion: images per mistake (16); dfilters: filters shown (8)
    n: int | None = None
    labels: Any = None  # probe: labelled training images per budget, e.g. 100, all, or several: 100,1000,all (default 100,1000)
    draws: int = 3  # probe: class-balanced draws of the labelled images per budget (one for all)
    neighbours: int = 3  # nearest: training images shown beside each sample, per space
    npy: bool = False  # sample: also save the images as uint8 (n, C, H, W) in a .npy file
    psi: float = 1.0  # sample, interpolate, arithmetic: StyleGAN2's truncation of w towards its mean, in [0, 1] (1: none)
    mode: str = "slerp"  # interpolate: lerp | slerp | traverse (one latent coordinate swept per row)
    length: int = 10  # interpolate: images per walk
    space: str = "z"  # interpolate: z (the prior's) | w (a StyleGAN2's intermediate latent space, with mode=lerp)
    expression: str | None = None  # arithmetic: groups of indices into task=sample's grid, e.g. '3 7 12 - 1 4 5 + 9 10 11'
    input: str | None = None  # translate: the folder of images to translate (searched recursively)
    input_form: str = "image"  # translate: image (the source itself) | aligned (A|B pairs) | edges (Canny edges of it)
    direction: str | None = None  # translate: AtoB | BtoA, which generator of a run that translates both ways (CycleGAN)
    real: str | None = None  # eval: a folder of real images, scored against fake= (no run=): task=eval real=DIR fake=DIR
    fake: str | None = None  # eval: the folder of generated images scored against real=
    sweep: str | None = None  # report: a multirun folder (multirun/DATE/TIME) or any folder of run folders
    metric: str | None = None  # report: the metric plotted against the swept parameter (default: the first column)


TASKS = ("train", "sample", "interpolate", "arithmetic", "eval", "nearest", "confusion", "probe", "dfilters", "translate", "report")
RUN_TASKS = (
    "sample",
    "interpolate",
    "arithmetic",
    "eval",
    "nearest",
    "confusion",
    "probe",
    "dfilters",
    "translate",
)  # the tasks that load a trained run
TASK_KEYS = {
    "run": RUN_TASKS,
    "output": RUN_TASKS,
    "checkpoint": RUN_TASKS,
    "n": ("sample", "interpolate", "arithmetic", "eval", "nearest", "confusion", "dfilters"),
    "labels": ("probe",),
    "draws": ("probe",),
    "expression": ("arithmetic",),
    "neighbours": ("nearest",),
    "npy": ("sample",),
    "mode": ("interpolate",),
    "length": ("interpolate",),
    "input": ("translate",),
    "input_form": ("translate",),
    "direction": ("translate",),
    "real": ("eval",),
    "fake": ("eval",),
    "sweep": ("report",),
    "metric": ("report",),
}


def check_task(cfg: Any) -> None:
    """An unknown task, or a task's key given to another task: one line naming the fix."""
    from gantrain.core.errors import ConfigError

    if cfg.task not in TASKS:
        raise ConfigError(f"unknown task '{cfg.task}': choose one of {', '.join(TASKS)}")
    default = GantrainConfig()
    for key, tasks in TASK_KEYS.items():
        if cfg.task not in tasks and cfg[key] != getattr(default, key):
            raise ConfigError(f"{key}= is a setting of task={'|'.join(tasks)}, not of task={cfg.task}; add task={tasks[0]}")


def check_switches(overrides: list[str]) -> None:
    """A train.* switch (a bool key) given on the command line must say true or false: OmegaConf would
    quietly read train.compile=3 as true."""
    import dataclasses

    from gantrain.core.errors import ConfigError
    from gantrain.training.settings import TrainSettings

    switches = {f.name for f in dataclasses.fields(TrainSettings) if "bool" in str(f.type)}
    for override in overrides:
        key, _, value = override.partition("=")
        name = key.lstrip("+~").removeprefix("train.")
        if key.lstrip("+~").startswith("train.") and name in switches and "," not in value:
            if value.strip().lower() not in ("true", "false", "null", ""):
                raise ConfigError(f"train.{name} must be true or false (got {value})")


def check_finite(cfg: Any) -> None:
    """Every number of the config must be finite: optim.lr=inf or loss.lambda_l1=nan would pass the
    constructors' range checks (inf > 0) and wreck the run at its first step, after its folder was made."""
    import math

    from gantrain.core.errors import ConfigError

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{key}[{i}]")
        elif isinstance(node, float) and not math.isfinite(node):
            raise ConfigError(f"{key}={node}: every number must be finite; give {key} a finite value")

    walk(OmegaConf.to_container(cfg, resolve=False), "")


def register_schema() -> None:
    ConfigStore.instance().store(name="gantrain_schema", node=GantrainConfig)
