"""From a composed config to objects: the data, the run's named networks, the objective, the prior, the
evaluators. Training (gantrain/app/run.py) and the tasks on a trained run (gantrain/tasks/) both build
through this module; it imports neither of them.

The run's networks are the nodes of `model.*` that carry a `_target_`: model.generator and
model.discriminator for the GANs, model.encoder and model.decoder for the VAE, and so on. Each is built
from its own node, in the order the model's YAML file lists them, and named by its key.
"""

import collections.abc
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn
from torch.utils.data import Subset

from gantrain.core import (
    console,
    resolvers,  # noqa: F401  (registers the resolvers a stored run's config uses)
)
from gantrain.core.errors import ConfigError, DataError, GantrainError
from gantrain.core.objective import Objective
from gantrain.core.priors import LatentPrior
from gantrain.data.folder import ImageFolder
from gantrain.metrics.evaluation import Evaluations, Evaluator, GeneratedScores, TestError, TranslationMetrics
from gantrain.models.base import is_classifier, is_conditional
from gantrain.models.batch_norm import statistics_sample
from gantrain.training.settings import EvalSettings, TrainSettings

METRIC_NAME = re.compile(r"[A-Za-z0-9_]+")  # a file name in metrics/, never a path

PROBE_IMAGES = 5000  # training images on which a clustering D's mutual information is measured
HELD_OUT_PAIRS = 1000  # the most held-out pairs a translation run is scored on


_SEQUENCES = (list, tuple, collections.abc.Sequence)


def _described(annotation: Any) -> str | None:
    """What a constructor's annotated parameter accepts, in words; None when not a plain value type."""
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if annotation in names:
        return names[annotation]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in _SEQUENCES and len(args) == 1 and args[0] in names:
        return f"a list of {names[args[0]].removeprefix('an ').removeprefix('a ')}s, e.g. [1,2]".replace("true or falses", "booleans")
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        parts = [_described(a) for a in args if a is not type(None)]
        if parts and all(parts):
            return " or ".join(parts) + (" or null" if type(None) in args else "")
    return None


def _accepts(annotation: Any, value: Any) -> bool:
    if value is None:
        return annotation is type(None) or type(None) in typing.get_args(annotation)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in args)
    if typing.get_origin(annotation) in _SEQUENCES and len(args) == 1:
        return isinstance(value, (ListConfig, list, tuple)) and all(_accepts(args[0], v) for v in value)
    return True  # lists, modules, anything else: the constructor checks it


def check_types(node: DictConfig, where: str) -> None:
    """Each value of a config node against the annotation of the constructor parameter it feeds, when the
    constructor failed without a message of its own: `model.z_dim=abc` is one line naming the key and what
    it takes, not the message of whatever the string first met inside the constructor."""
    from hydra._internal.utils import _locate

    try:
        target = _locate(node._target_)  # a class or a function (get_class would log the latter as an error)
        hints = typing.get_type_hints(target.__init__ if isinstance(target, type) else target)
    except Exception:  # noqa: BLE001 -- a target that cannot be read here is reported by instantiate itself
        return
    for key in node:
        if key == "_target_" or key not in hints or _described(hints[key]) is None:
            continue
        value = node[key]
        if not _accepts(hints[key], value):
            raw = OmegaConf.to_container(node, resolve=False)[key]  # type: ignore[index]
            named = f"{where}.{key}"
            if isinstance(raw, str) and raw.startswith("${") and raw.endswith("}"):  # ${model.z_dim}, ${oc.select:model.beta,1.0}
                named = raw[2:-1].removeprefix("oc.select:").split(",")[0]
            raise ConfigError(f"{named} must be {_described(hints[key])} (got {value!r})")


def build(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, but a user's mistake surfaces as one ConfigError line, not a traceback."""
    try:
        built = instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, GantrainError):  # the constructor's own message (it knows the ranges too)
            raise cause from None
        check_types(node, where)  # a value of the wrong type that the constructor tripped over: named
        if isinstance(cause, TypeError):
            raise ConfigError(f"{where}: {cause}") from None
        detail = str(cause).strip().splitlines()[0] if cause is not None and str(cause).strip() else str(e).splitlines()[0]
        raise ConfigError(f"{where}: {detail}") from None
    check_types(node, where)  # what the constructor took without complaint (a width of 1.5) is still refused
    return built


