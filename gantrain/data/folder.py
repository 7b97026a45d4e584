"""A folder of image files, searched recursively: any image collection (CelebA's img_align_celeba/, FFHQ
thumbnails, your own photos), unlabelled, or labelled by its subfolders.

Every file under root whose extension is one of `extensions` is an image, in sorted path order so that
item i is the same file on every run; hidden files and folders (names starting with ".", e.g. macOS's
"._photo.jpg") are skipped. Items are decoded on demand, scaled so the shorter side is image_size and
centre-cropped, exactly like LSUN's (gantrain.data.transforms.load_square).

labels=subfolders: each immediate subfolder of root is a class (root/cat/..., root/dog/...; deeper folders
belong to their top one), classes numbered in sorted name order, so that cGAN/cDCGAN, SGAN, CatGAN and the
linear probe train on a user's own labelled images. Such a folder also holds out a test split: `holdout`
(0.1 unless set) of each class, spread evenly over its sorted files, which split=test reads and training
never does.
"""

import os
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gantrain.core.errors import ConfigError, DataError
from gantrain.data.base import (
    UNLABELLED,
    ImageDataset,
    InMemoryImages,
    balanced_subset,
    check_room_for,
    open_image,
    shown,
    streamed_labels,
)
from gantrain.data.transforms import DECODE_ERRORS, check_shape, load_square

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
LABELS = ("none", "subfolders")
LABELLED_HOLDOUT = 0.1  # the test split a labelled folder holds out when data.holdout is not set


