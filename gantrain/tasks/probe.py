"""task=probe: DCGAN's question of a trained discriminator (Radford et al. 2016, section 5.1) -- are its
convolutional features a good representation? Each layer max-pooled to 4x4 and concatenated
(gantrain/metrics/representation.py), a linear classifier (logistic regression) trained on N class-balanced labelled
training images (several
seeded draws) and scored on the whole test split; beside it, the same architecture with random weights,
the raw pixels, and a classifier D's own test error. The labels are the probe's, whether or not the run
trained with any."""

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.core.files import write_text
from gantrain.core.pixels import to_unit_range
from gantrain.metrics.representation import class_balanced, linear_probe_error, pooled_features
from gantrain.models.base import Representation
from gantrain.tasks.trained import TrainedRun, load_run

ALL = "all"


@dataclass
class LabelledImages:
    """One split of the images a discriminator judges, with their classes."""

    images: Tensor  # uint8 (N, C, H, W), as D reads them after to_unit_range
    labels: Tensor  # int64 (N,)
    num_classes: int


@dataclass
class ProbeRow:
    """One way of turning images into features, scored at each label budget."""

    name: str  # "D (trained)", "D (random weights)", "raw pixels", "D's own classifier"
    features: int  # the length of an image's feature vector (0: D's own classifier, no probe)
    errors: dict[str, list[float]] = field(default_factory=dict)  # budget ("100", "all") -> test error of each draw


@dataclass
class Probed:
    rows: dict[str, list[ProbeRow]]  # the probed network -> its rows
    budgets: list[str]
    draws: int
    test_images: int
    step: int
    files: list[Path]


def parse_budgets(labels: Any) -> list[int | None]:
    """labels= as the user wrote it (100, 'all', [100, 'all'], '100,all') -> budgets, None meaning every
    training image; in the order given, repeats dropped."""
    if isinstance(labels, str):
        items: list[Any] = [part.strip() for part in labels.split(",")]
    elif isinstance(labels, (list, tuple, ListConfig)):
        items = list(labels)
    else:
        items = [labels]
    budgets: list[int | None] = []
    for item in items:
        if isinstance(item, str) and item.strip().lower() == ALL:
            budget = None
        elif isinstance(item, bool) or isinstance(item, float) and not item.is_integer():
            raise ConfigError(f"labels={item!r}: a label budget must be a whole number >= 1 (or 'all')")
        else:
            try:
                budget = int(item) if isinstance(item, float) else int(str(item).strip())  # labels=1e3 reads as 1000.0
            except (ValueError, OverflowError):
                raise ConfigError(
                    f"labels={item!r}: give a number of labelled images (e.g. labels=100), 'all', or several: labels=100,1000,all"
                ) from None
            if budget <= 0:
                raise ConfigError(f"labels={item!r}: a label budget must be a whole number >= 1 (or 'all')")
        if budget not in budgets:
            budgets.append(budget)
    if not budgets:
        raise ConfigError("labels= names no budget: give e.g. labels=100 or labels=100,1000,all")
    return budgets


def labelled_images(cfg: DictConfig, judges: str, split: str) -> LabelledImages:
    """The `split` images of the run's data that a discriminator judging `judges` ("images", "A" or "B")
    reads, with their labels; a data set without labels is refused in one line."""
    from gantrain.data.base import InMemoryImages
    from gantrain.data.folder import ImageFolder
    from gantrain.data.unpaired import UnpairedImages
    from gantrain.training.setup import build_data

    name = str(cfg.data._target_).rsplit(".", 1)[-1]
    if "split" not in cfg.data:
        raise ConfigError(
            f"task=probe needs labelled train and test splits, and the run's data ({name}) has no split: train on data=mnist or "
            "data=cifar10"
        )
    data = build_data(cfg.data, split=split, **({"labeled_per_class": None} if "labeled_per_class" in cfg.data else {}))
    if isinstance(data, ImageFolder) and data.labels is not None:  # a labelled folder: its split read into memory
        data = data.loaded()
    if isinstance(data, InMemoryImages) and judges == "images":
        if data.labels is None or data.num_classes is None:
            raise ConfigError(
                f"task=probe needs labelled images, and the run's data ({name}) has none: probe a run trained on data=mnist or data=cifar10"
            )
        return LabelledImages(data.images, data.labels, int(data.num_classes))
    if isinstance(data, UnpairedImages) and judges in ("A", "B"):
        images, labels = (data.images_a, data.labels_a) if judges == "A" else (data.images_b, data.labels_b)
        if labels is None or not isinstance(images, Tensor):
            raise ConfigError(f"task=probe needs labelled images, and domain {judges} of the run's data ({name}) has none")
        viewed = torch.stack([(data.image_a if judges == "A" else data.image_b)(i) for i in range(len(images))])
        return LabelledImages(viewed, labels, int(labels.max()) + 1)
    raise ConfigError(
        f"task=probe needs labelled images of the kind the discriminator judges, and the run's data ({name}) has no labels "
        "for them: probe a run trained on data=mnist, data=cifar10 or the built-in digits (model=cyclegan)"
    )


