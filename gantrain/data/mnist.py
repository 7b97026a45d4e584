"""MNIST: LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document recognition"
(Proc. IEEE, 1998); http://yann.lecun.com/exdb/mnist/ (licence CC BY-SA 3.0).

Read from the original IDX files, gzipped or not:
    train-images-idx3-ubyte[.gz]  magic 2051, then big-endian int32 count, rows, cols, then uint8 pixels
    train-labels-idx1-ubyte[.gz]  magic 2049, then big-endian int32 count, then uint8 labels
    (t10k-* for the test split), directly in `root` or in torchvision's layout `root/MNIST/raw/`.
With no root, the subset bundled with gantrain (gantrain/data/bundled/: 5,000 digits of MNIST's training
set, split 4,000 / 1,000 into train and test here) is used,
so training and tests work offline.
"""

import gzip
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from gantrain.core.errors import ConfigError, DataError
from gantrain.data.base import InMemoryImages, check_room_for, fit_channels, resize_square
from gantrain.data.transforms import check_shape

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # 0x0803: uint8 with 3 dimensions; 0x0801: uint8 with 1
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
BUNDLED = "bundled/mnist_5k.npz"  # relative to the gantrain.data package
BUNDLED_NOTICE = (
    "data.root is not set: using the MNIST subset bundled with gantrain (4,000 training digits, 1,000 held "
    "out for tests; set data.root=/path/to/mnist for the full 60,000)"
)


class MNIST(InMemoryImages):
    """MNIST digits as uint8 (N, channels, image_size, image_size) in memory, labels 0..9."""

    def __init__(
        self,
        root: str | None = None,
        *,
        image_size: int = 28,
        channels: int = 1,
        split: str = "train",
        download: bool = False,
        labeled_per_class: int | None = None,
        label_seed: int = 0,
    ) -> None:
        check_shape(image_size, channels)
        if split not in FILES:
            raise ConfigError(f"data.split must be 'train' or 'test', got {split!r}")
        self.notice: str | None = None
        if root is None:
            if download:
                raise ConfigError("data.download=true needs data.root: the folder to download MNIST into")
            images, labels = load_bundled(split)
            self.source = f"the bundled subset's {split} split"
            self.notice = BUNDLED_NOTICE
        else:
            folder = Path(root).expanduser()
            found = find_idx(folder, split)
            if found is None and download:
                _download(folder, split)
                found = find_idx(folder, split)
            if found is None:
                images_name, labels_name = FILES[split]
                raise DataError(
                    f"no MNIST {split} files in {folder}: expected {images_name}[.gz] and {labels_name}[.gz] "
                    f"there or in {folder / 'MNIST' / 'raw'}; set data.download=true to fetch them, "
                    "or omit data.root to use the bundled subset"
                )
            images, labels = read_idx_pair(*found)
            self.source = str(found[0].parent)
        pixels = torch.from_numpy(images).unsqueeze(1)  # (N, 1, 28, 28)
        check_room_for(len(pixels), channels, image_size, "data=mnist")
        pixels = fit_channels(resize_square(pixels, image_size), channels)
        super().__init__(
            pixels,
            torch.from_numpy(labels.astype(np.int64)),
            num_classes=10,
            labeled_per_class=labeled_per_class if split == "train" else None,
            label_seed=label_seed,
        )

    def describe(self) -> str:
        return f"{super().describe()}, from {self.source}"


BUNDLED_TEST_PER_CLASS = 100  # the last 100 digits of each class are held out as the bundled test split


