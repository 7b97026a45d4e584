"""task=eval: FID, KID, IS and class coverage of a trained generator's samples, offline; a translation run
(Pix2Pix, CycleGAN) gets the evaluation its training ran, with the numbers kept for a run's end."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gantrain.core.errors import ConfigError
from gantrain.core.files import write_text, write_with
from gantrain.data.base import sample_uint8
from gantrain.data.folder import folder_shape
from gantrain.metrics.sample_metrics import SampleMetric
from gantrain.models.inference import generate_images
from gantrain.tasks.trained import TrainedRun, latent_prior, load_run, read_rgb
from gantrain.training.setup import build_data, build_metrics, run_classifier, run_data


@dataclass
class Evaluated:
    numbers: dict[str, float]  # eval/fid, eval/kid, eval/is, and with the classifier eval/classes_covered, eval/class_kl
    files: list[Path]  # metrics.json, the class histogram
    step: int
    extractor: str  # what saw the images, in words
    n_real: int
    n_fake: int


def checked_scoring(
    n: int | None, extractor: str, inception_weights: str | None, metrics: list[str] | None, n_means: str
) -> list[SampleMetric] | None:
    """task=eval's settings checked before any work, in one line each: n (None: the task's default), the
    extractor, Inception's weights file when it is chosen, and the metric names (built; None: the defaults)."""
    from gantrain.metrics import fidelity, inception

    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 2):
        raise ConfigError(f"n must be an integer >= 2, {n_means} (got {n!r})")
    if extractor not in fidelity.EXTRACTORS:
        raise ConfigError(f"eval.extractor must be classifier, inception or none (got {extractor!r})")
    if extractor == "inception":
        inception.inception_path(inception_weights)
    return build_metrics(metrics, extractor)


def evaluate_run(
    run: str | os.PathLike,
    output: str | os.PathLike,
    *,
    n: int | None = None,
    extractor: str = "classifier",
    inception_weights: str | None = None,
    metrics: list[str] | None = None,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
) -> Evaluated:
    """FID, KID, IS and class coverage of n samples (None: 10,000) of a trained generator against the data's held-out
    split (its training split when it has none), written to OUTPUT/metrics.json, with the samples' class
    histogram as a bar chart, and logged beside the run's training curves (eval/* at its last step)."""
    import json

    from gantrain.metrics import fidelity

    asked_n = n is not None
    n = 10000 if n is None else n
    chosen = checked_scoring(n, extractor, inception_weights, metrics, "the number of samples to score")
    trained = load_run(run, device)
    if trained.objective.generator is None:  # Pix2Pix, CycleGAN: nothing to sample, its own evaluation instead
        if asked_n or extractor != "classifier" or metrics is not None:
            given = f"n={n}" if asked_n else f"eval.extractor={extractor}" if extractor != "classifier" else "eval.metrics"
            raise ConfigError(
                f"{given}: a translation run is scored on its held-out split by its own evaluation (its translations, "
                "seen by the data's judges), so there are no samples to count or extractor to choose; leave it out"
            )
        return evaluate_translation(trained, output, seed=seed, device=device)
    prior = latent_prior(trained)
    _check_fits(n, trained.config, device)
    train, held_out = run_data(trained.config)
    real = sample_uint8(held_out if held_out is not None else train, n, seed)
    classifier, data_share = None, None
    described = "Inception-v3 (torch-fidelity weights)" if extractor == "inception" else "none (the sliced Wasserstein distance alone)"
    if extractor == "classifier" and (chosen is None or any(m.needs_features or m.needs_logits for m in chosen)):
        classifier, data_share, described = run_classifier(trained.config, train, held_out, device)

    latent = prior.sample(n, device=device, generator=torch.Generator().manual_seed(seed))
    fake = generate_images(trained.G, latent)
    torch.manual_seed(seed)  # KID draws its subsets from torch's RNG: seeded, a rerun gives the same numbers
    numbers, histogram = fidelity.score(
        real.to(device),
        fake.to(device),
        metrics=chosen,
        extractor=extractor,
        classifier=classifier,
        data_share=data_share,
        inception_weights=inception_weights,
    )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    record = {"step": trained.step, "n_fake": len(fake), "n_real": len(real), "extractor": described, "seed": seed, **numbers}
    files = [out / f"metrics_{extractor}_step{trained.step}_n{n}_seed{seed}.json"]
    write_text(files[0], json.dumps(record, indent=1) + "\n", "metrics")
    from gantrain.training.monitor import event_writer

    with event_writer(trained.run_dir / "tb") as writer:
        for key, value in numbers.items():
            writer.add_scalar(key, value, trained.step)
        if histogram is not None:
            chart = class_histogram_chart(histogram, data_share, out / f"classes_step{trained.step}_n{n}_seed{seed}.png")
            files.append(chart)
            writer.add_image("eval/class_histogram", read_rgb(chart), trained.step)
    return Evaluated(numbers, files, trained.step, described, len(real), len(fake))


