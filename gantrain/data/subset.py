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

KEYS = ("subset", "subset_seed")  # data.* keys of every data set, read here and not by its constructor


def subset_indices(total: int, n: Any, seed: Any) -> Tensor:
    """n of range(total) drawn without replacement with `seed`, sorted: the subset is a set, not an order."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"data.subset must be an integer >= 1, the training images to keep, or null for all (got {n!r})")
    if n > total:
        raise ConfigError(f"data.subset={n:,} is more than the {total:,} training images there are: use at most {total:,}, or null for all")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"data.subset_seed must be an integer >= 0 (got {seed!r})")
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def take_subset(dataset: ImageDataset, n: Any, seed: Any = 0) -> ImageDataset:
    """`dataset` with only n of its images (None: all of them), drawn with `seed`."""
    if n is None:
        return dataset
    if dataset.channels_b is not None:
        raise ConfigError(
            "data.subset keeps images of one data set, and this one holds two unpaired domains (CycleGAN's): it is not "
            "supported there yet; leave data.subset=null"
        )
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