def load_bundled(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The bundled subset, 500 training-set digits per class, split 400 / 100 per class into
    train (4,000) and test (1,000) so that evaluation never sees a training digit.
    Returns images uint8 (N, 28, 28), labels uint8 (N,)."""
    resource = resources.files("gantrain.data").joinpath(BUNDLED)
    try:
        with resource.open("rb") as f, np.load(f) as npz:
            images, labels = npz["images"], npz["labels"]
            keep = np.zeros(len(labels), dtype=bool)
            for c in np.unique(labels):
                members = np.flatnonzero(labels == c)
                held_out = members[-BUNDLED_TEST_PER_CLASS:]
                keep[held_out if split == "test" else members[:-BUNDLED_TEST_PER_CLASS]] = True
            return images[keep], labels[keep]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(
            f"the bundled MNIST subset ({BUNDLED}) is missing or damaged ({e}); reinstall gantrain or set data.root=/path/to/mnist"
        ) from e


def find_idx(folder: Path, split: str) -> tuple[Path, Path] | None:
    """(images file, labels file) of `split` under folder or folder/MNIST/raw, preferring uncompressed."""
    for directory in (folder, folder / "MNIST" / "raw"):
        images, labels = (_first_existing(directory, name) for name in FILES[split])
        if images is not None and labels is not None:
            return images, labels
    return None


def _first_existing(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, rows, cols) and labels uint8 (N,), checked against each other."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            "the two files must come from the same split"
        )
    if images.shape[1] != images.shape[2]:
        raise DataError(f"{images_path} holds {images.shape[1]}x{images.shape[2]} images; MNIST's are square (28x28)")
    if len(labels) and labels.max() > 9:
        raise DataError(f"{labels_path} holds label {labels.max()}; MNIST's labels are the digits 0..9")
    return images, labels


GZIP_MAX_RATIO = 1100  # deflate inflates at most ~1032:1: a header promising more than this is a corrupt file or a bomb


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one uint8 IDX file (gzipped if its name ends in .gz) into an array of its dimensions.

    Read as a stream and never past what the header promises: a small .gz that inflates to gigabytes
    behind a valid header is refused after reading one byte more than the header's size, not inflated
    whole; a header promising more than its file could hold is refused before anything is read."""
    ndim = 3 if magic == IMAGES_MAGIC else 1
    header = 4 + 4 * ndim  # magic, then one big-endian int32 per dimension
    gz = path.suffix == ".gz"
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as f:
            head = f.read(header)
            if len(head) < header or int.from_bytes(head[:4], "big") != magic:
                found = int.from_bytes(head[:4], "big") if len(head) >= 4 else None
                raise DataError(f"{path} is not an MNIST IDX file (magic number {found}, expected {magic}); download it again")
            shape = tuple(int(d) for d in np.frombuffer(head, dtype=">i4", count=ndim, offset=4))
            expected = int(np.prod(shape, dtype=np.int64))
            size = path.stat().st_size
            if min(shape) < 0 or (gz and expected > GZIP_MAX_RATIO * size):  # (a plain file's read ends at its size)
                raise DataError(
                    f"{path} is corrupt: its header promises {expected:,} bytes of data for shape {shape}, more than a "
                    f"{size:,}-byte file can hold; download it again"
                )
            data = f.read(expected)
            extra = f.read(1)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError; a cut-off .gz is an EOFError
        raise DataError(f"cannot read {path} ({e}); download it again") from e
    if len(data) != expected or extra:
        held = f"{len(data):,}" if not extra else f"more than {expected:,}"
        raise DataError(
            f"{path} is truncated or corrupt: its header promises {expected:,} bytes of data for shape {shape}, "
            f"the file holds {held}; download it again"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape).copy()  # copy: writable, owns its memory


def _download(folder: Path, split: str) -> None:
    """Fetch MNIST with torchvision into folder/MNIST/raw/ (torchvision's layout, which find_idx reads)."""
    from torchvision.datasets import MNIST as TorchvisionMNIST  # imported here: only this path needs it

    try:
        TorchvisionMNIST(str(folder), train=split == "train", download=True)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; torchvision raises RuntimeError on bad checksums
        raise DataError(
            f"could not download MNIST into {folder} ({e}); put the IDX files "
            f"({', '.join(FILES[split])}, .gz or not) into that folder yourself"
        ) from e
