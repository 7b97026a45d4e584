"""From a composed config to a finished run: build every object (validating as it goes, before
anything is written), then hand them to the Trainer. Importable and testable without the CLI."""

import os
import re
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gantrain import console
import gantrain.config  # noqa: F401  (registers the resolvers conf/ uses, for runs started without the CLI)
from gantrain.checkpoint import check_stored_config, config_targets, find_checkpoint, hold_run, load_resumable
from gantrain.devices import resolve_device
from gantrain.distributed import World, start, stop, world_from_env
from gantrain.errors import ConfigError, DataError, GantrainError
from gantrain.evaluation import Evaluations, GeneratedScores, TestError, TranslationMetrics, statistics_sample
from gantrain.losses.base import is_classifier, is_conditional
from gantrain.priors import LatentPrior
from gantrain.settings import EvalSettings, TrainSettings
from gantrain.training import Trainer, TrainResult


def build(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, but a user's mistake surfaces as one ConfigError line, not a traceback."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, GantrainError):
            raise cause from None
        if isinstance(cause, TypeError):
            raise ConfigError(f"{where}: {cause}") from None
        detail = str(cause).strip().splitlines()[0] if cause is not None and str(cause).strip() else str(e).splitlines()[0]
        raise ConfigError(f"{where}: {detail}") from None


def resumed_config(
    stored: DictConfig, stored_choices: dict[str, str], overrides: Sequence[str], choices: dict[str, str]
) -> DictConfig:
    """The config of a resumed run: the stored one, with this invocation's plain key overrides on top
    (e.g. train.steps=20000 to train longer). Changing a config group (model=..., data=...) is refused."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = OmegaConf.create(OmegaConf.to_container(stored))
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if key == "train.resume" or key.startswith("hydra"):
            continue
        if key in choices:
            if str(override.value()) != str(stored_choices.get(key)):
                raise ConfigError(
                    f"cannot change {key} when resuming (the run used {key}={stored_choices.get(key)}); "
                    "start a new run instead"
                )
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


def _train(
    cfg: DictConfig, run_dir: Path, *, overrides: Sequence[str], choices: dict[str, str] | None, show_progress: bool
) -> TrainResult:
    choices = {k: str(v) for k, v in (choices or {}).items() if not k.startswith("hydra")}
    state, checkpoint = None, None
    if cfg.train.resume:
        state, checkpoint, damaged = load_resumable(find_checkpoint(cfg.train.resume))
        for line in damaged:
            console.notice(f"{line}; resuming from {display_path(checkpoint)} instead")
        if "config" not in state:
            raise ConfigError(f"{checkpoint} holds no config to resume from")
        stored = OmegaConf.create(state["config"])
        check_stored_config(stored, checkpoint, allowed=config_targets(cfg))  # the user's own conf/ is trusted
        cfg = resumed_config(stored, state.get("choices", {}), overrides, choices)
        choices = state.get("choices", choices)
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

    try:
        settings = TrainSettings(**resolved["train"])  # validates train.*
    except TypeError as e:  # a key added with +train.NAME=...
        raise ConfigError(f"train: {e}; `gantrain --cfg job` lists the train.* keys") from None
    device = resolve_device(cfg.device)
    world = world_from_env()  # torchrun's processes; one process otherwise
    if world.distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes every step: let cuDNN time its algorithms once
    seed = int(cfg.seed)
    torch.manual_seed(seed)

    data = build(cfg.data, "data")
    G = build(cfg.model.generator, "model.generator")
    D = build(cfg.model.discriminator, "model.discriminator")
    objective = build(cfg.loss, "loss")
    objective.check(G, D, data)  # model, loss and data fit together (e.g. labels for a conditional GAN)
    translation = bool(getattr(objective, "translation", False))  # paired data: G translates, no z
    prior = None if translation else LatentPrior(cfg.model.z_dim, cfg.model.z_dist, G.num_classes if is_conditional(G) else None)
    make_optimizer = build(cfg.optim, "optim")
    make_optimizer(torch.nn.Linear(1, 1).parameters())  # validates optim.* before any work
    eval_settings = EvalSettings(**resolved["eval"])
    preview = None
    if translation:
        evaluate, preview = translation_evaluator(cfg, data, device, settings.n_samples, settings.batch_size)
    else:
        evaluate = test_error_evaluator(cfg, data, D, device, eval_settings.bn_images, eval_settings.cluster_match)
        if eval_settings.n > 0 and eval_settings.every > 0:
            generated = generated_scores_evaluator(cfg, prior, eval_settings, device, seed)
            evaluate = generated if evaluate is None else Evaluations(evaluate, generated)

    start(world, device.type)
    try:
        return _fit(cfg, run_dir, G=G, D=D, objective=objective, prior=prior, data=data, make_optimizer=make_optimizer,
                    settings=settings, device=device, seed=seed, choices=choices, resolved=resolved, show_progress=show_progress,
                    evaluate=evaluate, eval_settings=eval_settings, preview=preview, world=world, state=state, checkpoint=checkpoint)
    finally:
        stop(world)


def _fit(cfg: DictConfig, run_dir: Path, *, G: torch.nn.Module, D: torch.nn.Module, choices: dict[str, str], resolved: dict,
         world: World, state: dict | None, checkpoint: Path | None, **parts: Any) -> TrainResult:
    """Build the Trainer (inside the process group when there is one), restore a checkpoint, train."""
    settings, data, device = parts["settings"], parts["data"], parts["device"]
    trainer = Trainer(
        G=G,
        D=D,
        run_dir=run_dir,
        metadata={"config": OmegaConf.to_yaml(cfg), "choices": choices},
        hparams={**choices, **resolved},
        world=world,
        **parts,
    )
    notice = getattr(data, "notice", None)
    if notice:
        console.notice(notice)
    console.info(
        f"[bold]gantrain[/] {' '.join(f'{k}={v}' for k, v in choices.items() if k != 'model_data')} | {data.describe()} | "
        f"G {_count(G)} params, D {_count(D)} params | device {device}"
        f"{f' x {world.size} processes' if world.distributed else ''} | run folder {run_dir}"
    )
    if hasattr(D, "describe"):
        console.info(D.describe())
    if state is not None and checkpoint is not None:
        trainer.load_state_dict(state, checkpoint)
        console.info(f"resumed from step {trainer.step} ({display_path(checkpoint)})")
        if trainer.step >= settings.steps:
            raise ConfigError(
                f"the run is already at step {trainer.step} >= train.steps={settings.steps}; "
                "pass a larger train.steps to train on"
            )
    return trainer.fit()


def test_error_evaluator(
    cfg: DictConfig, data: object, D: torch.nn.Module, device: torch.device, bn_images: int = 0, cluster_match: str = "one_to_one"
) -> TestError | None:
    """For a classifier D on a labelled data set with a test split: its test (or clustering, its
    clusters matched to classes by `cluster_match`) error on that split, which training never reads; a
    batch-norm D's statistics re-estimated on `bn_images` training images (a fixed random choice) for
    each evaluation."""
    if not is_classifier(D) or getattr(data, "num_classes", None) is None or "split" not in cfg.data:
        return None
    try:
        test = build(cfg.data, "data", split="test", labeled_per_class=None)
    except DataError as e:
        console.notice(f"no test split, so no eval/test_error ({e})")
        return None
    train_images = getattr(data, "images", None)
    statistics_images = None
    if bn_images > 0 and isinstance(train_images, torch.Tensor):
        statistics_images = statistics_sample(train_images, bn_images)
    clustering = not data.has_labels
    # a clustering run's label-free score, on a fixed choice of training images (never the test split)
    probe_images = statistics_sample(train_images, PROBE_IMAGES) if clustering and isinstance(train_images, torch.Tensor) else None
    return TestError(
        test.images, test.labels, test.num_classes, clustering=clustering, device=device, statistics_images=statistics_images,
        cluster_match=cluster_match, probe_images=probe_images,
    )


PROBE_IMAGES = 5000  # training images on which a clustering D's mutual information is measured


HELD_OUT_PAIRS = 1000  # the most held-out pairs a translation run is scored on


def generated_scores_evaluator(cfg: DictConfig, prior: LatentPrior, settings: EvalSettings, device: torch.device, seed: int) -> GeneratedScores:
    """eval.n > 0: FID / KID / IS / coverage of eval.n samples from a fixed z at every evaluation, against
    as many held-out images (the offline classifier is trained first if it is not cached)."""
    from gantrain import fidelity
    from gantrain.data.base import sample_uint8
    from gantrain.tasks import run_classifier, run_data

    train, held_out = run_data(cfg)
    classifier, data_share = None, None
    if settings.extractor == "classifier":
        classifier, data_share, described = run_classifier(cfg, train, held_out, device)
        console.info(f"eval.n={settings.n}: FID, KID, IS and class coverage every {settings.every} steps, features of {described}")
    real = sample_uint8(held_out if held_out is not None else train, settings.n, seed).to(device)
    scorer = fidelity.Scorer(
        real, extractor=settings.extractor, classifier=classifier, data_share=data_share, inception_weights=settings.inception_weights
    )
    latent = prior.sample(settings.n, device=device, generator=torch.Generator().manual_seed(seed + 4))
    return GeneratedScores(scorer, latent, device)


def translation_evaluator(
    cfg: DictConfig, data: object, device: torch.device, n_preview: int, batch_size: int
) -> tuple[TranslationMetrics | None, tuple[torch.Tensor, torch.Tensor]]:
    """Paired data: L1 / PSNR / SSIM / sharpness on the held-out pairs (val/, or test/; at most
    HELD_OUT_PAIRS of them, spread evenly), which training never reads, and a few of them for the triplet grid. Without a held-out split: training pairs for
    the grid, no eval/*."""
    try:
        held_out = build(cfg.data, "data", split="val")
    except DataError as e:
        console.notice(f"no held-out pairs, so no eval/* ({e})")
        held_out = None
    pairs = held_out if held_out is not None else data
    n = min(len(pairs), max(1, n_preview // 8))  # a few rows of triplets, spread over the split
    sources, targets = zip(*(pairs[int(i)] for i in torch.linspace(0, len(pairs) - 1, n).round().long()))
    preview = (torch.stack(sources), torch.stack(targets))
    if held_out is None:
        return None, preview
    # at most HELD_OUT_PAIRS of them, spread evenly: they are held in memory for every evaluation
    chosen = torch.linspace(0, len(held_out) - 1, min(len(held_out), HELD_OUT_PAIRS)).round().long().unique()
    all_sources, all_targets = zip(*(held_out[int(i)] for i in chosen))
    # batches of the training batch size: batch norm then normalises as it did in training
    metrics = TranslationMetrics(torch.stack(all_sources), torch.stack(all_targets), device=device, batch_size=batch_size)
    return metrics, preview


def _count(module: torch.nn.Module) -> str:
    n = sum(p.numel() for p in module.parameters())
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
