"""Class labels from folders: data=folder data.labels=subfolders gives each immediate subfolder of data.root a
class, so that the conditional and semi-supervised models and the probe train on a user's own labelled
images; a test split held out per class; the class names kept in the checkpoint and written beside the
rows of the per-class grids; folders with too few classes, an empty class or loose images refused."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli, scalars
from PIL import Image

from gantrain.core.errors import ConfigError, DataError
from gantrain.data.folder import ImageFolder
from gantrain.data.subset import take_subset
from gantrain.training.checkpoint import load_checkpoint

CLASSES = ("cats", "dogs", "owls")


def _labelled_folder(root: Path, per_class: int = 20, classes: tuple[str, ...] = CLASSES, size: int = 16) -> Path:
    """A folder of grey images, one subfolder per class; class c is a bright vertical band at column 5c."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        for i in range(per_class):
            image = rng.integers(0, 40, (size, size)).astype(np.uint8)
            image[:, 5 * c : 5 * c + 5] = 230
            folder = root / name / ("deeper" if i % 5 == 0 else "")  # a deeper folder belongs to its top one
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:03d}.png")
    return root


def test_each_subfolder_is_a_class_and_each_class_holds_out_a_tenth(tmp_path: Path) -> None:
    root = _labelled_folder(tmp_path / "pets")
    train = ImageFolder(str(root), image_size=16, channels=1, labels="subfolders")
    test = ImageFolder(str(root), image_size=16, channels=1, labels="subfolders", split="test")
    assert train.class_names == list(CLASSES) and train.num_classes == 3 and train.fully_labelled
    assert len(train) == 54 and len(test) == 6  # 2 of each class's 20 held out
    assert torch.bincount(test.labels).tolist() == [2, 2, 2] and torch.bincount(train.labels).tolist() == [18, 18, 18]
    assert not set(train._paths.tolist()) & set(test._paths.tolist())
    for i in range(len(train)):
        image, label = train[i]
        assert image.shape == (1, 16, 16) and label == train.labels[i]
        assert image[0, :, 5 * label + 2].float().mean() > 200  # the band of its own class: the label is its folder's
    held = test.loaded()
    assert held.images.shape == (6, 1, 16, 16) and torch.equal(held.labels, test.labels) and held.class_names == list(CLASSES)
    assert "3 classes (cats, dogs, owls)" in train.describe()
    unlabelled = ImageFolder(str(root), image_size=16, channels=1)
    assert len(unlabelled) == 60 and unlabelled.num_classes is None and unlabelled[0][1] == -1  # labels=none: as before


def test_a_labelled_part_is_drawn_per_class_and_again_among_a_subset(tmp_path: Path) -> None:
    root = _labelled_folder(tmp_path / "pets")
    data = ImageFolder(str(root), image_size=16, channels=1, labels="subfolders", labeled_per_class=4, label_seed=1)
    assert data.labelled is not None and torch.bincount(data.labels[data.labelled]).tolist() == [4, 4, 4]
    kept = take_subset(data, 30, seed=0)
    assert len(kept) == 30 and kept.labelled is not None and torch.bincount(kept.labels[kept.labelled], minlength=3).tolist() == [4, 4, 4]
    assert int(kept.labelled.max()) < 30  # indices into the images kept
    none = ImageFolder(str(root), image_size=16, channels=1, labels="subfolders", labeled_per_class=0)
    assert not none.has_labels and none.num_classes == 3


def test_bad_folders_and_settings_are_one_line(tmp_path: Path) -> None:
    one = _labelled_folder(tmp_path / "one", classes=("cats",))
    with pytest.raises(DataError, match=r"has one class folder \('cats'\); a labelled run needs one subfolder per class and at least two"):
        ImageFolder(str(one), labels="subfolders")
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(flat / "a.png")
    with pytest.raises(DataError, match="has no class folders"):
        ImageFolder(str(flat), labels="subfolders")
    empty = _labelled_folder(tmp_path / "empty")
    (empty / "zebras" / "notes").mkdir(parents=True)
    (empty / "zebras" / "notes" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"the class folder .*zebras holds no images .*; add images to it or remove it"):
        ImageFolder(str(empty), labels="subfolders")
    loose = _labelled_folder(tmp_path / "loose")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(loose / "stray.png")
    with pytest.raises(DataError, match=r"1 images lie in .*loose itself, outside any class folder \(e.g. stray.png\)"):
        ImageFolder(str(loose), labels="subfolders")
    good = _labelled_folder(tmp_path / "good")
    for kwargs, said in (
        ({"labels": "folders"}, "data.labels must be none or subfolders"),
        ({"labels": "subfolders", "holdout": 1.0}, r"data.holdout must be a fraction in \[0, 1\)"),
        ({"labels": "subfolders", "split": "val"}, "data.split must be train or test"),
        ({"labels": "subfolders", "labeled_per_class": 19}, "data.labeled_per_class=19 but class 0 has only 18 training images"),
    ):
        with pytest.raises(ConfigError, match=said):
            ImageFolder(str(good), **kwargs)
    with pytest.raises(
        DataError, match="data.split=test but data.holdout=0 holds out none of the 60 images"
    ):  # as a data set without a split
        ImageFolder(str(good), split="test")


def _grid_width(path: Path) -> int:
    with Image.open(path) as image:
        return image.size[0]


