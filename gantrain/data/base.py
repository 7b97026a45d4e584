"""The data-set interface and the resumable batch stream that feeds the training loop.

Every data set is map-style: item i -> (image, label) with image a uint8 tensor (C, H, W) already at
the configured size and channel count, label an int (-1 when the data set has no labels). Images are
scaled to [-1, 1] in whole batches on the training device, never per sample.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

if TYPE_CHECKING:
    from PIL import Image

from gantrain.core.batch import Batch
from gantrain.core.errors import ConfigError, DataError, GantrainError
from gantrain.core.pixels import to_unit_range

UNLABELLED = -1


def shown(path: "str | os.PathLike") -> str:
    """A file name as it can be printed: bytes that are not UTF-8 (a name from another system) as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@contextmanager
def open_image(path: "str | os.PathLike") -> "Iterator[Image.Image]":
    """PIL's Image.open for any file name the file system holds: opened by its bytes, since PIL encodes a
    str name as UTF-8 and fails on one that is not (UnicodeEncodeError instead of reading the file)."""
    from PIL import Image

    with open(os.fsencode(path), "rb") as f, Image.open(f) as image:
        yield image


class ImageDataset(Dataset):
    """Base class: subclasses set `image_size`, `channels`, `num_classes` (None when unlabelled)."""

    image_size: int
    channels: int
    num_classes: int | None = None
    class_names: list[str] | None = None  # each class's name, where the data set has them (a folder's subfolders)
    labelled: Tensor | None = None  # indices whose labels training may see; None: all of them
    paired: bool = False  # items are (source, target) pairs for an image translator (gantrain/data/paired.py)
    channels_b: int | None = None  # two unpaired domains (gantrain/data/unpaired.py): domain B's channels
    on_error: str = "raise"  # an unreadable image: raise, or skip it and go on (data sets read from files)
    notice: str | None = None  # one line said at the start of training (e.g. what a built-in task is)
    subset_of: tuple[int, int] | None = None  # data.subset: (the training images there were, data.subset_seed)

    @property
    def has_labels(self) -> bool:
        """Whether training may see any label."""
        return self.num_classes is not None and (self.labelled is None or len(self.labelled) > 0)

    @property
    def fully_labelled(self) -> bool:
        return self.num_classes is not None and self.labelled is None

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the start-up log: what was loaded, from where."""
        return f"{type(self).__name__}: {len(self)} images, {self.channels}x{self.image_size}x{self.image_size}"

    def in_memory(self) -> "ImageDataset | None":
        """The data set whose `images` (and, for pairs, `sources`) batches are sliced from, when it is held
        in memory; None when items are read one by one (through a DataLoader)."""
        return None

    def skipped(self) -> dict[str, str]:
        """With on_error=skip: each unreadable file met so far, with why."""
        return {}

    def stream(
        self, batch_size: int, *, seed: int, device: torch.device, num_workers: int = 0, rank: int = 0, world_size: int = 1
    ) -> "BatchStream":
        """The endless, resumable stream of training batches (a data set of two domains has its own)."""
        return BatchStream(self, batch_size, seed=seed, device=device, num_workers=num_workers, rank=rank, world_size=world_size)


class SubsetView(ImageDataset):
    """A streamed data set (read file by file) seen through `indices`: item i is the data set's item indices[i]
    (data.subset's images, a semi-supervised run's labelled ones)."""

    def __init__(self, dataset: ImageDataset, indices: Tensor) -> None:
        self.dataset, self.indices = dataset, indices.tolist()
        self.image_size, self.channels, self.num_classes = dataset.image_size, dataset.channels, dataset.num_classes
        self.labelled, self.paired, self.on_error, self.notice = dataset.labelled, dataset.paired, dataset.on_error, dataset.notice
        self.class_names = dataset.class_names
        if dataset.paired:
            self.source_channels = dataset.source_channels  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def describe(self) -> str:
        return f"{self.dataset.describe()}, {len(self):,} of them kept"

    def skipped(self) -> dict[str, str]:
        return self.dataset.skipped()


def balanced_subset(labels: Tensor, per_class: int, num_classes: int, seed: int) -> Tensor:
    """Indices of `per_class` images of each class, drawn with `seed` (data.label_seed): the labelled
    part of a semi-supervised run. Sorted, so the subset is a set, not an order."""
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(num_classes):
        members = (labels == c).nonzero().flatten()
        if len(members) < per_class:
            raise ConfigError(
                f"data.labeled_per_class={per_class} but class {c} has only {len(members)} training images; use at most {len(members)}"
            )
        chosen.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    return torch.cat(chosen).sort().values


def streamed_labels(name: str, num_classes: int | None, labeled_per_class: int | None) -> Tensor | None:
    """`labelled` for a streamed data set: all labels (None) or none (0); labelled subsets need the
    labels of every image up front, which only the in-memory data sets have."""
    if labeled_per_class is None:
        return None
    if labeled_per_class == 0:
        return torch.empty(0, dtype=torch.long)
    what = "has no labels" if num_classes is None else "is streamed, so it cannot draw a labelled subset"
    raise ConfigError(
        f"data.labeled_per_class={labeled_per_class} but data={name} {what}; use a labelled in-memory data set "
        "(data=mnist or data=cifar10), or data.labeled_per_class=0 for unsupervised training"
    )


class InMemoryImages(ImageDataset):
    """A data set that fits in memory, held as one uint8 tensor (N, C, H, W); batches are slices of it.

    labeled_per_class: None uses every label the data set has; 0 hides them all (unsupervised);
    N > 0 keeps the labels of a class-balanced subset of N per class, chosen by label_seed.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        num_classes: int | None = None,
        *,
        labeled_per_class: int | None = None,
        label_seed: int = 0,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[2] != images.shape[3]:
            raise ValueError(f"images must be a uint8 tensor (N, C, S, S), got {images.dtype} {tuple(images.shape)}")
        if len(images) == 0:
            raise DataError("the data set holds no images")
        self.images, self.labels = images, labels
        self.channels, self.image_size = images.shape[1], images.shape[2]
        self.num_classes = num_classes
        self.labeled_per_class, self.label_seed = labeled_per_class, label_seed
        # labelled: indices whose labels training may see; None when all of them may
        self.labelled: Tensor | None = None
        if labeled_per_class is not None:
            # a bool is an int to Python, and a typo ("ten") would fail later in a comparison
            if isinstance(labeled_per_class, bool) or not isinstance(labeled_per_class, int) or labeled_per_class < 0:
                raise ConfigError(
                    f"data.labeled_per_class must be >= 0 (a whole number) or null for all labels (got {labeled_per_class!r})"
                )
            if labels is None or num_classes is None:
                if labeled_per_class > 0:
                    raise ConfigError(f"data.labeled_per_class={labeled_per_class} but this data set has no labels; use 0")
                self.labelled = torch.empty(0, dtype=torch.long)
            elif labeled_per_class == 0:
                self.labelled = torch.empty(0, dtype=torch.long)
            else:
                self.labelled = balanced_subset(labels, labeled_per_class, num_classes, label_seed)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        label = UNLABELLED if self.labels is None else int(self.labels[index])
        return self.images[index], label

    def in_memory(self) -> "InMemoryImages":
        return self

    def keep(self, indices: Tensor) -> None:
        """Keep only the images at `indices` (data.subset), the labelled part drawn again among them as
        data.labeled_per_class and data.label_seed say."""
        self.images = take(self.images, indices)
        self.labels = None if self.labels is None else self.labels[indices]
        if self.labelled is not None and len(self.labelled) > 0 and self.labels is not None and self.num_classes is not None:
            assert self.labeled_per_class is not None
            self.labelled = balanced_subset(self.labels, self.labeled_per_class, self.num_classes, self.label_seed)


