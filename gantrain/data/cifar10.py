"""CIFAR-10: Krizhevsky, "Learning Multiple Layers of Features from Tiny Images" (tech. report, 2009);
https://www.cs.toronto.edu/~kriz/cifar.html

Read from the "CIFAR-10 python version" (cifar-10-python.tar.gz, extracted):
    <root>/cifar-10-batches-py/data_batch_1 .. data_batch_5   (train, 10,000 images each)
    <root>/cifar-10-batches-py/test_batch                     (test, 10,000 images)
Each batch is a pickled dict with bytes keys: b"data" a uint8 array (N, 3072) whose rows are the
1024 red, 1024 green then 1024 blue values of a 32x32 image in row-major order, and b"labels" a list
of N ints in 0..9. A pickle can run arbitrary code when loaded, so the batches are read with an
unpickler that only admits the few numpy names an array's pickle needs.
"""

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gantrain.core.errors import ConfigError, DataError
from gantrain.data.base import InMemoryImages, check_room_for, fit_channels, resize_square
from gantrain.data.transforms import check_shape

FOLDER = "cifar-10-batches-py"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
LAYOUT = f"{FOLDER}/data_batch_1..5 and {FOLDER}/test_batch, as extracted from cifar-10-python.tar.gz"


def _numpy_core(module: str) -> Any:
    """numpy 2 renamed numpy.core to numpy._core; old pickles (CIFAR's, from 2009) name numpy.core."""
    try:
        return __import__(f"numpy._core.{module}", fromlist=["_"])
    except ImportError:  # numpy 1.x
        return __import__(f"numpy.core.{module}", fromlist=["_"])


# (module, name) a numpy-array pickle refers to -> the object; nothing else can be loaded.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how Python 3's protocol 2 writes bytes
}
for _package in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_package}.multiarray", "_reconstruct")] = _numpy_core("multiarray")._reconstruct  # protocols 0-4
    _ALLOWED[(f"{_package}.multiarray", "scalar")] = _numpy_core("multiarray").scalar
    _ALLOWED[(f"{_package}.numeric", "_frombuffer")] = _numpy_core("numeric")._frombuffer  # protocol 5


class SafeUnpickler(pickle.Unpickler):
    """Unpickles one file, resolving only numpy's array-building names, so a crafted file cannot run code."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("rb")
        # The batches were pickled by Python 2: encoding="bytes" keeps its str keys as bytes (b"data").
        super().__init__(self._file, encoding="bytes")

    def find_class(self, module: str, name: str) -> Any:
        # Every global a pickle names (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT*) is resolved here.
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.path} refers to {module}.{name}, which a CIFAR-10 batch never does; refusing to load it "
                "(re-download cifar-10-python.tar.gz)"
            ) from None

    def load_and_close(self) -> Any:
        with self._file:
            return self.load()


class CIFAR10(InMemoryImages):
    """CIFAR-10 as uint8 (N, channels, image_size, image_size) in memory, labels 0..9."""

    def __init__(
        self,
        root: str | None = None,
        *,
        image_size: int = 32,
        channels: int = 3,
        split: str = "train",
        labeled_per_class: int | None = None,
        label_seed: int = 0,
    ) -> None:
        check_shape(image_size, channels)
        if split not in BATCHES:
            raise ConfigError(f"data.split must be 'train' or 'test', got {split!r}")
        if root is None:
            raise ConfigError(
                f"data=cifar10 needs data.root: pass data.root=/path/to/cifar10, the folder holding {FOLDER}/ "
                "(extract cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html)"
            )
        folder = find_batches(Path(root).expanduser())
        images, labels = [], []
        for name in BATCHES[split]:
            x, y = read_batch(folder / name)
            images.append(x)
            labels.append(y)
        # rows are R(1024) G(1024) B(1024) of a row-major 32x32 image: (N, 3072) -> (N, 3, 32, 32)
        pixels = torch.from_numpy(np.concatenate(images).reshape(-1, 3, 32, 32))
        check_room_for(len(pixels), channels, image_size, "data=cifar10")
        pixels = fit_channels(resize_square(pixels, image_size), channels)
        self.source = str(folder)
        super().__init__(
            pixels,
            torch.from_numpy(np.concatenate(labels)),
            num_classes=10,
            labeled_per_class=labeled_per_class if split == "train" else None,
            label_seed=label_seed,
        )

    def describe(self) -> str:
        return f"{super().describe()}, from {self.source}"


def find_batches(root: Path) -> Path:
    """The cifar-10-batches-py folder: root itself or root/cifar-10-batches-py."""
    for folder in (root / FOLDER, root):
        if (folder / "data_batch_1").is_file() or (folder / "test_batch").is_file():
            return folder
    if not root.exists():
        raise DataError(f"data.root={root} does not exist; it should hold {LAYOUT}")
    raise DataError(f"no CIFAR-10 batches in {root}: expected {LAYOUT}")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (data uint8 (N, 3072), labels int64 (N,)), checked."""
    if not path.is_file():
        raise DataError(f"{path} is missing: expected {LAYOUT}")
    try:
        batch = SafeUnpickler(path).load_and_close()
    except DataError:
        raise
    except Exception as e:  # anything a damaged pickle can raise: UnpicklingError, EOFError, ValueError, ...
        reason = f"{type(e).__name__}: {e}"
        raise DataError(f"{path} is not a readable CIFAR-10 python batch ({reason}); re-download it") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f'{path} is not a CIFAR-10 python batch: expected a dict with b"data" and b"labels"')
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataError(f'{path}: b"data" must be a uint8 array (N, 3072), got {type(data).__name__} {shape}')
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise DataError(f'{path}: b"labels" must be a list of ints ({e})') from e
    if labels.shape != (len(data),) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(f'{path}: b"labels" must hold {len(data)} ints in 0..9')
    return data, labels
