"""LSUN scenes: Yu, Seff, Zhang, Song, Funkhouser & Xiao, "LSUN: Construction of a Large-scale Image
Dataset using Deep Learning with Humans in the Loop" (arXiv:1506.03365, 2015); the bedrooms are the
data set of DCGAN (Radford et al., 2016).

Layout, as written by LSUN's download script (github.com/fyu/lsun) once unzipped:
    <root>/<class>_lmdb/data.mdb, lock.mdb   e.g. bedroom_train_lmdb/, church_outdoor_train_lmdb/
Each is an LMDB environment whose values are encoded images (webp in the official release; jpeg and
png decode too) under arbitrary keys. The classes are named as in torchvision ("bedroom_train").

Streamed, never loaded whole (bedroom_train is 3 million images, 43 GB): construction reads only the
keys, packed into one numpy buffer; each item is read and decoded on demand, then scaled so its
shorter side is image_size and centre-cropped (gantrain.data.transforms.load_square).
"""

import io
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import lmdb
import numpy as np
from PIL import Image
from torch import Tensor

from gantrain.core.errors import ConfigError, DataError
from gantrain.data.base import UNLABELLED, ImageDataset, streamed_labels
from gantrain.data.transforms import DECODE_ERRORS, check_shape, load_square

LAYOUT = "<root>/<class>_lmdb/ LMDB folders (e.g. bedroom_train_lmdb/ from LSUN's download script)"
_ENV_OPTIONS = dict(readonly=True, lock=False, readahead=False, meminit=False)  # many readers, random access

# realpath -> (process id that registered it, read-only handle). py-lmdb refuses to open one environment
# twice in a process, so every LSUN object of a process shares one handle per LMDB, kept open for good.
_HANDLES: dict[str, tuple[int, lmdb.Environment]] = {}


class LSUN(ImageDataset):
    """One or more LSUN classes; with several, an item's label is its class's index in `classes`."""

    def __init__(
        self,
        root: str | None,
        *,
        classes: Sequence[str] | str = ("bedroom_train",),
        image_size: int = 64,
        channels: int = 3,
        labeled_per_class: int | None = None,
        label_seed: int = 0,
    ) -> None:
        check_shape(image_size, channels)
        if root is None:
            raise ConfigError(
                "data=lsun needs data.root: pass data.root=/path/to/lsun, the folder holding <class>_lmdb/ "
                "directories (e.g. bedroom_train_lmdb/ from LSUN's download script)"
            )
        names = [classes] if isinstance(classes, str) else [str(c) for c in classes]
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"data.classes must name one or more distinct LSUN classes, got {names}")
        self.root = Path(root).expanduser()
        self.classes, self.image_size, self.channels = names, image_size, channels
        self.num_classes = len(names) if len(names) > 1 else None
        self.labelled = streamed_labels("lsun", self.num_classes, labeled_per_class)
        self.paths = [self.root / f"{name}_lmdb" for name in names]
        keys, lengths, counts = [], [], []
        for path in self.paths:
            k, n = _read_keys(path)
            keys.append(k)
            lengths.append(n)
            counts.append(len(n))
        # All keys back to back in one uint8 buffer; key i is _keys[_offsets[i]:_offsets[i + 1]]. A few
        # numpy arrays, not millions of bytes objects: compact, and DataLoader workers forked from this
        # process share the pages (touching Python objects' refcounts would copy them).
        self._keys = np.concatenate(keys)
        self._offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]).astype(np.int64)
        self._class_starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # first index of each class

    def __len__(self) -> int:
        return int(self._class_starts[-1])

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        cls = int(np.searchsorted(self._class_starts, index, side="right")) - 1
        key = self._keys[self._offsets[index] : self._offsets[index + 1]].tobytes()
        try:
            with open_env(self.paths[cls]).begin(write=False) as txn:
                value = txn.get(key)
        except lmdb.Error as e:
            raise DataError(f"cannot read {self.paths[cls]} ({e}); is it still there and intact?") from e
        if value is None:
            raise DataError(f"key {key!r} vanished from {self.paths[cls]}; was the LMDB changed during training?")
        try:
            image = load_square(Image.open(io.BytesIO(value)), self.image_size, self.channels)
        except DECODE_ERRORS as e:
            raise DataError(f"cannot decode the image under key {key!r} in {self.paths[cls]} ({e}); the LMDB is damaged") from e
        return image, (cls if self.num_classes else UNLABELLED)

    def describe(self) -> str:
        shape = f"{self.channels}x{self.image_size}x{self.image_size}"
        names = ", ".join(self.classes)
        return f"LSUN {names}: {len(self)} images, {shape} (resized, centre-cropped), from {self.root}"


