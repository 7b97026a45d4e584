"""task=nearest: the memorisation check, samples beside their nearest training images."""

import os
from pathlib import Path
from typing import Any

import torch

from gantrain.core.errors import ConfigError
from gantrain.core.files import save_png, write_text
from gantrain.core.pixels import to_unit_range
from gantrain.data.base import sample_uint8
from gantrain.models.inference import generate_images
from gantrain.tasks.trained import Written, latent_prior, load_run, picture_to_tensorboard
from gantrain.training.setup import run_classifier, run_data


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
    run: str | os.PathLike,
    output: str | os.PathLike,
    *,
    n: int = 8,
    neighbours: int = 3,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
) -> Written:
    """The memorisation check of Goodfellow et al. (2014), figure 2: n samples, each beside its nearest
    training images in pixel space (Euclidean) and, for a labelled data set, in the offline classifier's
    feature space. One row per sample: sample | pixel neighbours | feature neighbours. The distances go
    to a JSON file beside the picture."""
    import json

    from torchvision.utils import make_grid

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
        feats = lambda t: torch.cat([classifier.features(to_unit_range(t[i : i + 1000])) for i in range(0, len(t), 1000)])  # noqa: E731
        feature_d, feature_i = _nearest_indices(feats(fake), feats(pool), neighbours)
        columns.append(pool[feature_i])
        record["feature"] = {"distance": feature_d.tolist(), "index": feature_i.tolist(), "extractor": described}
    rows = torch.cat(columns, dim=1)  # (n, 1 + k [+ k], C, S, S)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"nearest_step{trained.step}_n{n}_seed{seed}.png"
    save_png(path, make_grid(rows.flatten(0, 1).float() / 255, nrow=rows.shape[1], pad_value=1.0), "neighbours grid")
    write_text(path.with_suffix(".json"), json.dumps(record) + "\n", "record")
    picture_to_tensorboard(trained, "task/nearest", path)
    return Written([path, path.with_suffix(".json")], n, trained.step)