class ImageFolder(ImageDataset):
    """Every image file under a folder: unlabelled, or (labels="subfolders") one class per subfolder."""

    def __init__(
        self,
        root: str | None,
        *,
        image_size: int = 64,
        channels: int = 3,
        extensions: Sequence[str] = EXTENSIONS,
        labels: str = "none",
        split: str = "train",
        holdout: float | None = None,
        labeled_per_class: int | None = None,
        label_seed: int = 0,
        on_error: str = "raise",
    ) -> None:
        check_shape(image_size, channels)
        if on_error not in ("skip", "raise"):
            raise ConfigError(f"data.on_error must be skip or raise, what to do with an unreadable image (got {on_error!r})")
        if labels not in LABELS:
            raise ConfigError(f"data.labels must be none or subfolders (one class per subfolder of data.root) (got {labels!r})")
        if split not in ("train", "test"):
            raise ConfigError(f"data.split must be train or test (got {split!r})")
        if holdout is None:
            holdout = LABELLED_HOLDOUT if labels == "subfolders" else 0.0
        if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 <= holdout < 1:
            raise ConfigError(f"data.holdout must be a fraction in [0, 1), the images of each class held out for testing (got {holdout!r})")
        self.on_error, self.labeled_per_class, self.label_seed, self.split = on_error, labeled_per_class, label_seed, split
        if labels == "none":
            self.labelled = streamed_labels("folder", None, labeled_per_class)
        if root is None:
            raise ConfigError("data=folder needs data.root: pass data.root=/path/to/images, a folder of image files (searched recursively)")
        if isinstance(extensions, str):  # data.extensions=.png
            extensions = (extensions,)
        suffixes = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise DataError(f"data.root={self.root} {what}: pass the folder that holds your images")
        paths = sorted(image_files(self.root, suffixes))
        if not paths:
            raise DataError(
                f"no images ({', '.join(suffixes)}) found under {self.root}; point data.root at a folder of images or set data.extensions"
            )
        relative = [os.path.relpath(p, self.root) for p in paths]
        classes = class_of_each(self.root, relative, suffixes) if labels == "subfolders" else None
        kept = held_out(classes if classes is not None else torch.zeros(len(relative), dtype=torch.long), holdout, split)
        if len(kept) == 0 and split == "test":  # (a DataError: the run has no held-out images, as data sets without a split)
            raise DataError(
                f"data.split=test but data.holdout={holdout:g} holds out none of the {len(relative):,} images under {self.root}: "
                "train with data.holdout=0.1 (or more) to keep a test split"
            )
        if len(kept) == 0:
            raise ConfigError(f"data.holdout={holdout:g} leaves no training images under {self.root}: lower it")
        # Paths relative to root, as bytes in one fixed-width numpy array rather than a list of str: forked
        # DataLoader workers then share its pages instead of copying them as refcounts change.
        self._paths = np.array([os.fsencode(relative[i]) for i in kept.tolist()])
        self.image_size, self.channels, self.num_classes = image_size, channels, None
        self.labels: Tensor | None = None
        if classes is not None:
            self.class_names = sorted_classes(self.root)
            self.num_classes, self.labels = len(self.class_names), classes[kept]
            self.labelled = self._labelled_part()
        self.notice = _grey_notice(paths[0], channels)
        # data.on_error=skip: loader workers append each unreadable file to this log (one writer per line,
        # O_APPEND), the training loop reads it to count and report them; removed by the process that made it
        self._skip_log: str | None = None
        if on_error == "skip":
            fd, self._skip_log = tempfile.mkstemp(prefix="gantrain-skipped-", suffix=".txt")
            os.close(fd)
            weakref.finalize(self, _remove_if_owner, self._skip_log, os.getpid())

    def _labelled_part(self) -> Tensor | None:
        """`labelled` of a labelled folder: None (every label), none (data.labeled_per_class=0) or N per class."""
        assert self.labels is not None and self.num_classes is not None
        n = self.labeled_per_class
        if n is None:
            return None
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"data.labeled_per_class must be >= 0 (a whole number) or null for all labels (got {n!r})")
        return torch.empty(0, dtype=torch.long) if n == 0 else balanced_subset(self.labels, n, self.num_classes, self.label_seed)

    def loaded(self) -> InMemoryImages:
        """Every image read into memory, with its label (a labelled folder's test split, for the test error,
        the probe and task=confusion, which score whole tensors); refused in one line when it cannot fit."""
        check_room_for(len(self), self.channels, self.image_size, f"data=folder's {self.split} split")
        images = torch.stack([self[i][0] for i in range(len(self))])
        held = InMemoryImages(images, self.labels, self.num_classes)
        held.class_names = self.class_names
        return held

    def keep(self, indices: Tensor) -> None:
        """Keep only the images at `indices` (data.subset), the labelled part drawn again among them."""
        self._paths = self._paths[indices.numpy()]
        if self.labels is not None:
            self.labels = self.labels[indices]
            self.labelled = self._labelled_part()

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        for attempt in range(len(self)):  # skip: the next readable image takes an unreadable one's place
            at = (index + attempt) % len(self)
            path = self.root / os.fsdecode(self._paths[at])
            try:
                with open_image(path) as image:
                    return load_square(image, self.image_size, self.channels), UNLABELLED if self.labels is None else int(self.labels[at])
            except DECODE_ERRORS as e:
                if self._skip_log is None:
                    raise DataError(f"cannot read image {shown(path)} ({e}); delete or replace the file, or set data.on_error=skip") from e
                with open(self._skip_log, "a") as log:
                    log.write(f"{shown(path)}\t{' '.join(str(e).split())}\n")
        raise DataError(f"none of the {len(self)} images under {self.root} can be read")

    def skipped(self) -> dict[str, str]:
        """data.on_error=skip: each unreadable file met so far, with why ({} otherwise)."""
        if self._skip_log is None or not os.path.exists(self._skip_log):
            return {}
        with open(self._skip_log) as log:
            return dict(line.rstrip("\n").split("\t", 1) for line in log if "\t" in line)

    def describe(self) -> str:
        shape = f"{self.channels}x{self.image_size}x{self.image_size}"
        classes = (
            ""
            if self.class_names is None
            else f" in {len(self.class_names)} classes ({', '.join(self.class_names[:6])}{', ...' if len(self.class_names) > 6 else ''})"
        )
        return f"ImageFolder: {len(self)} images{classes}, {shape} (resized, centre-cropped), from {self.root}"


