"""The training loop's settings: the `train.*` keys of the config. Kept free of torch so that the
command can check a config before it loads any heavy library."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gantrain.core.errors import ConfigError
from gantrain.metrics.registry import metric

if TYPE_CHECKING:
    import torch

PRECISIONS = ("fp32", "bf16", "fp16")  # train.precision
NAN_POLICIES = ("stop", "rollback")  # train.nan_policy


PHASE_KEYS = {"lr": "its learning rate", "beta1": "Adam's beta1", "beta2": "Adam's beta2", "every": "run every N-th step"}


def phase_settings(name: object, value: object) -> dict[str, float | int]:
    """train.phases.<name>: a mapping of PHASE_KEYS to numbers, checked; a ConfigError naming the key otherwise."""
    where = f"train.phases.{name}"
    try:
        items = dict(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a mapping of {', '.join(PHASE_KEYS)} (got {value!r})") from None
    checked: dict[str, float | int] = {}
    for key, number in items.items():
        if key not in PHASE_KEYS:
            raise ConfigError(f"{where}.{key} is not a phase setting; the settings are {', '.join(PHASE_KEYS)}")
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ConfigError(f"{where}.{key} must be a number, {PHASE_KEYS[key]} (got {number!r})")
        if key == "every" and (not isinstance(number, int) or number < 1):
            raise ConfigError(f"{where}.every must be an integer >= 1, the steps between the phase's runs (got {number!r})")
        if key == "lr" and not number > 0:
            raise ConfigError(f"{where}.lr must be > 0 (got {number!r})")
        if key in ("beta1", "beta2") and not 0 <= number < 1:
            raise ConfigError(f"{where}.{key} must be in [0, 1) (got {number!r})")
        checked[str(key)] = number
    return checked


@dataclass
class TrainSettings:
    """The loop's settings: the `train.*` keys of the config (this class is also their schema)."""

    steps: int = 3000  # generator steps to train for (each preceded by k discriminator steps)
    k: int = 1  # discriminator steps per generator step (Algorithm 1 of Goodfellow et al.)
    batch_size: int = 64  # images per step, for D and for G
    log_every: int = 50  # steps between scalar logs (TensorBoard and the console)
    sample_every: int = 500  # steps between sample grids from the fixed z (samples/ and TensorBoard)
    ckpt_every: int = 500  # steps between checkpoints (checkpoints/last.pt and step_N.pt)
    keep_ckpts: int = 3  # periodic step_N.pt files kept besides last.pt; 0 keeps them all
    n_samples: int = 64  # images in each sample grid
    num_workers: int = 2  # loader processes for streamed data sets (LSUN, folders); 0 loads in-process
    resume: str | None = None  # a run folder or checkpoint file to continue from
    precision: str = "fp32"  # fp32 | bf16 | fp16: autocast of the networks' forward passes (losses stay float32)
    # NHWC convolutions; null: the faster layout here (on with bf16/fp16; with fp32 on a CPU with AVX-512)
    channels_last: bool | None = None
    compile: bool = False  # torch.compile the networks for training (minutes of compiling first)
    nan_policy: str = "stop"  # a NaN/Inf loss or weight: stop (keep the last good checkpoint) | rollback (reload it, lower lr)
    nan_retries: int = 3  # rollback: give up after this many rollbacks
    nan_lr_factor: float = 0.5  # rollback: multiply both learning rates by this at each rollback
    # the last fraction of train.steps over which both learning rates fall linearly towards zero (Isola et
    # al.'s and Salimans et al.'s schedule; 0.5: constant for the first half); 0: constant throughout
    lr_decay: float = 0.0
    # keep an exponential moving average of G's weights with this decay (e.g. 0.999; ProGAN's): sample grids,
    # evaluation and every task=... then use it; null: none. Kept in the checkpoint.
    g_ema: float | None = None
    # or the average's half-life in images (StyleGAN2-ADA's ema_kimg x 1000): each update on a batch of B
    # images weighs the average by 0.5 ** (B / half-life), so the memory is the same whatever the batch size;
    # null: train.g_ema decides. Kept as a number of images, not steps, so a short run on a CPU and a long
    # one on a GPU average over the same share of what G has seen.
    g_ema_images: float | None = None
    # with g_ema_images: the half-life is at most this fraction of the images seen so far (StyleGAN2-ADA's
    # ema_rampup, 0.05), so an average early in training, or in a short run, does not lag behind on
    # G's initial weights; null: the half-life from the first step
    g_ema_rampup: float | None = None
    # the evaluation (eval.every) whose checkpoint is kept as checkpoints/best.pt, by this metric (e.g.
    # eval/fid; which way is better is the metric's own, gantrain/metrics/registry.py); null: the evaluation's own
    # choice (FID where it is computed, else the model's headline: L1 for Pix2Pix, D's mutual information
    # for an unlabelled CatGAN); none: keep no best.pt
    best_by: str | None = None
    # stop after this many seconds of training (a checkpoint and the samples are written as at the last
    # step): a benchmark's equal wall-clock budget, or a cluster job's time limit; null: train.steps decides
    time_limit: float | None = None

    # per training phase (by the objective's phase names: discriminator, generator, ...), its own optimiser
    # settings and interval over optim.*: lr, beta1, beta2, every (run every N-th step), e.g.
    # train.phases.discriminator.lr=4e-4 train.phases.generator.lr=1e-4 (TTUR); empty: optim.* for every phase
    phases: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.phases = {str(name): phase_settings(name, value) for name, value in dict(self.phases or {}).items()}
        positive = {
            "steps": "the number of generator steps",
            "k": "the number of discriminator steps per generator step",
            "batch_size": "images per step",
            "log_every": "steps between logs",
            "sample_every": "steps between sample grids",
            "ckpt_every": "steps between checkpoints",
            "n_samples": "images per sample grid",
        }
        for name, meaning in positive.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"train.{name} must be an integer >= 1, {meaning} (got {value})")
        for name in ("keep_ckpts", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0 (got {getattr(self, name)})")
        for name in ("channels_last", "compile"):  # OmegaConf turns 3 into True for a bool key: refuse it
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ConfigError(f"train.{name} must be true or false (got {value!r})")
        if self.nan_policy not in NAN_POLICIES:
            raise ConfigError(f"train.nan_policy must be one of {', '.join(NAN_POLICIES)} (got {self.nan_policy!r})")
        if isinstance(self.nan_retries, bool) or not isinstance(self.nan_retries, int) or self.nan_retries < 1:
            raise ConfigError(f"train.nan_retries must be an integer >= 1, the rollbacks before giving up (got {self.nan_retries})")
        if not 0.0 < float(self.nan_lr_factor) < 1.0:
            raise ConfigError(f"train.nan_lr_factor must be in (0, 1), the learning rates' factor at a rollback (got {self.nan_lr_factor})")
        if isinstance(self.lr_decay, bool) or not isinstance(self.lr_decay, (int, float)) or not 0.0 <= self.lr_decay <= 1.0:
            raise ConfigError(
                f"train.lr_decay must be a number in [0, 1], the last fraction of the steps over which the learning "
                f"rates fall to zero (got {self.lr_decay!r})"
            )
        if self.time_limit is not None and (isinstance(self.time_limit, bool) or not 0 < float(self.time_limit) < float("inf")):
            raise ConfigError(f"train.time_limit must be a number of seconds > 0, or null (got {self.time_limit!r})")
        if self.g_ema is not None and (isinstance(self.g_ema, bool) or not 0.0 <= float(self.g_ema) < 1.0):
            raise ConfigError(f"train.g_ema must be in [0, 1) (e.g. 0.999) or null for none (got {self.g_ema!r})")
        for name in ("g_ema_images", "g_ema_rampup"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf")):
                raise ConfigError(f"train.{name} must be a number > 0 or null (got {value!r})")
        if self.g_ema is not None and self.g_ema_images is not None:
            raise ConfigError(
                f"train.g_ema={self.g_ema:g} and train.g_ema_images={self.g_ema_images:g} both set the moving average of G: "
                "keep one: train.g_ema_images=null train.g_ema_rampup=null for a fixed decay per step, or train.g_ema=null for the "
                "half-life"
            )
        if self.g_ema_rampup is not None and self.g_ema_images is None:
            raise ConfigError("train.g_ema_rampup ramps the half-life of train.g_ema_images: set that too, or train.g_ema_rampup=null")
        if self.best_by is not None and self.best_by != "none":
            metric(str(self.best_by))  # a name gantrain computes, or one line listing them
        if self.precision not in PRECISIONS:
            raise ConfigError(f"train.precision must be one of {', '.join(PRECISIONS)} (got {self.precision!r})")

    def lr_factor(self, step: int) -> float:
        """The learning rates' multiplier for generator step `step` (1 .. steps): 1 until the last
        round(lr_decay * steps) steps, then falling linearly, 1/n at the last of n decaying steps. A function
        of the step alone, so a resumed run follows the schedule exactly (train.steps=MORE stretches it)."""
        decaying = round(float(self.lr_decay) * self.steps)
        if decaying == 0:
            return 1.0
        return min(1.0, max(0, self.steps - step + 1) / decaying)

    @property
    def averages_g(self) -> bool:
        """Whether the loop keeps a moving average of G (train.g_ema or train.g_ema_images)."""
        return self.g_ema is not None or self.g_ema_images is not None

    def g_ema_decay(self, images_seen: int, batch_images: int) -> float:
        """The decay of G's average for one update on `batch_images` images (all processes together) after
        `images_seen` images: train.g_ema as set, or 0.5 ** (B / h) for the half-life h = train.g_ema_images,
        at most train.g_ema_rampup * images_seen (0 at the first update: the average starts at G)."""
        if self.g_ema_images is None:
            return float(self.g_ema) if self.g_ema is not None else 0.0
        half_life = float(self.g_ema_images)
        if self.g_ema_rampup is not None:
            half_life = min(half_life, float(self.g_ema_rampup) * images_seen)
        return 0.5 ** (batch_images / half_life) if half_life > 0 else 0.0

    def nhwc(self, device: "torch.device") -> bool:
        """Whether the networks run channels-last on `device`: as set, or by default the faster layout there
        (docs/performance.md has the numbers): channels-last under mixed precision, where oneDNN's and
        cuDNN's fast reduced-precision kernels want it, and in float32 on a CPU with AVX-512 (DCGAN 64x64:
        1.18x NCHW on an Intel Xeon with AMX); NCHW in float32 on an AVX2-only CPU (1.08x channels-last on
        an AMD EPYC Zen 3) and on a GPU."""
        if self.channels_last is not None:
            return bool(self.channels_last)
        if self.precision != "fp32":
            return True
        from gantrain.training.precision import cpu_has_avx512

        return device.type == "cpu" and cpu_has_avx512()


@dataclass
class EvalSettings:
    """Evaluation during training: the `eval.*` keys of the config."""

    every: int = 500  # steps between evaluations on the held-out split (classifier discriminators); 0: never
    ema: float | None = None  # evaluate an exponential moving average of D's weights with this decay (e.g. 0.999)
    # real training images on which a batch-norm D's statistics are re-estimated for each test error; 0: its running ones
    bn_images: int = 5000
    # trained without labels: clusters -> classes one_to_one (Hungarian) | majority (each its most common class)
    cluster_match: str = "one_to_one"
    n: int = 0  # samples scored (FID, KID, IS, class coverage) at every evaluation during training; 0: none
    # what FID/KID/IS see (task=eval): classifier (gantrain's, offline) | inception | none (SWD alone, for unlabelled data)
    extractor: str = "classifier"
    inception_weights: str | None = None  # eval.extractor=inception: the file pt_inception-2015-12-05-6726825d.pth
    # the sample scores, by name (conf/metrics/: fid, kid, is, swd, prdc, classes; a user's own, docs/extending.md),
    # e.g. [fid,swd]; null: every one eval.extractor serves (swd alone with eval.extractor=none)
    metrics: list[str] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 0:
            raise ConfigError(f"eval.every must be an integer >= 0, the steps between evaluations (got {self.every})")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0 or self.n == 1:
            raise ConfigError(f"eval.n must be 0 (no sample scores) or an integer >= 2, the samples scored (got {self.n})")
        if self.cluster_match not in ("one_to_one", "majority"):
            raise ConfigError(f"eval.cluster_match must be one_to_one or majority (got {self.cluster_match!r})")
        if self.extractor not in ("classifier", "inception", "none"):
            raise ConfigError(f"eval.extractor must be classifier, inception or none (got {self.extractor!r})")
        if isinstance(self.bn_images, bool) or not isinstance(self.bn_images, int) or self.bn_images < 0:
            raise ConfigError(
                f"eval.bn_images must be an integer >= 0, the real images that re-estimate batch-norm statistics (got {self.bn_images})"
            )
        # (the names themselves, an empty list and repeats: training/setup.build_metrics)
        if self.metrics is not None and (isinstance(self.metrics, str) or not all(isinstance(m, str) for m in self.metrics)):
            raise ConfigError(f"eval.metrics must be a list of metric names, e.g. [fid,kid,swd], or null (got {self.metrics!r})")
        if self.ema is not None and not 0.0 <= float(self.ema) < 1.0:
            raise ConfigError(f"eval.ema must be in [0, 1) (e.g. 0.999) or null (got {self.ema})")


def run_settings(resolved: dict[str, Any]) -> tuple[TrainSettings, EvalSettings]:
    """train.* and eval.* of a resolved config (OmegaConf.to_container(cfg, resolve=True)), checked: the one
    place a run's settings are read, for training (gantrain/app/run.py) and for a task that re-runs a
    run's evaluation (gantrain/tasks/evaluate.py)."""
    try:
        settings = TrainSettings(**resolved["train"])
    except TypeError as e:  # a key added with +train.NAME=...
        raise ConfigError(f"train: {e}; `gantrain --cfg job` lists the train.* keys") from None
    try:
        eval_settings = EvalSettings(**resolved["eval"])
    except TypeError as e:
        raise ConfigError(f"eval: {e}; `gantrain --cfg job` lists the eval.* keys") from None
    return settings, eval_settings