def build_data(data: DictConfig, *, training: bool = False, **kwargs: Any) -> Any:
    """data.* built (its constructor takes `kwargs` over the node's values, e.g. split="test"). data.subset
    and data.subset_seed are every data set's keys, read here, not by its constructor: `training`, the
    run's training images, keeps data.subset of them (gantrain/data/subset.py); the held-out split and
    what evaluation reads are the whole."""
    import copy

    from omegaconf import open_dict

    from gantrain.data.subset import KEYS, take_subset

    node = copy.deepcopy(data)  # keeps its place in the tree: interpolations to other groups still resolve
    with open_dict(node):
        subset = {key: node.pop(key, None) for key in KEYS}
    built = build(node, "data", **kwargs)
    if not training or subset["subset"] is None:
        return built
    return take_subset(built, subset["subset"], 0 if subset["subset_seed"] is None else subset["subset_seed"])


def build_objective(cfg: DictConfig, choices: Mapping[str, str] | None = None) -> Objective:
    """The run's objective from loss.*, given the run's augment.* (the transform of its discriminators'
    inputs; a run stored before augment existed has none). `choices`: the config groups chosen (Hydra's
    runtime choices), for the line that refuses an augmentation of a model without a discriminator."""
    from gantrain.augment.base import NoAugment
    from gantrain.losses.base import JudgedObjective

    augment = build(cfg.augment, "augment") if cfg.get("augment") is not None else NoAugment()
    objective = build(cfg.loss, "loss")
    if isinstance(augment, NoAugment):
        return objective
    if not isinstance(objective, JudgedObjective):
        picked = dict(choices or {})
        raise ConfigError(
            f"augment={picked.get('augment', type(augment).__name__)} transforms a discriminator's inputs, but "
            f"loss={picked.get('loss', type(objective).__name__)} trains none: leave augment=none"
        )
    return build(cfg.loss, "loss", augment=augment)


def config_folders() -> list[Path]:
    """The config folders a run searches, in Hydra's order: gantrain's conf/ and the folders a user adds with
    hydra.searchpath=[file://DIR] (outside a Hydra run, gantrain's own)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        sources = HydraConfig.get().runtime.config_sources
        return [Path(source.path) for source in sources if source.schema == "file"]
    from gantrain.core.folders import conf_dir

    return [conf_dir()]


def metric_names() -> list[str]:
    """The metrics eval.metrics may name: the files of each config folder's metrics/."""
    return sorted({f.stem for folder in config_folders() for f in (folder / "metrics").glob("*.yaml")})


def build_metrics(names: Sequence[str] | None, extractor: str) -> list[Any] | None:
    """eval.metrics: each name's metrics/<name>.yaml (gantrain's conf/metrics/ or a user's folder on
    hydra.searchpath) built, and checked against eval.extractor; None: the defaults of that extractor."""
    from gantrain.metrics.fidelity import check_metrics
    from gantrain.metrics.sample_metrics import SampleMetric

    if names is None:
        return None
    if len(names) == 0:
        raise ConfigError(
            "eval.metrics=[] names no metric: leave it out (or eval.metrics=null) for the defaults, name one or more "
            f"({', '.join(metric_names())}), or set eval.n=0 to score no samples during training"
        )
    twice = sorted({str(name) for name in names if list(names).count(name) > 1})
    if twice:
        raise ConfigError(f"eval.metrics names {', '.join(twice)} more than once: name each metric once")
    metrics = []
    for name in names:
        found = [f for folder in config_folders() if (f := folder / "metrics" / f"{name}.yaml").is_file()]
        if not METRIC_NAME.fullmatch(str(name)) or not found:
            raise ConfigError(
                f"eval.metrics: there is no metric {name!r}; choose from {', '.join(metric_names())}, or add metrics/{name}.yaml "
                "to a config folder (docs/extending.md)"
            )
        metric = build(OmegaConf.load(found[0]), f"metric {name}")
        if not isinstance(metric, SampleMetric):
            raise ConfigError(
                f"eval.metrics: {found[0]} builds a {type(metric).__name__}, not a SampleMetric (gantrain/metrics/sample_metrics.py)"
            )
        metrics.append(metric)
    check_metrics(metrics, extractor, names)
    return metrics


def network_keys(cfg: DictConfig) -> list[str]:
    """The names of the run's networks: the model.* nodes with a `_target_`, in the config's order."""
    return [key for key, node in cfg.model.items() if isinstance(node, DictConfig) and "_target_" in node]