def sorted_classes(root: Path) -> list[str]:
    """The class folders of a labelled folder: root's immediate subfolders that are not hidden, sorted by name."""
    return sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))


def class_of_each(root: Path, relative: list[str], suffixes: tuple[str, ...]) -> Tensor:
    """Each image's class (long (N,)) for labels=subfolders: the index of its top folder under root among
    sorted_classes(root). Refused in one line: fewer than two classes, an empty class folder, images that
    lie in root itself, outside any class."""
    names = sorted_classes(root)
    if len(names) < 2:
        found = f"one class folder ({names[0]!r})" if names else "no class folders"
        raise DataError(
            f"data.labels=subfolders: {root} has {found}; a labelled run needs one subfolder per class and at least two "
            "(root/cat/*.png, root/dog/*.png), or set data.labels=none"
        )
    loose = [r for r in relative if os.sep not in r]
    if loose:
        raise DataError(
            f"data.labels=subfolders: {len(loose):,} images lie in {root} itself, outside any class folder (e.g. {shown(loose[0])}); "
            "move them into the folder of their class, or set data.labels=none"
        )
    index = {name: i for i, name in enumerate(names)}
    classes = torch.tensor([index[r.split(os.sep, 1)[0]] for r in relative], dtype=torch.long)
    counts = torch.bincount(classes, minlength=len(names))
    empty = [names[i] for i in (counts == 0).nonzero().flatten().tolist()]
    if empty:
        raise DataError(
            f"data.labels=subfolders: the class folder {shown(root / empty[0])} holds no images ({', '.join(suffixes)})"
            + (f", nor do {len(empty) - 1} more" if len(empty) > 1 else "")
            + "; add images to it or remove it"
        )
    return classes


def held_out(classes: Tensor, holdout: float, split: str) -> Tensor:
    """Indices of `split`'s images: the test split holds out `holdout` of each class (long (N,), in
    sorted order), spread evenly over it (the k-th image of a class is held out when k * holdout crosses
    a whole number); the training split is the rest."""
    chosen = torch.zeros(len(classes), dtype=torch.bool)
    for c in classes.unique().tolist():
        members = (classes == c).nonzero().flatten()
        k = torch.arange(len(members), dtype=torch.float64)
        chosen[members] = torch.floor((k + 1) * holdout) > torch.floor(k * holdout)
    return (chosen if split == "test" else ~chosen).nonzero().flatten()


def _grey_notice(first: str, channels: int) -> str | None:
    """Said once, before training: grey images are converted to RGB when data.channels=3 asks for colour."""
    if channels != 3:
        return None
    try:
        with open_image(first) as image:
            mode = image.mode
    except DECODE_ERRORS:
        return None
    if mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"):
        return (
            f"the images are grey ({os.path.basename(first)} is mode {mode}); each is converted to RGB for "
            "data.channels=3 (set data.channels=1 to train on one channel)"
        )
    return None


def _remove_if_owner(path: str, owner: int) -> None:
    if os.getpid() == owner:  # not from a forked loader worker
        try:
            os.unlink(path)
        except OSError:
            pass


def image_files(root: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Paths of the files under root with one of the suffixes, skipping hidden files and folders.

    Symlinked folders are followed (data sets are often linked in), each real folder once, so a link
    cycle cannot loop forever.
    """
    found: list[str] = []
    seen: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]  # prunes the walk in place
        found += [os.path.join(folder, f) for f in files if not f.startswith(".") and f.lower().endswith(suffixes)]
    return found


def folder_shape(root: Path) -> tuple[int, int]:
    """(side, channels) of a folder's first image in sorted order: its shorter side, and 1 for a grey image, else 3."""
    paths = sorted(image_files(root, EXTENSIONS))
    if not paths:
        raise ConfigError(f"no images ({', '.join(EXTENSIONS)}) found under {root}: pass a folder of images")
    with open_image(paths[0]) as image:
        return min(image.size), 1 if image.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
