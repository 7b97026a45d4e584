"""data.subset=N: N training images drawn with data.subset_seed, for in-memory, streamed and paired data
sets alike; the held-out split untouched; bad values refused in one line."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_GAN, run_cli
from PIL import Image

from gantrain.core.errors import ConfigError
from gantrain.data.folder import ImageFolder
from gantrain.data.mnist import MNIST
from gantrain.data.paired import Edges2X
from gantrain.data.subset import subset_indices, take_subset


def test_an_in_memory_set_keeps_n_images_drawn_by_the_seed() -> None:
    full = MNIST()
    kept = take_subset(MNIST(), 500, seed=0)
    assert len(kept) == 500 and kept.subset_of == (4000, 0)
    chosen = subset_indices(4000, 500, 0)
    assert torch.equal(kept.images, full.images[chosen]) and torch.equal(kept.labels, full.labels[chosen])
    assert torch.equal(take_subset(MNIST(), 500, seed=0).images, kept.images)  # the same seed, the same images
    assert not torch.equal(take_subset(MNIST(), 500, seed=1).images, kept.images)
    assert take_subset(MNIST(), None) is not None and len(take_subset(MNIST(), None)) == 4000


def test_a_semi_supervised_subset_draws_its_labelled_images_among_the_kept_ones() -> None:
    kept = take_subset(MNIST(labeled_per_class=5), 300, seed=2)
    assert kept.labelled is not None and len(kept.labelled) == 50 and int(kept.labelled.max()) < 300
    assert torch.bincount(kept.labels[kept.labelled], minlength=10).tolist() == [5] * 10


def test_a_streamed_folder_reads_only_the_kept_files(tmp_path: Path) -> None:
    for i in range(30):
        Image.fromarray(np.full((8, 8), i * 8, dtype=np.uint8)).save(tmp_path / f"{i:02d}.png")
    full = ImageFolder(str(tmp_path), image_size=8, channels=1)
    kept = take_subset(ImageFolder(str(tmp_path), image_size=8, channels=1), 7, seed=3)
    assert len(kept) == 7 and kept.image_size == 8  # the folder keeps those files' names only
    for i, j in enumerate(subset_indices(30, 7, 3).tolist()):
        assert torch.equal(torch.as_tensor(kept[i][0]), torch.as_tensor(full[j][0]))
    assert "7 images" in kept.describe() and kept.subset_of == (30, 3)


def test_paired_images_keep_their_pairs() -> None:
    full = Edges2X()
    kept = take_subset(Edges2X(), 20, seed=0)
    assert len(kept) == 20
    for i, j in enumerate(subset_indices(len(full), 20, 0).tolist()[:5]):
        assert all(torch.equal(a, b) for a, b in zip(kept[i], full[j]))


@pytest.mark.parametrize(
    "n, seed, said",
    [
        (0, 0, "data.subset must be an integer >= 1"),
        (-5, 0, "data.subset must be an integer >= 1"),
        (2.5, 0, "data.subset must be an integer >= 1"),
        (5000, 0, "data.subset=5,000 is more than the 4,000 training images there are"),
        (10, -1, "data.subset_seed must be an integer >= 0"),
    ],
)
def test_bad_values_are_one_line(n: object, seed: object, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        take_subset(MNIST(), n, seed)


def test_a_run_says_how_many_images_it_trains_on_and_evaluates_on_the_whole_held_out_split(tmp_path: Path) -> None:
    done = run_cli(*TINY_GAN, "data.subset=200", "data.subset_seed=4", "train.steps=2", "eval.every=0", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "data.subset=200: training on 200 of the 4,000 training images (data.subset_seed=4)" in done.stdout + done.stderr
    from omegaconf import OmegaConf

    from gantrain.training.setup import run_data

    stored = OmegaConf.load(tmp_path / "run" / ".hydra" / "config.yaml")
    assert stored.data.subset == 200 and stored.data.subset_seed == 4  # in the run's record
    train, held_out = run_data(stored)  # what evaluation and the classifier read: the whole of each split
    assert len(train) == 4000 and len(held_out) == 1000