def take(images: "Tensor | Resized", indices: Tensor) -> "Tensor | Resized":
    """The images at `indices` of a uint8 tensor (N, C, H, W), or of a Resized one, still resized on access."""
    return Resized(images.native[indices], images.size) if isinstance(images, Resized) else images[indices]


class Resized:
    """uint8 images (N, C, s, s) kept at their own size s and handed out at `size`: indexing resizes only
    the images asked for (a batch, one image), so that a data set at 256 x 256 takes the memory of its
    28 x 28 originals. Each image is resized on its own (antialiased bilinear, as resize_square), so a
    batch holds exactly the pixels that resizing the whole set at once would have given."""

    dtype = torch.uint8

    def __init__(self, images: Tensor, size: int) -> None:
        self.native, self.size = images, size
        self.shape = torch.Size((images.shape[0], images.shape[1], size, size))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, int):
            return (
                resize_square(self.native[index : index + 1], self.size)[0]
                if index != -1
                else resize_square(self.native[-1:], self.size)[0]
            )
        if isinstance(index, tuple):  # e.g. [:, 0]: the images first, then the rest of the index
            return self[index[0]][(slice(None), *index[1:])]
        return resize_square(self.native[index], self.size)


def at_size(images: Tensor, size: int) -> "Tensor | Resized":
    """`images` (uint8 (N, C, s, s)) as a data set holds them for training at `size`: themselves when
    s == size, else resized on access (Resized)."""
    return images if images.shape[-1] == size else Resized(images, size)