def test_a_conditional_gan_trains_on_a_labelled_folder_and_its_grids_name_the_classes(tmp_path: Path) -> None:
    root = _labelled_folder(tmp_path / "pets")
    args = ["data=folder", f"data.root={root}", "data.labels=subfolders", "data.image_size=16", "data.channels=1", "device=cpu"]
    small = ["model.generator.width=4", "model.discriminator.width=4", "train.batch_size=8", "eval.every=0"]
    done = run_cli("model=cdcgan", *args, *small, "train.steps=2", "train.sample_every=2", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "model.num_classes=3: the classes of data.root's subfolders (cats, dogs, owls)" in done.stderr + done.stdout
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["class_names"] == list(CLASSES) and "num_classes: 3" in state["config"]
    # 3 rows of 16-pixel images padded by 2: a grid 2 + 21 * 18 wide, and a margin on its left for the names
    assert _grid_width(tmp_path / "run" / "samples" / "step_0000002.png") > 2 + 21 * 18
    (tmp_path / "pets").rename(tmp_path / "moved")  # a task reads the names from the checkpoint, not the data
    sampled = run_cli("task=sample", "run=run", "n=6", "output=sampled", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    (grid,) = (tmp_path / "sampled").glob("*.png")
    assert _grid_width(grid) > 2 + 2 * 18  # 2 images a row, and the names' margin


def test_semi_supervised_and_clustering_models_and_the_probe_on_a_labelled_folder(tmp_path: Path) -> None:
    root = _labelled_folder(tmp_path / "pets")
    args = ["data=folder", f"data.root={root}", "data.labels=subfolders", "data.image_size=16", "data.channels=1", "device=cpu"]
    sgan = ["model=sgan", "data.labeled_per_class=3", "model.generator.hidden=[16]", "model.discriminator.hidden=[16,8]"]
    done = run_cli(
        *sgan, *args, "train.steps=2", "train.batch_size=8", "eval.every=2", "train.log_every=1", "hydra.run.dir=sgan", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert [step for step, _ in scalars(tmp_path / "sgan", "eval/test_error")] == [2]  # on the 6 held-out images
    catgan = ["model=catgan", "model.generator.width=4", "model.discriminator.width=4"]
    done = run_cli(*catgan, *args, "train.steps=2", "train.batch_size=8", "eval.every=0", "hydra.run.dir=catgan", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    probed = run_cli("task=probe", "run=catgan", "labels=all", "draws=1", cwd=tmp_path)
    assert probed.returncode == 0, probed.stdout[-2000:] + probed.stderr[-2000:]
    (record,) = (tmp_path / "catgan" / "probe").glob("*.json")
    assert json.loads(record.read_text())  # a probe table of the folder's own classes


def test_a_folder_with_one_class_is_refused_before_any_work(tmp_path: Path) -> None:
    root = _labelled_folder(tmp_path / "one", classes=("cats",))
    done = run_cli("model=cdcgan", "data=folder", f"data.root={root}", "data.labels=subfolders", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "data.labels=subfolders" in done.stderr and "one class folder ('cats')" in done.stderr
    assert not (tmp_path / "run").exists()


def test_evaluation_reads_a_labelled_folder_into_memory_with_every_label(tmp_path: Path) -> None:
    """What the offline classifier (FID, class coverage) trains and checks on: both splits as tensors."""
    from omegaconf import OmegaConf

    from gantrain.data.base import InMemoryImages
    from gantrain.training.setup import run_data

    root = _labelled_folder(tmp_path / "pets")
    node = OmegaConf.load(Path(__file__).parents[1] / "conf" / "data" / "folder.yaml")
    node.merge_with({"root": str(root), "labels": "subfolders", "image_size": 16, "channels": 1, "labeled_per_class": 3})
    train, held_out = run_data(OmegaConf.create({"data": node}))
    assert isinstance(train, InMemoryImages) and len(train) == 54 and train.fully_labelled and train.class_names == list(CLASSES)
    assert isinstance(held_out, InMemoryImages) and torch.bincount(held_out.labels).tolist() == [2, 2, 2]


def test_row_names_take_any_name_and_a_long_one_is_cut() -> None:
    from PIL import ImageFont

    from gantrain.models.pictures import NAME_CHARS, _drawable, name_rows

    grid = torch.rand(3, 2 + 3 * 18, 2 + 4 * 18)  # 3 rows of 4 images of 16 pixels, padded by 2
    named = name_rows(grid, ["café", "猫", "a" * 100])
    assert named.shape[:2] == (3, grid.shape[1]) and torch.equal(named[:, :, -grid.shape[2] :], grid)  # the grid, unchanged, on the right
    margin = named.shape[2] - grid.shape[2]
    assert 0 < margin < 20 * NAME_CHARS and (named[:, :, :margin] < 0.5).any()  # some text drawn, its width bounded
    assert _drawable("猫", ImageFont.load_default_imagefont()) == "\\u732b"  # PIL's bitmap font: Latin-1 only


def test_a_conditional_gan_on_an_unlabelled_folder_says_how_to_label_it(tmp_path: Path) -> None:
    root = _labelled_folder(tmp_path / "pets")
    done = run_cli("model=cdcgan", "data=folder", f"data.root={root}", "data.image_size=16", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 2 and "data=folder data.labels=subfolders" in done.stderr, done.stderr