def representations(trained: TrainedRun, task: str) -> dict[str, str]:
    """The run's discriminators that can be read as representations -> the images each judges; a run
    with none is refused, naming the models that have one."""
    found = {name: side for name, side in trained.objective.judges if isinstance(trained.nets.get(name), Representation)}
    if not found:
        model = str(trained.config.model.get("discriminator", {}).get("_target_", "")).rsplit(".", 1)[-1] or "no discriminator"
        raise ConfigError(
            f"task={task} reads a convolutional discriminator's layers, and this run has {model}: it applies to model=dcgan, "
            "cdcgan, catgan, progan, pix2pix and cyclegan (not gan, cgan, sgan: their D is a multilayer perceptron; not vae)"
        )
    return found


def random_twin(trained: TrainedRun, name: str, seed: int) -> nn.Module:
    """The same architecture as the trained network `name`, with fresh random weights (seeded), at the same
    stage of a growing network."""
    from gantrain.models.progan import Staged
    from gantrain.training.setup import build

    torch.manual_seed(seed)
    net = build(trained.config.model[name], f"model.{name}")
    live = trained.nets[name]
    if isinstance(net, Staged) and isinstance(live, Staged):
        net.grow_to(*live.stage())
    return net.to(next(live.parameters()).device)


def own_classifier_error(trained: TrainedRun, name: str, device: torch.device) -> tuple[str, float] | None:
    """A classifier D's (sgan, catgan) own test or clustering error, as the run's evaluations score it."""
    from gantrain.models.base import is_classifier, is_conditional
    from gantrain.training.setup import build_data, test_error_evaluator

    D = trained.nets[name]
    if not is_classifier(D) or is_conditional(D):
        return None
    cfg = trained.config
    evaluate = test_error_evaluator(
        cfg, build_data(cfg.data), D, device, int(cfg.eval.get("bn_images", 0)), str(cfg.eval.get("cluster_match", "one_to_one"))
    )
    if evaluate is None:
        return None
    average = trained.averages.get(name)
    predictions, _ = evaluate.predict(average if average is not None else D)
    from gantrain.metrics.evaluation import classification_error, clustering_error

    labels, C, K = evaluate.labels, evaluate.num_classes, D.num_classes
    if evaluate.clustering:
        return evaluate.name, clustering_error(predictions, labels, K, C, str(cfg.eval.get("cluster_match", "one_to_one")))
    return evaluate.name, classification_error(predictions, labels)