def evaluate_folders(
    real: str | os.PathLike,
    fake: str | os.PathLike,
    output: str | os.PathLike,
    *,
    config: Any,
    n: int | None = None,
    extractor: str = "classifier",
    inception_weights: str | None = None,
    metrics: list[str] | None = None,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
) -> Evaluated:
    """task=eval real=DIR fake=DIR: the metrics of the images of one folder against another's (searched
    recursively; n: at most that many of each, drawn with `seed`), written to OUTPUT/metrics_folders_*.json.
    With eval.extractor=classifier the features are those of the classifier of `config`'s data set (data=,
    mnist by default), at its image size and channels: the folders must hold images of that kind; with
    inception or none the images are read at the real folder's first image's size."""
    import json

    from gantrain.data.folder import ImageFolder
    from gantrain.metrics import fidelity

    folders = {}
    for key, value in (("real", real), ("fake", fake)):
        if value in (None, ""):
            raise ConfigError(f"task=eval with real= or fake= compares two folders: pass both real=DIR and fake=DIR (no {key}=)")
        path = Path(os.path.expanduser(str(value)))
        if not path.is_dir():
            raise ConfigError(f"{key}={value} {'is not a folder' if path.exists() else 'does not exist'}: pass a folder of images")
        folders[key] = path
    chosen = checked_scoring(n, extractor, inception_weights, metrics, "the images of each folder to score")
    needs_network = extractor != "none" and (chosen is None or any(m.needs_features or m.needs_logits for m in chosen))
    classifier, data_share, described = None, None, "none (the images alone)"
    if extractor == "classifier" and needs_network:
        side, channels = int(config.data.image_size), int(config.data.get("channels", 1))
        for key, path in folders.items():
            found_side, found_channels = folder_shape(path)
            if found_channels != channels:
                name = config.data._target_.rsplit(".", 1)[-1]
                raise ConfigError(
                    f"{key}={path} holds {'grey' if found_channels == 1 else 'colour'} images, and the {name} classifier "
                    f"(eval.extractor=classifier with data={name.lower()}) reads {channels}-channel ones: choose the data set whose "
                    "classifier fits them (data=...), or eval.extractor=inception eval.inception_weights=FILE, or eval.extractor=none"
                )
        train, held_out = run_data(config)
        classifier, data_share, described = run_classifier(config, train, held_out, device)
    else:
        side, channels = folder_shape(folders["real"])
        if extractor == "inception":
            described = "Inception-v3 (torch-fidelity weights)"
    sets = {}
    for key, path in folders.items():
        images = ImageFolder(str(path), image_size=side, channels=channels)
        count = len(images) if n is None else min(n, len(images))
        fidelity.check_scoring_fits(count, channels * side * side, device, "task=eval n")
        sets[key] = sample_uint8(images, count, seed)
    if min(len(s) for s in sets.values()) < 2:
        raise ConfigError("task=eval real=DIR fake=DIR needs at least 2 images in each folder")
    torch.manual_seed(seed)  # KID's subsets and IS's splits: a rerun gives the same numbers
    numbers, _ = fidelity.score(
        sets["real"].to(device),
        sets["fake"].to(device),
        metrics=chosen,
        extractor=extractor if needs_network else "none",
        classifier=classifier,
        data_share=data_share,
        inception_weights=inception_weights,
    )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "real": str(folders["real"]),
        "fake": str(folders["fake"]),
        "n_real": len(sets["real"]),
        "n_fake": len(sets["fake"]),
        "image_shape": [channels, side, side],
        "extractor": described,
        "seed": seed,
        **numbers,
    }
    files = [out / f"metrics_folders_n{len(sets['fake'])}_seed{seed}.json"]
    write_text(files[0], json.dumps(record, indent=1) + "\n", "metrics")
    return Evaluated(numbers, files, 0, described, len(sets["real"]), len(sets["fake"]))


