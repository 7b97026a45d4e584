"""What the `gantrain` command does besides training (`task=...`), on a run it trained earlier.

    gantrain task=sample run=outputs/DATE/TIME n=64                      # a grid of samples (npy=true: the images too)
    gantrain task=interpolate run=outputs/DATE/TIME mode=slerp           # walks in latent space
    gantrain task=translate run=outputs/DATE/TIME input=~/edges          # a folder through a trained Pix2Pix G

Each task is a function of values, importable without Hydra; the CLI only dispatches to it.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from gantrain.checkpoint import check_stored_config, find_checkpoint, load_checkpoint
from gantrain.config import run_folder, task_output
from gantrain.errors import CheckpointError, ConfigError, DataError
from gantrain.data.base import sample_uint8
from gantrain.evaluation import generate_images

INPUT_FORMS = ("image", "aligned", "edges")


@dataclass
class TrainedRun:
    """A finished (or interrupted) run, loaded back from its checkpoint."""

    run_dir: Path
    checkpoint: Path
    step: int
    config: DictConfig  # the run's own composed config
    G: nn.Module
    D: nn.Module
    D_average: nn.Module | None = None  # the moving average of D's weights that evaluations scored (eval.ema)


def load_run(run: str | os.PathLike, device: torch.device) -> TrainedRun:
    """Rebuild G and D of the run `run` (a run folder or a checkpoint .pt) with their trained weights."""
    from gantrain.run import build

    checkpoint = find_checkpoint(run, key="run")
    state = load_checkpoint(checkpoint)
    if "config" not in state:
        raise CheckpointError(f"{checkpoint} holds no config, so its networks cannot be rebuilt")
    cfg = OmegaConf.create(state["config"])
    check_stored_config(cfg, checkpoint)
    _root_as_trained(cfg, run_folder(checkpoint))
    G = build(cfg.model.generator, "model.generator")
    D = build(cfg.model.discriminator, "model.discriminator")
    D_average = build(cfg.model.discriminator, "model.discriminator") if "d_average" in state else None
    try:
        G.load_state_dict(state["generator"])
        D.load_state_dict(state["discriminator"])
        if D_average is not None:
            D_average.load_state_dict(state["d_average"])
    except (KeyError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {checkpoint} does not fit the networks of its own config ({first})") from None
    average = D_average.to(device).eval() if D_average is not None else None
    return TrainedRun(run_folder(checkpoint), checkpoint, int(state["step"]), cfg, G.to(device), D.to(device), average)


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


# ----- task=translate ------------------------------------------------------------------------------
@dataclass
class Translated:
    count: int  # images translated
    output: Path  # the folder their outputs went to
    grid: Path  # a contact sheet: source | output pairs of the first images
    step: int  # the training step of the generator used


def translate_folder(
    run: str | os.PathLike,
    input: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    input_form: str = "image",
    device: torch.device = torch.device("cpu"),
    seed: int = 0,
) -> Translated:
    """Translate every image under `input` (recursively) with the generator of a trained Pix2Pix run.

    input_form says what each file is: `image`, the source itself (resized to the run's image size);
    `aligned`, an A|B pair as in data=paired, whose source half (by the run's data.direction) is used;
    `edges`, an image whose Canny edges (the run's data.sigma) are the source, as data=edges2x makes
    them. Outputs are PNG files at the run's image size, with the input's relative paths, under `output`."""
    from torchvision.utils import make_grid, save_image

    from gantrain.data.folder import EXTENSIONS, _image_files
    from gantrain.evaluation import translate
    from gantrain.run import build

    if input_form not in INPUT_FORMS:
        raise ConfigError(f"input_form must be one of {', '.join(INPUT_FORMS)} (got {input_form!r})")
    if input in (None, ""):
        raise ConfigError("task=translate needs input=FOLDER: the folder of images to translate")
    if run in (None, ""):
        raise ConfigError("task=translate needs run=FOLDER: the Pix2Pix run (or checkpoint) whose generator translates")
    source_root = Path(os.path.expanduser(str(input)))
    if not source_root.is_dir():
        raise DataError(f"input={input} is not a folder: pass the folder of images to translate")
    files = sorted(Path(p) for p in _image_files(source_root, EXTENSIONS))
    if not files:
        raise DataError(f"no images ({', '.join(EXTENSIONS)}) under input={input}")
    out = task_output("translate", run, input, output)
    if out.resolve() == source_root.resolve() or source_root.resolve() in out.resolve().parents:
        raise ConfigError(f"output={out} is inside input={input}: choose a folder outside it, so no input file is overwritten")

    trained = load_run(run, device)
    cfg = trained.config
    if not getattr(build(cfg.loss, "loss"), "translation", False):
        raise ConfigError(f"run={run} is not a translation run (its loss is {cfg.loss._target_}); translate with a model=pix2pix run")
    data = cfg.data
    size, channels, source_channels = int(data.image_size), int(data.channels), int(data.source_channels)
    batch_size = int(cfg.train.batch_size)  # batch norm normalises over batches of the training size
    make = _source_maker(input_form, size, channels, source_channels, str(data.get("direction", "AtoB")), float(data.get("sigma", 1.0)))

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)  # dropout stays on at test time (Isola et al.): seeded, so a rerun repeats
    sheet: list[torch.Tensor] = []
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        sources = torch.stack([make(path) for path in chunk])  # (B, C_s, S, S) uint8
        outputs = translate(trained.G, sources, device=device, batch_size=batch_size)  # (B, C, S, S) in [0, 1]
        for path, image in zip(chunk, outputs):
            target = out / path.relative_to(source_root).with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            save_image(image, target)
        for source, image in zip(sources, outputs):
            if len(sheet) < 32:  # 16 pairs
                as_rgb = lambda t: t.expand(3, -1, -1) if t.shape[0] == 1 else t  # noqa: E731
                sheet += [as_rgb(source.float() / 255), as_rgb(image)]
    grid = out / "grid.png"
    save_image(make_grid(sheet, nrow=8, pad_value=1.0), grid)  # 4 source | output pairs per row
    return Translated(len(files), out, grid, trained.step)


def _source_maker(form: str, size: int, channels: int, source_channels: int, direction: str, sigma: float) -> Any:
    """The function from an image file to the generator's input, uint8 (source_channels, size, size)."""
    from PIL import Image

    from gantrain.data.paired import _read, edge_map, resize_square
    from gantrain.data.transforms import DECODE_ERRORS, load_square

    def from_image(path: Path) -> torch.Tensor:
        return resize_square(_read(path, source_channels), size)

    def from_aligned(path: Path) -> torch.Tensor:
        ab = _read(path, source_channels)
        width = ab.shape[2]
        if width % 2:
            raise DataError(f"{path} is {width} pixels wide, an odd number: with input_form=aligned each file is A and B side by side")
        half = ab[:, :, : width // 2] if direction == "AtoB" else ab[:, :, width // 2 :]
        return resize_square(half, size)

    def from_edges(path: Path) -> torch.Tensor:
        if source_channels != 1:
            raise ConfigError(f"input_form=edges makes one-channel edge maps, but this generator takes {source_channels} channels")
        try:
            with Image.open(path) as image:
                target = load_square(image, size, channels)
        except DECODE_ERRORS as e:
            raise DataError(f"cannot read image {path} ({e}); delete or replace the file") from e
        return edge_map(target, sigma)

    return {"image": from_image, "aligned": from_aligned, "edges": from_edges}[form]


# ----- task=sample and task=interpolate ------------------------------------------------------------
def latent_prior(trained: TrainedRun) -> Any:
    """The run's p(z) (and labels, for a conditional G); a translation run has none."""
    from gantrain.losses.base import is_conditional
    from gantrain.priors import LatentPrior

    model = trained.config.model
    if "z_dim" not in model:
        raise ConfigError(f"run={trained.run_dir} has no latent space (a translation run): use task=translate")
    return LatentPrior(int(model.z_dim), str(model.z_dist), trained.G.num_classes if is_conditional(trained.G) else None)


@dataclass
class Written:
    files: list[Path]  # what the task wrote
    count: int  # images made
    step: int  # the training step of the generator used


def sample(
    run: str | os.PathLike, output: str | os.PathLike, *, n: int = 64, seed: int = 0, npy: bool = False, device: torch.device = torch.device("cpu")
) -> Written:
    """n images from a trained generator as one PNG grid (one row per class for a conditional G), and the
    images themselves as uint8 (n, C, H, W) in a .npy file when `npy`."""
    from torchvision.utils import make_grid, save_image

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, the number of images (got {n!r})")
    trained = load_run(run, device)
    prior = latent_prior(trained)
    latent, row = prior.grid(n, device=device, generator=torch.Generator().manual_seed(seed))
    images = generate_images(trained.G, latent)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    grid = out / f"samples_n{len(images)}_seed{seed}.png"
    save_image(make_grid(images.float() / 255, nrow=row, pad_value=1.0), grid)
    files = [grid]
    if npy:
        import numpy as np

        files.append(grid.with_suffix(".npy"))
        np.save(files[-1], images.numpy())
    _picture_to_tensorboard(trained, "task/sample", grid)
    return Written(files, len(images), trained.step)


INTERPOLATIONS = ("lerp", "slerp", "traverse")


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GAN latents) between rows of z0 and z1
    (B, D) at fractions t (T,) -> (B, T, D); falls back to lerp where the two are (anti)parallel."""
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=1).clamp(-1, 1)  # (B,)
    omega = torch.arccos(cos).unsqueeze(1)  # (B, 1)
    t = t.unsqueeze(0)  # (1, T)
    sin = torch.sin(omega)
    safe = sin.abs() > 1e-6
    w0 = torch.where(safe, torch.sin((1 - t) * omega) / sin.clamp_min(1e-12), 1 - t)  # (B, T)
    w1 = torch.where(safe, torch.sin(t * omega) / sin.clamp_min(1e-12), t.expand_as(w0))
    return w0.unsqueeze(2) * z0.unsqueeze(1) + w1.unsqueeze(2) * z1.unsqueeze(1)


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation between rows of z0 and z1 (B, D) at fractions t (T,) -> (B, T, D)."""
    t = t.view(1, -1, 1)
    return (1 - t) * z0.unsqueeze(1) + t * z1.unsqueeze(1)


def traversal(z: torch.Tensor, n: int, length: int, reach: float) -> torch.Tensor:
    """z (D,) copied into (n, length, D), coordinate i of row i swept evenly from -reach to reach."""
    walks = z.repeat(n, length, 1)  # (n, length, D)
    rows = torch.arange(n, device=z.device)
    walks[rows, :, rows] = torch.linspace(-reach, reach, length, device=z.device)  # (n, length) at [i, :, i]
    return walks


def interpolate(
    run: str | os.PathLike, output: str | os.PathLike, *, n: int = 8, length: int = 10, mode: str = "slerp", seed: int = 0,
    device: torch.device = torch.device("cpu"),
) -> Written:  # fmt: skip
    """n walks in latent space, one per row, from one z to another in `length` images (the DCGAN paper's
    figure 4), by `mode` lerp or slerp; or, with mode=traverse, one z with coordinate i swept across the
    prior's range in row i (the beta-VAE paper's latent traversals). A conditional G keeps one class per row."""
    from torchvision.utils import make_grid, save_image

    from gantrain.priors import Latent

    if mode not in INTERPOLATIONS:
        raise ConfigError(f"mode must be lerp, slerp or traverse (got {mode!r})")
    for name, value, least in (("n", n, 1), ("length", length, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"{name} must be an integer >= {least} (got {value!r})")
    trained = load_run(run, device)
    prior = latent_prior(trained)
    generator = torch.Generator().manual_seed(seed)
    if mode == "traverse":  # row i: coordinate i of one z swept across the prior's range, the others fixed
        if n > prior.dim:
            raise ConfigError(f"mode=traverse shows one latent coordinate per row: n must be <= model.z_dim={prior.dim} (got {n})")
        base = prior.sample(1, device=device, generator=generator)
        reach = 3.0 if prior.dist == "normal" else 1.0  # +-3 sd of N(0, 1), or the ends of U(-1, 1)
        z = traversal(base.z[0], n, length, reach).flatten(0, 1)
        y = None if base.y is None else base.y.repeat(n * length)
    else:
        start, end = prior.sample(n, device=device, generator=generator), prior.sample(n, device=device, generator=generator)
        t = torch.linspace(0, 1, length, device=device)
        z = (slerp if mode == "slerp" else lerp)(start.z, end.z, t).flatten(0, 1)  # (n * length, D): row by row
        y = None if start.y is None else start.y.repeat_interleave(length)
    images = generate_images(trained.G, Latent(z, y))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{mode}_n{n}_seed{seed}.png"
    save_image(make_grid(images.float() / 255, nrow=length, pad_value=1.0), path)
    _picture_to_tensorboard(trained, f"task/{mode}", path)
    return Written([path], len(images), trained.step)


# ----- task=eval -----------------------------------------------------------------------------------
@dataclass
class Evaluated:
    numbers: dict[str, float]  # eval/fid, eval/kid, eval/is, and with the classifier eval/classes_covered, eval/class_kl
    files: list[Path]  # metrics.json, the class histogram
    step: int
    extractor: str  # what saw the images, in words
    n_real: int
    n_fake: int


def evaluate_run(
    run: str | os.PathLike,
    output: str | os.PathLike,
    *,
    n: int = 10000,
    extractor: str = "classifier",
    inception_weights: str | None = None,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
) -> Evaluated:
    """FID, KID, IS and class coverage of n samples of a trained generator against the data's held-out
    split (its training split when it has none), written to OUTPUT/metrics.json, with the samples' class
    histogram as a bar chart, and logged beside the run's training curves (eval/* at its last step)."""
    import json

    from gantrain import fidelity

    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError(f"n must be an integer >= 2, the number of samples to score (got {n!r})")
    if extractor not in fidelity.EXTRACTORS:
        raise ConfigError(f"eval.extractor must be classifier or inception (got {extractor!r})")
    if extractor == "inception":
        fidelity._inception_path(inception_weights)  # before any work
    trained = load_run(run, device)
    prior = latent_prior(trained)
    train, held_out = run_data(trained.config)
    real = sample_uint8(held_out if held_out is not None else train, n, seed)
    classifier, data_share, described = None, None, "Inception-v3 (torch-fidelity weights)"
    if extractor == "classifier":
        classifier, data_share, described = run_classifier(trained.config, train, held_out, device)

    latent = prior.sample(n, device=device, generator=torch.Generator().manual_seed(seed))
    fake = generate_images(trained.G, latent)
    torch.manual_seed(seed)  # KID draws its subsets from torch's RNG: seeded, a rerun gives the same numbers
    numbers, histogram = fidelity.score(
        real.to(device), fake.to(device), extractor=extractor, classifier=classifier, data_share=data_share, inception_weights=inception_weights
    )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    record = {"step": trained.step, "n_fake": len(fake), "n_real": len(real), "extractor": described, "seed": seed, **numbers}
    files = [out / f"metrics_{extractor}_n{n}_seed{seed}.json"]
    files[0].write_text(json.dumps(record, indent=1) + "\n")
    from gantrain.monitor import event_writer

    with event_writer(trained.run_dir / "tb") as writer:
        for key, value in numbers.items():
            writer.add_scalar(key, value, trained.step)
        if histogram is not None:
            chart = class_histogram_chart(histogram, data_share, out / f"classes_n{n}_seed{seed}.png")
            files.append(chart)
            writer.add_image("eval/class_histogram", _read_rgb(chart), trained.step)
    return Evaluated(numbers, files, trained.step, described, len(real), len(fake))


def run_data(cfg: DictConfig) -> tuple[Any, Any]:
    """A run's training data with every label, and its held-out split (None when it has none)."""
    from gantrain.run import build

    all_labels = {"labeled_per_class": None} if "labeled_per_class" in cfg.data else {}
    train = build(cfg.data, "data", **all_labels)
    held_out = None
    if "split" in cfg.data:
        try:
            held_out = build(cfg.data, "data", split="test", **all_labels)
        except DataError:
            held_out = None
    return train, held_out


def run_classifier(cfg: DictConfig, train: Any, held_out: Any, device: torch.device) -> tuple[Any, torch.Tensor, str]:
    """The offline classifier of a run's data (trained once, then cached), the data's class shares,
    and a line saying which classifier it is."""
    from gantrain import fidelity

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
    found = fidelity.data_classifier(name, (train.images, labels), check, train.num_classes)
    data_share = torch.bincount(labels.long(), minlength=train.num_classes).double() / len(labels)
    how = "trained now" if found.trained_now else "cached"
    described = f"gantrain's {name} classifier v{fidelity.VERSION} ({how}, {100 * found.test_accuracy:.2f}% held-out accuracy; {found.path})"
    return found.classifier.to(device), data_share, described


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
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _picture_to_tensorboard(trained: TrainedRun, tag: str, path: Path) -> None:
    """Show a task's picture in the run's TensorBoard too (Images tab), at the run's last step."""
    from gantrain.monitor import event_writer

    with event_writer(trained.run_dir / "tb") as writer:
        writer.add_image(tag, _read_rgb(path), trained.step)


def _read_rgb(path: Path) -> torch.Tensor:
    """A PNG as float (3, H, W) in [0, 1], for TensorBoard."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)


# ----- task=nearest --------------------------------------------------------------------------------
@torch.no_grad()
def _nearest_indices(queries: torch.Tensor, pool: torch.Tensor, k: int, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """For float rows queries (n, F) and pool (N, F): the k nearest pool rows of each query by Euclidean
    distance, as (distances (n, k), indices (n, k)); the pool is walked in chunks to bound memory."""
    best_d = torch.full((len(queries), 0), float("inf"))
    best_i = torch.zeros((len(queries), 0), dtype=torch.long)
    for start in range(0, len(pool), chunk):
        d = torch.cdist(queries, pool[start : start + chunk])  # (n, chunk)
        d_all, i_all = torch.cat([best_d, d], 1), torch.cat([best_i, torch.arange(start, start + d.shape[1]).expand(len(queries), -1)], 1)
        best_d, order = d_all.topk(min(k, d_all.shape[1]), dim=1, largest=False)
        best_i = i_all.gather(1, order)
    return best_d, best_i


def nearest(
    run: str | os.PathLike, output: str | os.PathLike, *, n: int = 8, neighbours: int = 3, seed: int = 0, device: torch.device = torch.device("cpu")
) -> Written:
    """The memorisation check of Goodfellow et al. (2014), figure 2: n samples, each beside its nearest
    training images in pixel space (Euclidean) and, for a labelled data set, in the offline classifier's
    feature space. One row per sample: sample | pixel neighbours | feature neighbours. The distances go
    to a JSON file beside the picture."""
    import json

    from torchvision.utils import make_grid, save_image

    for name, value in (("n", n), ("neighbours", neighbours)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1 (got {value!r})")
    trained = load_run(run, device)
    prior = latent_prior(trained)
    train, held_out = run_data(trained.config)
    fake = generate_images(trained.G, prior.sample(n, device=device, generator=torch.Generator().manual_seed(seed)))  # (n, C, S, S)
    pool = train.images if isinstance(getattr(train, "images", None), torch.Tensor) else sample_uint8(train, 20000, seed)
    as_rows = lambda t: t.flatten(1).float() / 255  # noqa: E731  (n, C*S*S) on [0, 1]
    pixel_d, pixel_i = _nearest_indices(as_rows(fake), as_rows(pool), neighbours)
    columns = [fake.unsqueeze(1), pool[pixel_i]]  # (n, 1 | k, C, S, S)
    record: dict[str, Any] = {"step": trained.step, "pool": len(pool), "pixel": {"distance": pixel_d.tolist(), "index": pixel_i.tolist()}}
    if train.num_classes is not None and isinstance(getattr(train, "labels", None), torch.Tensor):
        classifier, _, described = run_classifier(trained.config, train, held_out, torch.device("cpu"))
        feats = lambda t: torch.cat([classifier.features(t[i : i + 1000].float().div(127.5).sub(1)) for i in range(0, len(t), 1000)])  # noqa: E731
        feature_d, feature_i = _nearest_indices(feats(fake), feats(pool), neighbours)
        columns.append(pool[feature_i])
        record["feature"] = {"distance": feature_d.tolist(), "index": feature_i.tolist(), "extractor": described}
    rows = torch.cat(columns, dim=1)  # (n, 1 + k [+ k], C, S, S)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"nearest_n{n}_seed{seed}.png"
    save_image(make_grid(rows.flatten(0, 1).float() / 255, nrow=rows.shape[1], pad_value=1.0), path)
    path.with_suffix(".json").write_text(json.dumps(record) + "\n")
    _picture_to_tensorboard(trained, "task/nearest", path)
    return Written([path, path.with_suffix(".json")], n, trained.step)


# ----- task=confusion ------------------------------------------------------------------------------
@dataclass
class Mistake:
    true: int  # the held-out images' class
    output: int  # the class (or cluster) D gives them
    count: int
    indices: list[int]  # the first of them, as indices into the held-out split


@dataclass
class Confused:
    metric: str  # eval/test_error, or eval/cluster_error for a run without labels
    error: float  # that number, as the run's evaluations compute it
    counts: torch.Tensor  # (C, K): [c, k] held-out images of class c that D puts in output k
    assigned: list[int | None]  # the class each output k stands for (None: a cluster left unmatched)
    mistakes: list[Mistake]  # the commonest mistakes, most first
    labelled: int  # the labelled training images the run saw as a subset (0: none, or every image)
    files: list[Path]
    step: int
    which: str  # which D was scored, in words


MISTAKE_ROWS = 4  # the commonest mistakes drawn, one row each


def confusion(run: str | os.PathLike, output: str | os.PathLike, *, n: int = 16, device: torch.device = torch.device("cpu")) -> Confused:
    """What a classifier D (model=sgan, model=catgan) gets wrong on the held-out split: its confusion
    matrix as a picture, up to n held-out images of each of its commonest mistakes (one row each), and
    the labelled training images a semi-supervised run saw (one row per class). A style of digit that no
    labelled image shows can go, as a block, to another class; the two pictures side by side show it. D is scored as the run's evaluations scored it (the moving
    average of its weights under eval.ema, batch-norm statistics re-estimated on eval.bn_images), so
    the error is the run's eval/* number at the checkpoint's step."""
    import json

    from torchvision.utils import make_grid, save_image

    from gantrain.evaluation import classification_error, clustering_error, contingency_matrix, match_clusters
    from gantrain.losses.base import is_classifier, is_conditional
    from gantrain.monitor import event_writer
    from gantrain.run import build, test_error_evaluator

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, the held-out images drawn per mistake (got {n!r})")
    trained = load_run(run, device)
    if not is_classifier(trained.D) or is_conditional(trained.D):  # a cGAN's D is told the class, it does not guess it
        raise ConfigError(
            f"task=confusion reads a classifier discriminator's classes (model=sgan, model=catgan); the D of "
            f"{trained.checkpoint} only tells real from fake"
        )
    cfg = trained.config
    data = build(cfg.data, "data")  # the training data as the run saw it, with its labelled subset
    cluster_match = str(cfg.eval.get("cluster_match", "one_to_one"))
    evaluate = test_error_evaluator(cfg, data, trained.D, device, int(cfg.eval.get("bn_images", 0)), cluster_match)
    if evaluate is None:
        raise ConfigError(f"task=confusion needs a labelled test split, and the run's data ({cfg.data._target_.rsplit('.', 1)[-1]}) has none")
    D = trained.D_average if trained.D_average is not None else trained.D
    which = f"the moving average of D's weights (eval.ema={cfg.eval.get('ema')})" if trained.D_average is not None else "D"
    predictions, _ = evaluate.predict(D)
    labels, C, K = evaluate.labels, evaluate.num_classes, D.num_classes
    counts = contingency_matrix(predictions, labels, K, C).T.contiguous()  # (C, K)
    assigned: list[int | None]
    if not evaluate.clustering:
        error, assigned = classification_error(predictions, labels), list(range(K))
    else:
        error = clustering_error(predictions, labels, K, C, cluster_match)
        if cluster_match == "majority":
            assigned = counts.argmax(dim=0).tolist()  # each cluster's commonest class
        else:
            matched = match_clusters(predictions, labels, K, C)
            assigned = [matched.get(k) for k in range(K)]
    wrong = counts.clone()
    for k, c in enumerate(assigned):
        if c is not None:
            wrong[c, k] = 0  # what remains are mistakes
    cells = [(int(wrong[c, k]), c, k) for c in range(C) for k in range(K) if wrong[c, k] > 0]
    mistakes = [
        Mistake(c, k, m, ((labels == c) & (predictions == k)).nonzero().flatten()[:n].tolist())
        for m, c, k in sorted(cells, key=lambda t: (-t[0], t[1], t[2]))[:10]
    ]
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"step{trained.step}"
    files = [confusion_chart(counts, assigned, error, evaluate.name, out / f"confusion_{stem}.png")]
    images = evaluate.images  # uint8 (N, C, H, W)
    if mistakes:
        blank = torch.zeros_like(images[0])
        rows = [[images[i] for i in m.indices] + [blank] * (n - len(m.indices)) for m in mistakes[:MISTAKE_ROWS]]
        grid = make_grid(torch.stack([x for row in rows for x in row]).float() / 255, nrow=n, pad_value=0.5)  # (3, H, W)
        captions = [f"{m.true} as {m.output}: {m.count}" for m in mistakes[:MISTAKE_ROWS]]
        files.append(captioned_rows(grid, captions, out / f"mistakes_{stem}.png"))
    subset = getattr(data, "labelled", None)
    subset = subset if isinstance(subset, torch.Tensor) and len(subset) else None
    if subset is not None:
        by_class = [subset[data.labels[subset] == c][:20] for c in range(C)]  # at most 20 per class drawn
        width = max(len(row) for row in by_class)
        tiles: list[torch.Tensor] = []
        for row in by_class:
            tiles += [data.images[int(i)] for i in row] + [torch.zeros_like(data.images[0])] * (width - len(row))
        files.append(out / "labelled.png")
        save_image(make_grid(torch.stack(tiles).float() / 255, nrow=width, pad_value=0.5), files[-1])
    record = {
        "step": trained.step, "checkpoint": str(trained.checkpoint), "discriminator": which, evaluate.name: error,
        "counts": counts.tolist(), "assigned": assigned,
        "mistakes": [{"class": m.true, "output": m.output, "count": m.count, "test_indices": m.indices} for m in mistakes],
        "labelled_indices": subset.tolist() if subset is not None else None,
    }  # fmt: skip
    files.append(out / f"confusion_{stem}.json")
    files[-1].write_text(json.dumps(record) + "\n")
    with event_writer(trained.run_dir / "tb") as writer:  # beside the run's curves, at the checkpoint's step
        for path in files:
            if path.suffix == ".png":
                writer.add_image(f"task/{path.stem.removesuffix('_' + stem)}", _read_rgb(path), trained.step)
    return Confused(evaluate.name, error, counts, assigned, mistakes, 0 if subset is None else len(subset), files, trained.step, which)


CAPTION_WIDTH = 100  # pixels left of a picture's rows for their captions


def captioned_rows(grid: torch.Tensor, captions: list[str], path: Path) -> Path:
    """A grid (3, H, W) in [0, 1] of len(captions) equal rows, saved with each row's caption written to
    its left, so that the picture explains itself where it is seen alone (TensorBoard)."""
    import numpy as np
    from PIL import Image, ImageDraw

    pixels = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()  # (H, W, 3)
    height = pixels.shape[0]
    canvas = Image.new("RGB", (CAPTION_WIDTH + pixels.shape[1], height), "white")
    canvas.paste(Image.fromarray(np.ascontiguousarray(pixels)), (CAPTION_WIDTH, 0))
    draw = ImageDraw.Draw(canvas)
    row = height / len(captions)
    for i, caption in enumerate(captions):
        draw.text((4, i * row + row / 2), caption, fill="black", anchor="lm")
    canvas.save(path)
    return path


def confusion_chart(counts: torch.Tensor, assigned: list[int | None], error: float, metric: str, path: Path) -> Path:
    """The confusion matrix counts (C, K) as a picture: rows the true classes, columns D's outputs (in
    the order of the classes they stand for), each cell's count written in it and shaded by its share of
    the row on a log scale, so that a mistake of a few images still shows beside a diagonal of
    hundreds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    C, K = counts.shape
    order = sorted(range(K), key=lambda k: (C if assigned[k] is None else assigned[k], k))
    shown = counts[:, order].double()
    share = (shown / shown.sum(dim=1, keepdim=True).clamp_min(1)).numpy()
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * K, 1.0 + 0.45 * C))
    ax.imshow(share, cmap="Blues", norm=LogNorm(vmin=1e-3, vmax=1.0))
    for c in range(C):
        for j in range(K):
            if shown[c, j] > 0 and C * K <= 400:
                ax.text(j, c, str(int(shown[c, j])), ha="center", va="center", fontsize=7, color="white" if share[c, j] > 0.3 else "black")
    names = [str(k) if assigned[k] == k else f"{k}→{assigned[k] if assigned[k] is not None else '-'}" for k in order]
    ax.set_xticks(range(K), names, rotation=90 if K > 12 else 0, fontsize=8)
    ax.set_yticks(range(C), [str(c) for c in range(C)], fontsize=8)
    ax.set_xlabel("D's output" + ("" if all(assigned[k] == k for k in range(K)) else " → the class it stands for"))
    ax.set_ylabel("true class")
    ax.set_title(f"{metric} {100 * error:.2f}%", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ----- task=arithmetic -----------------------------------------------------------------------------
def parse_expression(expression: str, n: int) -> list[tuple[int, list[int]]]:
    """'3 7 12 - 1 4 5 + 9 10 11' -> [(+1, [3, 7, 12]), (-1, [1, 4, 5]), (+1, [9, 10, 11])]: groups of
    sample indices (into task=sample's grid of n, counted row by row from 0), each averaged, then added
    or subtracted."""
    how = f"expression={expression!r}: write groups of sample indices joined by + and -, e.g. 'expression=3 7 12 - 1 4 5 + 9 10 11'"
    terms: list[tuple[int, list[int]]] = []
    sign, group = 1, []
    for token in str(expression).replace("+", " + ").replace("-", " - ").split():
        if token in "+-":
            if not group:
                raise ConfigError(f"{how} (an operator with no indices before it)")
            terms.append((sign, group))
            sign, group = (1 if token == "+" else -1), []
        elif token.isdigit() and int(token) < n:
            group.append(int(token))
        else:
            raise ConfigError(f"{how} ({token!r} is not a sample index from 0 to {n - 1}; n={n} is the grid of task=sample)")
    if not group:
        raise ConfigError(f"{how} (it ends without indices)")
    terms.append((sign, group))
    return terms


def arithmetic(
    run: str | os.PathLike, output: str | os.PathLike, *, expression: str, n: int = 64, seed: int = 0, device: torch.device = torch.device("cpu")
) -> Written:
    """Vector arithmetic on z (Radford et al. 2016, section 6.3): each group of samples of `task=sample
    n=N seed=S` is averaged in z (single samples are unstable, the paper found), the averages are added
    and subtracted, and G draws the result. One row per group (its samples, then the image of their
    mean z in the last column); a last row with the result and seven variations of it (uniform noise of
    +-0.25 added to z, as the paper's figure 7)."""
    from torchvision.utils import make_grid, save_image

    from gantrain.priors import Latent

    if expression in (None, ""):
        raise ConfigError("task=arithmetic needs expression=..., groups of sample indices, e.g. 'expression=3 7 12 - 1 4 5 + 9 10 11'")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, the grid of task=sample the indices refer to (got {n!r})")
    terms = parse_expression(expression, n)
    trained = load_run(run, device)
    prior = latent_prior(trained)
    if prior.num_classes is not None:
        raise ConfigError("task=arithmetic works in the z space of an unconditional generator; this one also takes labels")
    grid, _ = prior.grid(n, device=device, generator=torch.Generator().manual_seed(seed))
    means = [grid.z[group].mean(0) for _, group in terms]  # (D,) each
    result = sum(sign * mean for (sign, _), mean in zip(terms, means))
    noise = (torch.rand(7, prior.dim, generator=torch.Generator().manual_seed(seed + 1)) * 0.5 - 0.25).to(device)
    width = max(8, max(len(group) for _, group in terms) + 1)
    z_rows = []
    for (_, group), mean in zip(terms, means):
        z_rows.append((grid.z[group], mean))
    images = generate_images(trained.G, Latent(torch.cat([torch.stack([*zs, m]) for zs, m in z_rows] + [torch.stack([result, *(result + noise)])])))
    blank = torch.zeros_like(images[0])
    cells, at = [], 0
    for zs, _ in z_rows:  # a group's samples, blanks, then the image of their mean in the last column
        cells += [*images[at : at + len(zs)], *([blank] * (width - len(zs) - 1)), images[at + len(zs)]]
        at += len(zs) + 1
    cells += [*images[at : at + 8], *([blank] * (width - 8))]
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    name = "-".join(map(str, terms[0][1]))
    for sign, group in terms[1:]:
        name += ("_plus_" if sign > 0 else "_minus_") + "-".join(map(str, group))
    path = out / f"arithmetic_n{n}_seed{seed}_{name}.png"  # e.g. ..._3-7-12_minus_1-4-5_plus_9-10-11.png
    save_image(make_grid(torch.stack(cells).float() / 255, nrow=width, pad_value=1.0), path)
    _picture_to_tensorboard(trained, "task/arithmetic", path)
    return Written([path], len(images), trained.step)