def _read_keys(path: Path, chunk: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """All keys of the LMDB at `path`, concatenated: (uint8 buffer, int64 lengths). Values are not read."""
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise DataError(f"{path} {what}: data=lsun expects {LAYOUT}")
    buffers, lengths = [], []
    try:
        with _keys_reader(path) as env, env.begin(write=False) as txn:
            _check_not_truncated(path, env)
            batch: list[bytes] = []
            for key in txn.cursor().iternext(keys=True, values=False):
                batch.append(key)
                if len(batch) == chunk:  # flush in chunks to bound the number of live bytes objects
                    buffers.append(np.frombuffer(b"".join(batch), dtype=np.uint8))
                    lengths.append(np.fromiter(map(len, batch), dtype=np.int64, count=len(batch)))
                    batch = []
            buffers.append(np.frombuffer(b"".join(batch), dtype=np.uint8))
            lengths.append(np.fromiter(map(len, batch), dtype=np.int64, count=len(batch)))
    except lmdb.Error as e:
        raise DataError(f"{path} is not a readable LMDB environment ({e}): data=lsun expects {LAYOUT}") from e
    lengths_all = np.concatenate(lengths)
    if len(lengths_all) == 0:
        raise DataError(f"{path} is an empty LMDB: it holds no images")
    return np.concatenate(buffers), lengths_all


def _check_not_truncated(path: Path, env: lmdb.Environment) -> None:
    """A data.mdb shorter than the pages its header says it uses (a copy cut short) would crash the
    process with SIGBUS when a missing page is read through the memory map: refuse it up front."""
    data = path / "data.mdb"
    needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    if data.is_file() and data.stat().st_size < needed:
        raise DataError(f"{data} is truncated ({data.stat().st_size:,} bytes, its header needs {needed:,}): copy or download it again")


def open_env(path: Path) -> lmdb.Environment:
    """This process's shared read-only handle on the LMDB at `path`, opened on first use.

    A forked DataLoader worker inherits its parent's handles but opens its own. py-lmdb (3.x) refuses
    that while the parent had the environment open at the fork; the worker then keeps the inherited
    handle, which is safe here: with lock=False and readonly there is no lock table to share, only a
    read-only mapping of the file.
    """
    key = os.path.realpath(path)
    entry = _HANDLES.get(key)
    if entry is not None and entry[0] == os.getpid():
        return entry[1]
    try:
        env = lmdb.open(key, **_ENV_OPTIONS)
    except lmdb.Error:
        if entry is None:
            raise
        env = entry[1]  # inherited; see above
    _HANDLES[key] = (os.getpid(), env)
    return env


@contextmanager
def _keys_reader(path: Path) -> Iterator[lmdb.Environment]:
    """A handle for reading the keys at construction: the shared one if this process has it, else a
    temporary one, closed afterwards so that DataLoader workers forked later open their own."""
    key = os.path.realpath(path)
    if key in _HANDLES:
        yield open_env(path)
        return
    env = lmdb.open(key, **_ENV_OPTIONS)
    try:
        yield env
    finally:
        env.close()