def evaluate_translation(
    trained: TrainedRun, output: str | os.PathLike, *, seed: int = 0, device: torch.device = torch.device("cpu")
) -> Evaluated:
    """A translation run (Pix2Pix, CycleGAN): the evaluation its training ran, on its held-out split, and the
    numbers a run computes only at its end (Evaluator.closing: CycleGAN's transfer score), written to
    OUTPUT/metrics_step<N>.json and logged beside the run's training curves (eval/* at its step)."""
    import dataclasses
    import json

    from omegaconf import OmegaConf

    from gantrain.training.monitor import event_writer
    from gantrain.training.settings import run_settings
    from gantrain.training.setup import Setup

    cfg = trained.config
    resolved = OmegaConf.to_container(cfg, resolve=True)
    settings, eval_settings = run_settings(resolved)
    eval_settings = dataclasses.replace(eval_settings, every=max(1, eval_settings.every))  # a run trained with eval.every=0 too
    data = build_data(cfg.data)
    nets = {**trained.nets, **trained.averages}  # each moving average in its network's place, as training evaluated
    setup = Setup(
        cfg,
        data=data,
        nets=nets,
        objective=trained.objective,
        prior=None,
        settings=settings,
        eval_settings=eval_settings,
        device=device,
        seed=seed,
    )
    evaluator = trained.objective.evaluator(setup)
    if evaluator is None:
        raise ConfigError(f"run={trained.run_dir} has no held-out images to score: its data set has no test or val split")
    torch.manual_seed(seed)
    numbers = evaluator(nets)
    numbers.update(evaluator.closing(nets))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    described = f"the run's own evaluation ({type(evaluator).__name__})"
    record = {"step": trained.step, "checkpoint": str(trained.checkpoint), "evaluation": described, "seed": seed, **numbers}
    files = [out / f"metrics_step{trained.step}_seed{seed}.json"]
    write_text(files[0], json.dumps(record, indent=1) + "\n", "metrics")
    with event_writer(trained.run_dir / "tb") as writer:
        for key, value in numbers.items():
            writer.add_scalar(key, value, trained.step)
    return Evaluated(numbers, files, trained.step, described, 0, 0)


def class_histogram_chart(histogram: torch.Tensor, data_share: torch.Tensor | None, path: Path) -> Path:
    """The samples' class shares as bars, the data's as markers: mode collapse at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(histogram)
    share = (histogram.double() / histogram.sum()).numpy()
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * k), 3))
    ax.bar(range(k), share, color="tab:blue", label="samples")
    if data_share is not None:
        ax.plot(range(k), data_share.numpy(), "k_", markersize=18, label="data")
    ax.set_xticks(range(k))
    ax.set_xlabel("class (the classifier's prediction)")
    ax.set_ylabel("share of samples")
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    write_with(path, "chart", lambda f: fig.savefig(f, dpi=100, format="png"))
    plt.close(fig)
    return path


def _check_fits(n: int, config: Any, device: torch.device) -> None:
    """task=eval holds its n samples, their float copies and their features at once: refuse an n that
    cannot fit, in one line, before generating any."""
    from gantrain.metrics import fidelity

    data = config.data
    fidelity.check_scoring_fits(n, int(data.get("channels", 3)) * int(data.get("image_size", 64)) ** 2, device, "task=eval n")