def check_room_for(n: int, channels: int, size: int, what: str) -> None:
    """Refuse, before allocating, an in-memory data set of n uint8 images (channels, size, size) that would
    not fit in half the memory free now (the other half is for the networks, their training and the
    evaluation, which gantrain.training.memory checks once the data are known)."""
    from gantrain.core.files import byte_size
    from gantrain.core.resources import available_bytes

    needed, free = n * channels * size * size, available_bytes(torch.device("cpu"))
    if free is not None and needed > 0.5 * free:
        raise ConfigError(
            f"{what} holds its {n:,} images in memory at data.image_size={size}: {byte_size(needed)}, more than half "
            f"the {byte_size(free)} free; lower data.image_size (or data.channels), or export the images "
            "to a folder and use data=folder, which reads them batch by batch"
        )


def fit_channels(images: Tensor, channels: int) -> Tensor:
    """uint8 (N, c, H, W) -> (N, channels, H, W): grey is repeated into RGB, RGB is mixed to luminance."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)  # ITU-R 601 luma, as PIL's "L"
        return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB), got {channels}")


def resize_square(images: Tensor, size: int) -> Tensor:
    """uint8 (N, C, S, S) -> uint8 (N, C, size, size), antialiased bilinear, in chunks of about 64 MiB of
    float pixels to bound memory."""
    if images.shape[-1] == size:
        return images
    out = torch.empty(images.shape[0], images.shape[1], size, size, dtype=torch.uint8)
    chunk = max(1, (1 << 24) // (images.shape[1] * max(size, images.shape[-1]) ** 2))
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = part.round().clamp(0, 255).to(torch.uint8)
    return out


def sample_uint8(dataset: ImageDataset, n: int, seed: int) -> Tensor:
    """min(n, len) images drawn without replacement with `seed`, as stored: uint8 (n, C, H, W) on the CPU."""
    g = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(dataset), generator=g)[: min(n, len(dataset))]
    store = dataset.in_memory()
    if store is not None:
        return store.images[indices]
    return torch.stack([torch.as_tensor(dataset[int(i)][0]) for i in indices])


def sample_images(dataset: ImageDataset, n: int, seed: int) -> Tensor:
    """min(n, len) images drawn without replacement with `seed`, as float (n, C, H, W) in [-1, 1] on the CPU."""
    return to_unit_range(sample_uint8(dataset, n, seed))


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The shuffled order of epoch `epoch`: a fixed function of (seed, epoch)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def index_batches(n: int, batch_size: int, seed: int, start: int) -> Iterator[list[int]]:
    """Batches of indices from global batch number `start` on, forever (a free function, so a
    DataLoader holding it does not keep its BatchStream alive)."""
    per_epoch = n // batch_size
    epoch, position = divmod(start, per_epoch)
    while True:
        order = epoch_order(n, seed, epoch)
        for b in range(position, per_epoch):
            yield order[b * batch_size : (b + 1) * batch_size].tolist()
        epoch, position = epoch + 1, 0


class BatchStream:
    """Endless shuffled batches of a data set, resumable from a single number.

    The order is a fixed function of (seed, epoch): epoch e is the permutation drawn from a generator
    seeded with (seed, e), cut into len // batch_size full batches. So the state is just how many
    batches were consumed, and a resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        *,
        seed: int,
        device: torch.device,
        num_workers: int = 0,
        consumed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(dataset) < batch_size * world_size:
            processes = f" x {world_size} processes" if world_size > 1 else ""
            raise ConfigError(f"train.batch_size={batch_size}{processes} is larger than the data set ({len(dataset)} images); lower it")
        self.dataset, self.batch_size, self.seed, self.device = dataset, batch_size, seed, device
        self.num_workers = num_workers
        # Data parallel: every rank walks the same order in global batches of batch_size * world_size
        # and takes its own slice of each, so the ranks never see the same image in a step.
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = len(dataset) // (batch_size * world_size)
        self.consumed = consumed
        self._iter: Iterator | None = None
        # A semi-supervised run draws each step's labelled batch from the labelled subset on its own
        self.labelled: BatchStream | None = None
        subset = dataset.labelled
        if subset is not None and len(subset) > 0:
            part: ImageDataset
            if isinstance(dataset, InMemoryImages):
                part = InMemoryImages(dataset.images[subset], dataset.labels[subset], dataset.num_classes)
            else:  # a streamed data set (a labelled folder): those images read file by file, every label shown
                part = SubsetView(dataset, subset)
                part.labelled = None
            # (each rank draws its labelled batches on its own: the subset is small, often 100 images)
            self.labelled = BatchStream(
                part, min(batch_size, len(part)), seed=seed + 7 + 7919 * rank, device=device, num_workers=num_workers
            )

    def _batches(self) -> Iterator[list[int]]:
        """This rank's index batches, from where the stream stands."""
        size, b, r = self.world_size, self.batch_size, self.rank
        batches = index_batches(len(self.dataset), b * size, self.seed, self.consumed)
        return batches if size == 1 else (idx[r * b : (r + 1) * b] for idx in batches)

    def _start(self) -> Iterator:
        store = self.dataset.in_memory()
        if store is not None and store.paired:  # in-memory pairs: (target, source)
            targets, sources = store.images, store.sources  # type: ignore[attr-defined]
            return ((targets[idx], sources[idx]) for idx in self._batches())
        if isinstance(store, InMemoryImages):
            images, labels = store.images, store.labels
            return ((images[idx], None if labels is None else labels[idx]) for idx in self._batches())
        loader = DataLoader(
            self.dataset,
            batch_sampler=self._batches(),
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=4 if self.num_workers > 0 else None,
        )
        if self.dataset.paired:
            return ((target, source) for source, target in loader)
        return ((x, y) for x, y in loader)

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> Batch:
        if self._iter is None:
            self._iter = self._start()
        try:
            x, y = next(self._iter)
        except GantrainError as e:  # raised in a loader worker: PyTorch prepends the worker's traceback
            raise type(e)(_last_line(str(e))) from None
        self.consumed += 1
        x = to_unit_range(x.to(self.device, non_blocking=True))
        if self.dataset.paired:  # y is the source image of each target x
            return Batch(x, source=to_unit_range(y.to(self.device, non_blocking=True)))
        if self.dataset.labelled is not None:  # a subset, or none, is labelled
            y = None
        elif y is not None:
            y = torch.as_tensor(y)  # still on the CPU: checking it here costs no device sync
            y = None if bool((y == UNLABELLED).all()) else y.to(self.device, non_blocking=True)
        if self.labelled is not None:
            lab = next(self.labelled)
            return Batch(x, None, lab.x, lab.y)
        return Batch(x, y, x, y) if y is not None else Batch(x)

    def close(self) -> None:
        """Stop loader workers now rather than when the stream is garbage-collected."""
        self._iter = None

    def state_dict(self) -> dict[str, int]:
        state = {"consumed": self.consumed}
        if self.labelled is not None:
            state["labelled"] = self.labelled.consumed
        return state

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.consumed = int(state["consumed"])
        self._iter = None
        if self.labelled is not None:
            self.labelled.load_state_dict({"consumed": int(state.get("labelled", 0))})


def _last_line(message: str) -> str:
    """The original error of a worker's report 'Caught X in DataLoader worker ... X: message'."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if len(lines) > 1 and "Traceback" in message:
        last = lines[-1]
        return last.split(": ", 1)[1] if last.startswith("gantrain.core.errors.") and ": " in last else last
    return message