def probe(
    run: str | os.PathLike,
    output: str | os.PathLike,
    *,
    labels: Any = (100, 1000),
    draws: int = 3,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
) -> Probed:
    """The linear probe of every convolutional discriminator of `run` at each label budget: mean and sd of
    the test error over `draws` class-balanced draws of the labelled images (one for 'all'), for D, the
    same D with random weights, and the raw pixels; a table (Markdown), JSON and probe/* scalars in
    the run's TensorBoard."""
    budgets = parse_budgets(labels)
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ConfigError(f"draws must be an integer >= 1, the label draws per budget (got {draws!r})")
    trained = load_run(run, device)
    found = representations(trained, "probe")
    rows: dict[str, list[ProbeRow]] = {}
    test_count = 0
    for name, side in found.items():
        train, test = labelled_images(trained.config, side, "train"), labelled_images(trained.config, side, "test")
        for budget in budgets:
            if budget is not None and budget > len(train.images):
                raise ConfigError(
                    f"labels={budget} is more than the {len(train.images):,} labelled training images there are: use at most that, or "
                    "labels=all"
                )
        test_count = len(test.images)
        draw_sets = {
            (ALL if b is None else str(b)): [None]
            if b is None
            else [class_balanced(train.labels, b, train.num_classes, seed + d) for d in range(draws)]
            for b in budgets
        }
        needed = torch.unique(
            torch.cat([i for sets in draw_sets.values() for i in sets if i is not None] or [torch.empty(0, dtype=torch.long)])
        )
        everything = any(b is None for b in budgets)
        D = trained.averages.get(name, trained.nets[name])
        sources: list[tuple[str, Any]] = [
            ("D (trained)", D),
            ("D (random weights)", random_twin(trained, name, seed)),
            ("raw pixels", None),
        ]
        rows[name] = []
        for label, network in sources:
            test_x = _features(network, test.images, device)
            # the training images' features: all of them for labels=all, else only those some draw uses
            train_x = _features(network, train.images, device) if everything else None
            lookup: dict[int, int] = {}
            if train_x is None:
                part = _features(network, train.images[needed], device)
                lookup = {int(i): j for j, i in enumerate(needed.tolist())}
            row = ProbeRow(label, int(test_x.shape[1]))
            for budget, sets in draw_sets.items():
                errors = []
                for d, indices in enumerate(sets):
                    if indices is None:
                        x, y = train_x, train.labels
                    elif train_x is not None:
                        x, y = train_x[indices], train.labels[indices]
                    else:
                        x, y = part[[lookup[int(i)] for i in indices]], train.labels[indices]
                    errors.append(linear_probe_error(x, y, test_x, test.labels, seed=seed + d))
                row.errors[budget] = errors
            rows[name].append(row)
        own = own_classifier_error(trained, name, device)
        if own is not None:
            metric, error = own
            rows[name].append(ProbeRow(f"D's own classifier ({metric})", 0, {b: [error] for b in draw_sets}))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    names = [ALL if b is None else str(b) for b in budgets]
    stem = f"probe_step{trained.step}_labels{'-'.join(names)}_draws{draws}_seed{seed}"  # another call's files are kept
    table = probe_table(rows, names, draws, test_count, trained)
    files = [out / f"{stem}.md", out / f"{stem}.json"]
    write_text(files[0], table, "table")
    record = {
        "step": trained.step,
        "checkpoint": str(trained.checkpoint),
        "draws": draws,
        "test_images": test_count,
        "budgets": names,
        "rows": {n: [{"name": r.name, "features": r.features, "errors": r.errors} for r in rs] for n, rs in rows.items()},
    }
    write_text(files[1], json.dumps(record, indent=1) + "\n", "record")
    _to_tensorboard(trained, rows)
    return Probed(rows, names, draws, test_count, trained.step, files)


def _features(network: Any, images: Tensor, device: torch.device) -> Tensor:
    """(N, F) features of uint8 images: D's pooled layers, or with no network the pixels in [-1, 1]."""
    if network is None:
        return to_unit_range(images.flatten(1))
    return pooled_features(network, images, device=device)


def mean_sd(errors: list[float]) -> str:
    """Test errors as a percentage, mean ± sd over draws (the sd only for several)."""
    mean = 100 * statistics.mean(errors)
    return f"{mean:.2f}" + (f" ± {100 * statistics.stdev(errors):.2f}" if len(errors) > 1 else "")


def probe_table(rows: dict[str, list[ProbeRow]], budgets: list[str], draws: int, test_images: int, trained: TrainedRun) -> str:
    lines = [
        f"Linear probe of {trained.run_dir} at step {trained.step}: test error (%) on {test_images:,} test images, "
        f"mean ± sd over {draws} class-balanced label draws (one for 'all')\n"
    ]
    for name, rs in rows.items():
        lines.append(f"| {name} | features | " + " | ".join(f"{b} labels" for b in budgets) + " |")
        lines.append("| --- | --- | " + " | ".join("---" for _ in budgets) + " |")
        for r in rs:
            lines.append(f"| {r.name} | {r.features or '–'} | " + " | ".join(mean_sd(r.errors[b]) for b in budgets) + " |")
        lines.append("")
    return "\n".join(lines)


def _to_tensorboard(trained: TrainedRun, rows: dict[str, list[ProbeRow]]) -> None:
    """probe/<network>/<features>/labels_<budget>: the mean test error, at the checkpoint's step."""
    from gantrain.training.monitor import event_writer

    short = {"D (trained)": "trained", "D (random weights)": "random", "raw pixels": "pixels"}
    with event_writer(trained.run_dir / "tb") as writer:
        for name, rs in rows.items():
            for r in rs:
                key = short.get(r.name, "own_classifier")
                for budget, errors in r.errors.items():
                    writer.add_scalar(f"probe/{name}/{key}/labels_{budget}", statistics.mean(errors), trained.step)
