"""data.subset=N: train on N images of the training split, drawn with data.subset_seed (a small data set's
run, e.g. 500 digits, for the augmentations of gantrain/augment/). Every data set takes it: an in-memory one
keeps those images (a semi-supervised run draws its labelled ones among them), a streamed one reads only
them. The held-out split, and what evaluation and the classifier read, are untouched."""

from typing import Any

import torch
from torch import Tensor

from gantrain.core.errors import ConfigError
from gantrain.data.base import ImageDataset, InMemoryImages, SubsetView, take
from gantrain.data.folder import ImageFolder
from gantrain.data.unpaired import SECOND_SIDE_SEED, UnpairedImages


def seed_ok(seed: Any) -> bool:
    """Whether data.subset_seed is one that subset_indices takes."""
    return not isinstance(seed, bool) and isinstance(seed, int) and seed >= 0


KEYS = ("subset", "subset_seed")  # data.* keys of every data set, read here and not by its constructor


def subset_indices(total: int, n: Any, seed: Any, what: str = "training images") -> Tensor:
    """n of range(total) drawn without replacement with `seed`, sorted: the subset is a set, not an order.
    `what`: what the total counts, for the line that refuses too large an n."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"data.subset must be an integer >= 1, the training images to keep, or null for all (got {n!r})")
    if n > total:
        raise ConfigError(f"data.subset={n:,} is more than the {total:,} {what} there are: use at most {total:,}, or null for all")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"data.subset_seed must be an integer >= 0 (got {seed!r})")
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def take_subset(dataset: ImageDataset, n: Any, seed: Any = 0) -> ImageDataset:
    """`dataset` with only n of its images (None: all of them), drawn with `seed`."""
    if n is None:
        return dataset
    if isinstance(dataset, UnpairedImages):  # two domains: n of each, each drawn on its own
        totals = (len(dataset.images_a), len(dataset.images_b))
        seeds = (seed, seed + SECOND_SIDE_SEED) if seed_ok(seed) else (seed, seed)  # (a bad seed: refused below)
        a, b = (subset_indices(t, n, s, f"training images of domain {name}") for t, s, name in zip(totals, seeds, dataset.names))
        dataset.keep(a, b)
        dataset.subset_of = (totals[0] + totals[1], seed)
        return dataset
    total = len(dataset)
    indices = subset_indices(total, n, seed)
    store = dataset.in_memory()
    if isinstance(dataset, ImageFolder) or (isinstance(store, InMemoryImages) and store is dataset):
        dataset.keep(indices)  # (a semi-supervised run's labelled images drawn again among those kept)
    elif store is not None and store.paired:  # in-memory pairs (Edges2X's built-in task): both sides kept alike
        store.images, store.sources = take(store.images, indices), take(store.sources, indices)  # type: ignore[attr-defined]
    else:
        dataset = SubsetView(dataset, indices)
    dataset.subset_of = (total, seed)
    return dataset