def build_networks(cfg: DictConfig, only: tuple[str, ...] | None = None) -> dict[str, nn.Module]:
    """Each network of the run from its own model.<name> node (`only`: just those)."""
    keys = network_keys(cfg)
    z_dim = cfg.model.get("z_dim")
    if isinstance(z_dim, int) and not isinstance(z_dim, bool) and z_dim < 1:  # (the networks would fail on it in torch's words)
        raise ConfigError(f"model.z_dim must be at least 1, the size of the latent z (got {z_dim})")
    return {key: build(cfg.model[key], f"model.{key}") for key in keys if only is None or key in only}


def build_prior(cfg: DictConfig, objective: Objective, nets: Mapping[str, nn.Module]) -> LatentPrior | None:
    """p(z) of a run whose objective has a generator (labels too for a conditional one); None otherwise."""
    if objective.generator is None:
        return None
    G = nets[objective.generator]
    return LatentPrior(cfg.model.z_dim, cfg.model.z_dist, G.num_classes if is_conditional(G) else None)


def run_data(cfg: DictConfig, train: Any = None) -> tuple[Any, Any]:
    """A run's training data with every label, and its held-out split (None when it has none). `train`: the
    training set built already, reused when it has every label (built again with them otherwise: a
    semi-supervised run's data keeps a few)."""
    all_labels = {"labeled_per_class": None} if "labeled_per_class" in cfg.data else {}
    if train is None or (train.num_classes is not None and not train.fully_labelled):
        train = build_data(cfg.data, **all_labels)
    held_out = None
    if "split" in cfg.data:
        try:
            held_out = build_data(cfg.data, split="test", **all_labels)
        except DataError:
            held_out = None
    # a labelled folder, read into memory: the classifier and the class shares take whole tensors
    train, held_out = (d.loaded() if isinstance(d, ImageFolder) and d.labels is not None else d for d in (train, held_out))
    return train, held_out


