"""From a composed config to a finished run: build every object (validating as it goes, before
anything is written), then hand them to the Trainer. Importable and testable without the CLI."""

import re
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

import gantrain.app.config  # noqa: F401  (registers the resolvers conf/ uses, for runs started without the CLI)
from gantrain.core import console
from gantrain.core.errors import CheckpointError, ConfigError
from gantrain.core.files import display_path  # noqa: F401  (the CLI's import of it)
from gantrain.core.folders import run_folder
from gantrain.core.objective import NetworksMismatch, Objective
from gantrain.training.checkpoint import check_stored_config, config_targets, find_checkpoint, hold_run, load_resumable
from gantrain.training.devices import resolve_device
from gantrain.training.distributed import start, stop, world_from_env
from gantrain.training.loop import Trainer, TrainResult
from gantrain.training.settings import EvalSettings, TrainSettings, run_settings
from gantrain.training.setup import Setup, build, build_data, build_metrics, build_networks, build_objective, build_prior


def resumed_config(stored: DictConfig, stored_choices: dict[str, str], overrides: Sequence[str], choices: dict[str, str]) -> DictConfig:
    """The config of a resumed run: the stored one, with this invocation's plain key overrides on top
    (e.g. train.steps=20000 to train longer). Changing a config group (model=..., data=...) is refused."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = OmegaConf.create(OmegaConf.to_container(stored))
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if key == "train.resume" or key.startswith("hydra"):
            continue
        if key in choices:
            used = stored_choices.get(key, stored.get(key))  # (a run stored before task= was a group: its task key)
            if str(override.value()) != str(used):
                raise ConfigError(f"cannot change {key} when resuming (the run used {key}={used}); start a new run instead")
            continue
        OmegaConf.update(cfg, key, override.value(), merge=True)
    OmegaConf.set_struct(cfg, True)
    return cfg


def train(
    cfg: DictConfig,
    run_dir: Path,
    *,
    overrides: Sequence[str] = (),
    choices: dict[str, str] | None = None,
    show_progress: bool = True,
) -> TrainResult:
    """Train the run that `cfg` describes, writing into `run_dir` (held by this process meanwhile: a
    second process training into the same folder is refused; under torchrun rank 0 holds it for all)."""
    with hold_run(run_dir, display_path(run_dir)) if world_from_env().rank == 0 else nullcontext():
        return _train(cfg, run_dir, overrides=overrides, choices=choices, show_progress=show_progress)


def _train(cfg: DictConfig, run_dir: Path, *, overrides: Sequence[str], choices: dict[str, str] | None, show_progress: bool) -> TrainResult:
    choices = {k: str(v) for k, v in (choices or {}).items() if not k.startswith("hydra")}
    state, checkpoint = None, None
    if cfg.train.resume:
        state, checkpoint, damaged = load_resumable(find_checkpoint(cfg.train.resume))
        for line in damaged:
            console.notice(f"{line}; resuming from {display_path(checkpoint)} instead")
        origin = run_folder(checkpoint)
        if origin.resolve() != run_dir.resolve():
            where = (
                f"is at step {state.get('step', '?')}, not the newest checkpoint of {display_path(origin)}: so that nothing "
                "of that run is overwritten, this one"
                if checkpoint.parent.name == "checkpoints"
                else "lies outside a run folder: the run"
            )
            console.notice(f"{display_path(checkpoint)} {where} continues in the new folder {display_path(run_dir)}")
        if "config" not in state:
            raise ConfigError(f"{checkpoint} holds no config to resume from")
        stored = OmegaConf.create(state["config"])
        check_stored_config(stored, checkpoint, allowed=config_targets(cfg))  # the user's own conf/ is trusted
        cfg = resumed_config(stored, state.get("choices", {}), overrides, choices)
        choices = state.get("choices", choices)
    parts = assemble(cfg, choices)
    settings, device, seed, data, nets, objective, prior, make_optimizer, resolved = (
        parts.settings,
        parts.device,
        parts.seed,
        parts.data,
        parts.nets,
        parts.objective,
        parts.prior,
        parts.make_optimizer,
        parts.resolved,
    )
    world = world_from_env()  # torchrun's processes; one process otherwise
    if world.distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes every step: let cuDNN time its algorithms once
    eval_settings = parts.eval_settings
    setup = Setup(
        cfg,
        data=data,
        nets=nets,
        objective=objective,
        prior=prior,
        settings=settings,
        eval_settings=eval_settings,
        device=device,
        seed=seed,
    )
    evaluate = objective.evaluator(setup)
    picture_inputs = objective.picture_inputs(setup)

    start(world, device.type)
    try:
        trainer = Trainer(
            networks=nets,
            objective=objective,
            prior=prior,
            data=data,
            make_optimizer=make_optimizer,
            settings=settings,
            run_dir=run_dir,
            device=device,
            seed=seed,
            metadata={
                "config": OmegaConf.to_yaml(cfg),
                "choices": choices,
                **({"class_names": list(data.class_names)} if data.class_names else {}),
            },
            hparams={**choices, **resolved},
            show_progress=show_progress,
            evaluate=evaluate,
            eval_settings=eval_settings,
            picture_inputs=picture_inputs,
            world=world,
        )
        shaping = [o for o in overrides if o.lstrip("+~").startswith(("model.", "data.image_size=", "data.channels="))] if state else []
        try:
            return _fit(trainer, choices=choices, state=state, checkpoint=checkpoint)
        except CheckpointError as e:
            if shaping and "does not fit" in str(e):  # the likely cause, named
                raise CheckpointError(f"{e}; {' '.join(shaping)} changed the networks the run was built with: resume without it") from None
            raise
    finally:
        stop(world)


class Parts(NamedTuple):
    """What a config builds before any training (assemble)."""

    settings: TrainSettings
    eval_settings: EvalSettings
    device: torch.device
    seed: int
    data: Any
    nets: dict[str, torch.nn.Module]
    objective: Objective
    prior: Any
    make_optimizer: Any
    resolved: dict[str, Any]


def assemble(cfg: DictConfig, choices: dict[str, str]) -> Parts:
    """Build the objects `cfg` describes and check that they fit together, writing nothing: every mistake
    of a config that can be known without training is raised here as a ConfigError (a -m sweep runs this
    for each of its jobs before the first one starts)."""
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except Exception as e:  # an interpolation pointing nowhere
        missing = re.search(r"Interpolation key '(\w+)\.([\w.]+)' not found", str(e))
        if missing and missing.group(1) in choices:  # a key the model expects from another group (pix2pix: loss.conditional)
            group, key = missing.groups()
            raise ConfigError(
                f"model={choices.get('model')} reads {group}.{key}, which {group}={choices[group]} does not have: "
                f"choose a {group} that this model works with (`gantrain --help` lists each model's default)"
            ) from None
        raise ConfigError(f"config: {str(e).splitlines()[0]}") from None

    settings, eval_settings = run_settings(resolved)  # validates train.* and eval.*
    device = resolve_device(cfg.device)
    seed = int(cfg.seed)
    if not 0 <= seed < 2**63:  # torch.manual_seed and numpy's generators take 64-bit seeds
        raise ConfigError(f"seed must be an integer from 0 to 2^63 - 1 (got {seed})")
    torch.manual_seed(seed)

    data = build_data(cfg.data, training=True)
    _classes_from_data(cfg, resolved, data)
    objective: Objective = build_objective(cfg, choices)
    _check_memory(cfg, data, objective, settings, device, choices)  # before the networks take any
    nets = build_networks(cfg)
    if settings.batch_size < 2 and any(isinstance(m, torch.nn.BatchNorm1d) for net in nets.values() for m in net.modules()):
        raise ConfigError(
            f"train.batch_size={settings.batch_size}, but model={choices.get('model', '?')}'s networks use batch norm over "
            "features, which needs at least 2 images a batch: use train.batch_size >= 2"
        )
    try:
        objective.check(nets, data, settings.k)  # model, loss and data fit together (e.g. labels for a conditional GAN)
    except NetworksMismatch as e:
        model, loss = choices.get("model", "?"), choices.get("loss", "?")
        raise ConfigError(
            f"loss={loss}: {e}; model={model} trains with its own loss: leave loss= at the model's default "
            "(`gantrain --help` lists them), or choose a model that this loss trains"
        ) from None
    prior = build_prior(cfg, objective, nets)
    make_optimizer = build(cfg.optim, "optim")
    make_optimizer(torch.nn.Linear(1, 1).parameters())  # validates optim.* before any work
    build_metrics(eval_settings.metrics, eval_settings.extractor)  # a metric's name or needs, refused before any work
    return Parts(settings, eval_settings, device, seed, data, nets, objective, prior, make_optimizer, resolved)


def _classes_from_data(cfg: DictConfig, resolved: dict[str, Any], data: Any) -> None:
    """A data set that names its classes (data=folder data.labels=subfolders) sets model.num_classes to
    how many it has, where the model takes one (its default, 10, is MNIST's and CIFAR-10's), and says so;
    the run's stored config keeps the number. Without labels seen by training (data.labeled_per_class=0)
    a classifier's outputs are clusters, whose number is the user's to choose."""
    if not data.class_names or not data.has_labels or "num_classes" not in cfg.model:
        return
    k = len(data.class_names)
    if cfg.model.num_classes != k:
        with open_dict(cfg):
            cfg.model.num_classes = k
        resolved["model"]["num_classes"] = k
        shown = ", ".join(data.class_names[:6]) + (", ..." if k > 6 else "")
        console.notice(f"model.num_classes={k}: the classes of data.root's subfolders ({shown})")


def _check_memory(
    cfg: DictConfig, data: Any, objective: Objective, settings: TrainSettings, device: torch.device, choices: dict[str, str]
) -> None:
    """One line, before anything large is allocated, when the run cannot fit in the device's memory
    (gantrain/training/memory.py), naming the keys that shrink it."""
    from gantrain.training import memory

    try:
        objective = build_objective(cfg, choices)  # its own copy: running phases changes an objective's state (image pools)
        with torch.device("meta"):
            nets = build_networks(cfg)
        prior = build_prior(cfg, objective, nets)
        batch = memory.on_meta(next(iter(data.stream(settings.batch_size, seed=0, device=torch.device("cpu")))))
    except Exception:  # noqa: BLE001 -- whatever fails here fails again, with its own message, when built for real
        return
    needed = memory.training_bytes(nets, objective, prior, batch, settings.k)
    size = f" at data.image_size={cfg.data.image_size}" if "image_size" in cfg.data else ""
    memory.check_fits(
        needed,
        device,
        f"model={choices.get('model', '?')}{size} with train.batch_size={settings.batch_size}",
        "lower train.batch_size or data.image_size, or narrow the networks (model.*.width; DCGAN's model.generator.max_channels "
        "and model.discriminator.max_channels cap the channels of every layer, as ProGAN caps them at 512)",
    )


def check_job(cfg: DictConfig) -> None:
    """A -m sweep's job, checked before any job of the sweep starts (gantrain/app/sweep_check.py)."""
    from gantrain.app.config import check_finite, check_task

    check_task(cfg)
    check_finite(cfg)
    if cfg.task != "train":
        return
    if cfg.train.resume:
        find_checkpoint(cfg.train.resume)
        return
    choices = {k: str(v) for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra")}
    job = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    with open_dict(job):
        del job["hydra"]
    assemble(job, choices)


def _fit(trainer: Trainer, *, choices: dict[str, str], state: dict | None, checkpoint: Path | None) -> TrainResult:
    """Say what is being trained, restore a checkpoint, train."""
    data, world = trainer.data, trainer.world
    if data.notice:
        console.notice(data.notice)
    if data.subset_of is not None:
        total, seed = data.subset_of
        kept = (
            f"{len(data):,} images of each domain, of the {total:,} of both"
            if data.channels_b is not None
            else f"{len(data):,} of the {total:,}"
        )
        console.notice(f"data.subset={len(data):,}: training on {kept} training images (data.subset_seed={seed})")
    sizes = ", ".join(f"{name} {_count(net)} params" for name, net in trainer.nets.items())
    console.info(
        f"[bold]gantrain[/] {' '.join(f'{k}={v}' for k, v in choices.items() if k != 'model_data')} | {data.describe()} | "
        f"{sizes} | device {trainer.device}"
        f"{f' x {world.size} processes' if world.distributed else ''} | run folder {trainer.run_dir}"
    )
    for net in trainer.nets.values():
        if isinstance(net, Described):
            console.info(net.describe())
    if state is not None and checkpoint is not None:
        trainer.load_state_dict(state, checkpoint)
        console.info(f"resumed from step {trainer.step} ({display_path(checkpoint)})")
        if trainer.step >= trainer.settings.steps:
            raise ConfigError(
                f"the run is already at step {trainer.step} >= train.steps={trainer.settings.steps}; pass a larger train.steps to train on"
            )
    return trainer.fit()


@runtime_checkable
class Described(Protocol):
    """A network that says in one line what it is (a PatchGAN's receptive field, a ResNet's blocks)."""

    def describe(self) -> str: ...


def _count(module: torch.nn.Module) -> str:
    n = sum(p.numel() for p in module.parameters())
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"
