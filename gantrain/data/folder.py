"""A folder of image files, searched recursively: any unlabelled image collection (CelebA's
img_align_celeba/, FFHQ thumbnails, your own photos).

Every file under root whose extension is one of `extensions` is an image, in sorted path order so that
item i is the same file on every run; hidden files and folders (names starting with ".", e.g. macOS's
"._photo.jpg") are skipped. Items are decoded on demand, scaled so the shorter side is image_size and
centre-cropped, exactly like LSUN's (gantrain.data.transforms.load_square).
"""

import os
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from gantrain.core.errors import ConfigError, DataError
from gantrain.data.base import UNLABELLED, ImageDataset, open_image, shown, streamed_labels
from gantrain.data.transforms import DECODE_ERRORS, check_shape, load_square

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class ImageFolder(ImageDataset):
    """Every image file under a folder, unlabelled."""

    def __init__(
        self,
        root: str | None,
        *,
        image_size: int = 64,
        channels: int = 3,
        extensions: Sequence[str] = EXTENSIONS,
        labeled_per_class: int | None = None,
        label_seed: int = 0,
        on_error: str = "raise",
    ) -> None:
        check_shape(image_size, channels)
        if on_error not in ("skip", "raise"):
            raise ConfigError(f"data.on_error must be skip or raise, what to do with an unreadable image (got {on_error!r})")
        self.on_error = on_error
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
        # Paths relative to root, as bytes in one fixed-width numpy array rather than a list of str: forked
        # DataLoader workers then share its pages instead of copying them as refcounts change.
        self._paths = np.array([os.fsencode(os.path.relpath(p, self.root)) for p in paths])
        self.image_size, self.channels, self.num_classes = image_size, channels, None
        self.notice = _grey_notice(paths[0], channels)
        # data.on_error=skip: loader workers append each unreadable file to this log (one writer per line,
        # O_APPEND), the training loop reads it to count and report them; removed by the process that made it
        self._skip_log: str | None = None
        if on_error == "skip":
            fd, self._skip_log = tempfile.mkstemp(prefix="gantrain-skipped-", suffix=".txt")
            os.close(fd)
            weakref.finalize(self, _remove_if_owner, self._skip_log, os.getpid())

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        for attempt in range(len(self)):  # skip: the next readable image takes an unreadable one's place
            path = self.root / os.fsdecode(self._paths[(index + attempt) % len(self)])
            try:
                with open_image(path) as image:
                    return load_square(image, self.image_size, self.channels), UNLABELLED
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
        return f"ImageFolder: {len(self)} images, {shape} (resized, centre-cropped), from {self.root}"


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