def run_classifier(cfg: DictConfig, train: Any, held_out: Any, device: torch.device) -> tuple[Any, torch.Tensor, str]:
    """The offline classifier of a run's data (trained once, then cached), the data's class shares,
    and a line saying which classifier it is."""
    from gantrain.metrics import extractor_cache
    from gantrain.metrics.classifier import VERSION

    labels = getattr(train, "labels", None)
    if train.num_classes is None or not isinstance(labels, torch.Tensor):
        raise ConfigError(
            f"eval.extractor=classifier trains on the data set's labels, and {cfg.data._target_.rsplit('.', 1)[-1]} has none: "
            "use eval.extractor=inception eval.inception_weights=PATH"
        )
    if held_out is not None and isinstance(getattr(held_out, "labels", None), torch.Tensor):
        check = (held_out.images, held_out.labels)
    else:  # no held-out split: check on the last tenth of the training images
        check = (train.images[-len(train) // 10 :], labels[-len(train) // 10 :])
    name = cfg.data._target_.rsplit(".", 1)[-1].lower()
    found = extractor_cache.data_classifier(name, (train.images, labels), check, train.num_classes)
    data_share = torch.bincount(labels.long(), minlength=train.num_classes).double() / len(labels)
    how = "trained now" if found.trained_now else "cached"
    described = f"gantrain's {name} classifier v{VERSION} ({how}, {100 * found.test_accuracy:.2f}% held-out accuracy; {found.path})"
    return found.classifier.to(device), data_share, described


def test_error_evaluator(
    cfg: DictConfig,
    data: Any,
    D: nn.Module,
    device: torch.device,
    bn_images: int = 0,
    cluster_match: str = "one_to_one",
    network: str = "discriminator",
) -> TestError | None:
    """For a classifier D on a labelled data set with a test split: its test (or clustering, its
    clusters matched to classes by `cluster_match`) error on that split, which training never reads; a
    batch-norm D's statistics re-estimated on `bn_images` training images (a fixed random choice) for
    each evaluation."""
    if not is_classifier(D) or data.num_classes is None or "split" not in cfg.data:
        return None
    try:
        test = build_data(cfg.data, split="test", labeled_per_class=None)
    except DataError as e:
        console.notice(f"no test split, so no eval/test_error ({e})")
        return None
    if isinstance(test, ImageFolder):  # a labelled folder's held-out images: read once, scored as a whole
        test = test.loaded()
    train_images = getattr(data, "images", None)
    statistics_images = None
    if bn_images > 0 and isinstance(train_images, torch.Tensor):
        statistics_images = statistics_sample(train_images, bn_images)
    clustering = not data.has_labels
    # a clustering run's label-free score, on a fixed choice of training images (never the test split)
    probe_images = statistics_sample(train_images, PROBE_IMAGES) if clustering and isinstance(train_images, torch.Tensor) else None
    return TestError(
        test.images,
        test.labels,
        test.num_classes,
        clustering=clustering,
        device=device,
        statistics_images=statistics_images,
        cluster_match=cluster_match,
        probe_images=probe_images,
        network=network,
    )


class Setup:
    """What an objective may ask of the run being set up, to choose its pictures and its evaluator
    (Objective.picture_inputs, Objective.evaluator): fixed latents, held-out images, evaluators built
    from the run's config. Each held-out split is built once."""

    def __init__(
        self,
        cfg: DictConfig,
        *,
        data: Any,
        nets: Mapping[str, nn.Module],
        objective: Objective,
        prior: LatentPrior | None,
        settings: TrainSettings,
        eval_settings: EvalSettings,
        device: torch.device,
        seed: int,
    ) -> None:
        self.cfg, self.data, self.nets, self.objective, self.prior = cfg, data, nets, objective, prior
        self.settings, self.eval_settings, self.device, self.seed = settings, eval_settings, device, seed
        self._held_out: dict[str, Any] = {}

    def held_out(self, split: str) -> Any:
        """The run's data set's `split` (e.g. "val", "test"), or None, said once, where it has none."""
        if split not in self._held_out:
            try:
                self._held_out[split] = build_data(self.cfg.data, split=split)
            except DataError as e:
                console.notice(f"no held-out images, so no eval/* ({e})")
                self._held_out[split] = None
        return self._held_out[split]

    def fixed_latent(self) -> Any:
        from gantrain.models.pictures import fixed_latent

        return fixed_latent(self.prior, self.settings.n_samples, self.seed, self.device)

    def class_names(self) -> list[str] | None:
        return self.data.class_names

    def preview_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Paired data: a few (source, target) pairs spread over the held-out split (val/, or test/; the
        training pairs where there is none), uint8, for the triplet grid."""
        held_out = self.held_out("val")
        pairs = held_out if held_out is not None else self.data
        n = min(len(pairs), max(1, self.settings.n_samples // 8))  # a few rows of triplets, spread over the split
        sources, targets = zip(*(pairs[int(i)] for i in torch.linspace(0, len(pairs) - 1, n).round().long()))
        return torch.stack(sources), torch.stack(targets)

    def translation_metrics(self) -> TranslationMetrics | None:
        """Paired data: L1 / PSNR / SSIM / sharpness on the held-out pairs (at most HELD_OUT_PAIRS of them,
        spread evenly and read a chunk at a time at each evaluation), which training never reads."""
        held_out = self.held_out("val")
        if held_out is None:
            return None
        chosen = torch.linspace(0, len(held_out) - 1, min(len(held_out), HELD_OUT_PAIRS)).round().long().unique().tolist()
        # batches of the training batch size: batch norm then normalises as it did in training
        return TranslationMetrics(Subset(held_out, chosen), device=self.device, batch_size=self.settings.batch_size)

    def sample_scores(self) -> GeneratedScores | None:
        """eval.n > 0: FID / KID / IS / coverage of eval.n samples from a fixed z at every evaluation, against
        as many held-out images (the offline classifier is trained first if it is not cached)."""
        from gantrain.data.base import sample_uint8
        from gantrain.metrics import fidelity

        settings = self.eval_settings
        if settings.n == 0 or settings.every == 0 or self.prior is None or self.objective.generator is None:
            return None
        train, held_out = run_data(self.cfg, self.data)
        fidelity.check_scoring_fits(settings.n, train.channels * train.image_size**2, self.device, "eval.n")
        metrics = build_metrics(settings.metrics, settings.extractor)
        classifier, data_share = None, None
        if settings.extractor == "classifier" and (metrics is None or any(m.needs_features or m.needs_logits for m in metrics)):
            classifier, data_share, described = run_classifier(self.cfg, train, held_out, self.device)
            named = ", ".join(settings.metrics) if settings.metrics is not None else "fid, kid, is, swd, prdc, classes"
            console.info(f"eval.n={settings.n}: {named} every {settings.every} steps, features of {described}")
        real = sample_uint8(held_out if held_out is not None else train, settings.n, self.seed).to(self.device)
        scorer = fidelity.Scorer(
            real,
            metrics=metrics,
            extractor=settings.extractor,
            classifier=classifier,
            data_share=data_share,
            inception_weights=settings.inception_weights,
        )
        latent = self.prior.sample(settings.n, device=self.device, generator=torch.Generator().manual_seed(self.seed + 4))
        return GeneratedScores(scorer, latent, self.device, generator=self.objective.generator)

    def _held_out_domains(self, n: int | None = None) -> tuple[Any, torch.Tensor, torch.Tensor] | None:
        """Two unpaired domains: the test split and up to n of each side's images (evenly spread), uint8."""
        test = self.held_out("test")
        if test is None:
            return None

        def spread(count: int, image: Any) -> torch.Tensor:
            chosen = torch.linspace(0, count - 1, min(count, n or count)).round().long().unique()
            return torch.stack([image(int(i)) for i in chosen])

        return test, spread(len(test.images_a), test.image_a), spread(len(test.images_b), test.image_b)

    def preview_domains(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Two unpaired domains: a few held-out images of A and of B (training images where there are none)."""
        n = max(1, self.settings.n_samples // 16)  # rows of (image, translated, cycled) for each domain
        found = self._held_out_domains(n)
        if found is not None:
            return found[1], found[2]
        data = self.data

        def pick(count: int, image: Any) -> torch.Tensor:  # up to n images spread evenly over the domain
            return torch.stack([image(int(i)) for i in torch.linspace(0, count - 1, min(count, n)).round().long().unique()])

        return pick(len(data.images_a), data.image_a), pick(len(data.images_b), data.image_b)

    def cycle_metrics(self) -> Evaluator | None:
        """Two unpaired domains: with labels on both sides (data=mnist_uci, mnist_mnistm), label preservation
        both ways by two judges against its source-only baseline, FID in each target domain's judge's
        features and the cycle L1, and at the end CyCADA's transfer score (gantrain/metrics/cycle_metrics.py; each
        domain's classifiers are trained once, then cached); without labels, the cycle L1 alone. On the
        held-out split, which training never reads (the transfer classifiers train on translated training images)."""
        from gantrain.metrics.cycle_metrics import CycleConsistency, CycleMetrics, Domains, domain_classifiers

        if self.eval_settings.every == 0:
            return None
        found = self._held_out_domains(HELD_OUT_PAIRS)
        if found is None:
            return None
        test, test_a, test_b = found
        train = self.data
        if train.labels_a is None or train.labels_b is None or test.labels_a is None or test.labels_b is None:
            return CycleConsistency(test_a, test_b, self.device)
        all_a = torch.stack([test.image_a(i) for i in range(len(test.images_a))])
        all_b = torch.stack([test.image_b(i) for i in range(len(test.images_b))])
        train_a = torch.stack([train.image_a(i) for i in range(len(train.images_a))])
        train_b = torch.stack([train.image_b(i) for i in range(len(train.images_b))])
        num_classes = int(max(train.labels_a.max(), train.labels_b.max())) + 1
        judges = domain_classifiers(
            train_a,
            train.labels_a,
            all_a,
            test.labels_a,
            train_b,
            train.labels_b,
            all_b,
            test.labels_b,
            num_classes=num_classes,
            names=tuple(f"{self.cfg.data._target_.rsplit('.', 1)[-1]}_{side}" for side in test.names),
            device=self.device,
        )
        console.info(f"evaluation every {self.eval_settings.every} steps: label preservation both ways, judged by {judges.described}")
        domains = Domains(train_a, train.labels_a, train_b, train.labels_b)  # CyCADA's transfer score, at the end
        return CycleMetrics(all_a, test.labels_a, all_b, test.labels_b, *judges.robust, self.device, plain=judges.plain, domains=domains)

    def classifier_and_sample_scores(self, classifier: str) -> Evaluator | None:
        """The held-out error of the network named `classifier` when it is a classifier D (see
        test_error_evaluator) and, with eval.n > 0, sample scores."""
        settings = self.eval_settings
        D = self.nets[classifier]
        parts = [
            test_error_evaluator(self.cfg, self.data, D, self.device, settings.bn_images, settings.cluster_match, network=classifier),
            self.sample_scores(),
        ]
        found = [part for part in parts if part is not None]
        return None if not found else found[0] if len(found) == 1 else Evaluations(*found)
