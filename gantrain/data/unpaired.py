"""Unpaired images of two domains, A and B, for CycleGAN (Zhu, Park, Isola & Efros, "Unpaired
Image-to-Image Translation using Cycle-Consistent Adversarial Networks", ICCV 2017).

Nothing pairs an image of A with one of B: each training step draws a batch of A and a batch of B
independently, each side in its own shuffled order (`Batch.x` holds the A batch, `Batch.x_b` the B
batch). An epoch is max(|A|, |B|) images, as in the paper's code. Two sources:

  * a folder laid out as the paper's data sets are distributed (horse2zebra, monet2photo, ...):
    root/trainA/, root/trainB/, root/testA/, root/testB/, images of any format and size, grey or colour,
    read from disk per item (each converted to data.channels and cut to a centred square);
  * with no root, one of two built-in offline tasks, labels kept on both sides for evaluation (training
    never sees them): data=mnist_uci, A = the MNIST digits bundled with gantrain, B = the UCI handwritten
    digits that scikit-learn ships (1,797 8x8 scans), both grey 32x32; data=mnist_mnistm, A = half of
    those MNIST digits (grey, as RGB), B = the other half composited over procedural colour textures as
    MNIST-M is made (Ganin & Lempitsky 2015), both 32x32 RGB.

Training images get the paper's jitter (section 7.1 and its code): resized to load_size, a random
image_size crop, and a random left-right flip when data.flip is set. The randomness of each draw is a
fixed function of (stream seed, side, global draw index), so a resumed stream repeats it exactly.
Held-out (test) images are only resized to image_size.
"""

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from gantrain.core.errors import ConfigError, DataError, GantrainError
from gantrain.core.objective import Batch
from gantrain.core.pixels import to_unit_range
from gantrain.data.base import ImageDataset, _last_line, fit_channels, index_batches, open_image, resize_square
from gantrain.data.folder import EXTENSIONS, _grey_notice, image_files
from gantrain.data.transforms import DECODE_ERRORS, check_shape, load_square

DIRECTIONS = ("AtoB", "BtoA")
SPLITS = ("train", "test")
LAYOUT = "root/trainA, root/trainB, root/testA, root/testB"
UCI_BOX = 20  # the side of the box a UCI digit is drawn in, MNIST's (its digits fill 20x20 of 28x28)
MNIST_SIDE = 32  # the bundled 28x28 digits are padded to 32 (as data=edges2x does): a power of 2
UCI_HOLDOUT = 0.2  # the share of each class of the UCI digits held out as the built-in test split
UCI_SPLIT_SEED = 0  # fixed, not the run's seed: the held-out digits are the same for every run
SECOND_SIDE_SEED = 1  # B's order is drawn with seed + 1, A's with seed: two independent permutations
TEXTURE_SEEDS = {"train": 0, "test": 1}  # data=mnist_mnistm's backgrounds: fixed, the same for every run
BUILTIN = ("mnist_uci", "mnist_mnistm")  # the built-in pairs (root None)


class ImageFiles(Dataset):
    """The image files of one domain's folder, each read as uint8 (channels, size, size): converted to
    grey or RGB, the central square cut and resized to size (transforms.load_square)."""

    def __init__(self, folder: Path, paths: Sequence[str], *, size: int, channels: int) -> None:
        self.folder, self.size, self.channels = folder, size, channels
        # relative paths as bytes in one numpy array: forked loader workers share its pages (as ImageFolder)
        self._paths = np.array([os.fsencode(os.path.relpath(p, folder)) for p in sorted(paths)])

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, index: int) -> Tensor:
        path = self.folder / os.fsdecode(self._paths[index])
        try:
            with open_image(path) as image:
                return load_square(image, self.size, self.channels)
        except DECODE_ERRORS as e:
            raise DataError(f"cannot read image {path} ({e}); delete or replace the file") from e


# One side: images held in memory as uint8 (N, C, L, L), or read per item from files
ImageSet = Tensor | ImageFiles


def _taken(images: ImageSet, indices: Tensor) -> ImageSet:
    """The images of one side at `indices`: a slice of the tensor, or the files' names only."""
    if isinstance(images, Tensor):
        return images[indices]
    kept = ImageFiles.__new__(ImageFiles)
    kept.folder, kept.size, kept.channels, kept._paths = images.folder, images.size, images.channels, images._paths[indices.numpy()]
    return kept


def _shape(images: ImageSet) -> tuple[int, int]:
    """(channels, side) of a side's images."""
    if isinstance(images, Tensor):
        return images.shape[1], images.shape[-1]
    return images.channels, images.size


def jitter(image: Tensor, crop: int, flip: bool, key: Sequence[int]) -> Tensor:
    """uint8 (C, L, L) -> uint8 (C, crop, crop): a random crop x crop square, flipped left-right half the
    time when `flip`; the randomness is a fixed function of key = (seed, side, draw), never global RNG."""
    load = image.shape[-1]
    if load == crop and not flip:
        return image
    rng = np.random.default_rng([k % 2**64 for k in key])  # SeedSequence hashes the key into a fresh stream
    top, left = (int(v) for v in rng.integers(0, load - crop + 1, size=2))
    image = image[:, top : top + crop, left : left + crop]
    if flip and rng.random() < 0.5:
        image = image.flip(-1)
    return image.contiguous()


class UnpairedImages(ImageDataset):
    """Two unpaired sides: x is drawn from images_a, x_b from images_b, each uint8 (C, L, L) with L the
    load size (= image_size for held-out splits). Labels (int64, one per image, or None) are for
    evaluation only: `num_classes` is None, so training sees none.

    Item i is (A image i mod |A|, B image i mod |B|), resized to image_size without jitter: a view for
    previews. Training draws through `stream`.
    """

    num_classes = None

    def __init__(
        self,
        images_a: ImageSet,
        images_b: ImageSet,
        *,
        image_size: int,
        labels_a: Tensor | None = None,
        labels_b: Tensor | None = None,
        flip: bool = False,
        split: str = "train",
        names: tuple[str, str] = ("A", "B"),
        origin: str = "",
        notice: str | None = None,
    ) -> None:
        (self.channels, load_a), (self.channels_b, load_b) = _shape(images_a), _shape(images_b)
        if load_a != load_b or load_a < image_size:
            raise ValueError(f"both sides must hold images of one load size >= image_size={image_size}, got {load_a} and {load_b}")
        for images, labels in ((images_a, labels_a), (images_b, labels_b)):
            if labels is not None and (labels.dtype != torch.int64 or labels.shape != (len(images),)):
                raise ValueError(f"labels must be int64 of shape ({len(images)},), got {labels.dtype} {tuple(labels.shape)}")
            if len(images) == 0:
                raise DataError("a side of the unpaired data set holds no images")
        self.images_a, self.images_b = images_a, images_b
        self.labels_a, self.labels_b = labels_a, labels_b
        self.image_size, self.load_size = image_size, load_a
        self.flip, self.split = bool(flip), split
        self.names = names  # the domain each side comes from ("B", "A" when data.direction=BtoA), for messages
        self.origin = origin  # where the images come from, for describe()
        self.notice = notice  # said once before training (the built-in task: what it is)

    def keep(self, indices_a: Tensor, indices_b: Tensor) -> None:
        """Keep only those images of each side (data.subset), with their labels."""
        self.images_a, self.images_b = _taken(self.images_a, indices_a), _taken(self.images_b, indices_b)
        self.labels_a = None if self.labels_a is None else self.labels_a[indices_a]
        self.labels_b = None if self.labels_b is None else self.labels_b[indices_b]

    def __len__(self) -> int:
        return max(len(self.images_a), len(self.images_b))  # an epoch, as the paper's code counts it

    def _view(self, image: Tensor) -> Tensor:
        """uint8 (C, L, L) -> (C, S, S): resized, not cropped, so a preview shows the whole image."""
        return image if image.shape[-1] == self.image_size else resize_square(image.unsqueeze(0), self.image_size)[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return self.image_a(index % len(self.images_a)), self.image_b(index % len(self.images_b))

    def image_a(self, index: int) -> Tensor:
        """Image `index` of side A (x), uint8 (C, S, S), without jitter."""
        return self._view(self.images_a[index])

    def image_b(self, index: int) -> Tensor:
        """Image `index` of side B (x_b), uint8 (C_b, S, S), without jitter."""
        return self._view(self.images_b[index])

    def stream(
        self, batch_size: int, *, seed: int, device: torch.device, num_workers: int = 0, rank: int = 0, world_size: int = 1
    ) -> "UnpairedStream":
        """Endless training batches Batch(x=A batch, x_b=B batch), the two sides drawn independently."""
        return UnpairedStream(self, batch_size, seed=seed, device=device, num_workers=num_workers, rank=rank, world_size=world_size)

    def describe(self) -> str:
        a, b = self.names
        if self.load_size > self.image_size:
            how = f", resized to {self.load_size} and cropped to {self.image_size} at random"
        else:
            how = ""
        how += ", flipped at random" if self.flip else ""
        return (
            f"UnpairedImages: {len(self.images_a):,} {a} / {len(self.images_b):,} {b} {self.split} images "
            f"(x = {a}, x_b = {b}), {self.channels}x{self.image_size}x{self.image_size}{how}, from {self.origin}"
        )


class _Draws(Dataset):
    """What the loader reads: key (index in A, index in B, global draw) -> (A image, B image), uint8
    (C, S, S) each, jittered by (seed, side, draw)."""

    def __init__(self, images_a: ImageSet, images_b: ImageSet, *, crop: int, flip: bool, seed: int) -> None:
        self.sides, self.crop, self.flip, self.seed = (images_a, images_b), crop, flip, seed

    def __len__(self) -> int:
        return max(len(side) for side in self.sides)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[Tensor, Tensor]:
        i_a, i_b, draw = key
        a = jitter(self.sides[0][i_a], self.crop, self.flip, (self.seed, 0, draw))
        b = jitter(self.sides[1][i_b], self.crop, self.flip, (self.seed, 1, draw))
        return a, b


def _draw_keys(
    n_a: int, n_b: int, per_step: int, seeds: tuple[int, int], start: int, rank: int, batch_size: int
) -> Iterator[list[tuple[int, int, int]]]:
    """This rank's keys from global batch `start` on, forever: each side walks its own shuffled epochs
    (base.index_batches, as BatchStream), and draw = the position in the global stream of draws. A free
    function, so the DataLoader holding it does not keep the stream alive."""
    orders = zip(index_batches(n_a, per_step, seeds[0], start), index_batches(n_b, per_step, seeds[1], start))
    first = rank * batch_size  # data parallel: every rank walks the same orders and takes its own slice
    for number, (batch_a, batch_b) in enumerate(orders, start=start):
        yield [(batch_a[j], batch_b[j], number * per_step + j) for j in range(first, first + batch_size)]


class UnpairedStream:
    """Endless batches of both sides, resumable from one number: the batches consumed. Each side's order
    is a fixed function of (its seed, its epoch) and each draw's jitter of (seed, side, draw index), so
    a resumed stream gives exactly the batches an uninterrupted one would."""

    def __init__(
        self,
        data: UnpairedImages,
        batch_size: int,
        *,
        seed: int,
        device: torch.device,
        num_workers: int = 0,
        consumed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        per_step = batch_size * world_size
        for name, images in zip(data.names, (data.images_a, data.images_b)):
            if len(images) < per_step:
                processes = f" x {world_size} processes" if world_size > 1 else ""
                raise ConfigError(
                    f"train.batch_size={batch_size}{processes} is larger than domain {name} ({len(images)} {data.split} images); lower it"
                )
        self.data, self.batch_size, self.seed, self.device = data, batch_size, seed, device
        self.num_workers, self.rank, self.world_size = num_workers, rank, world_size
        self.draws = _Draws(data.images_a, data.images_b, crop=data.image_size, flip=data.flip, seed=seed)
        self.consumed = consumed
        self._iter: Iterator | None = None

    def _start(self) -> Iterator:
        a, b = self.data.images_a, self.data.images_b
        keys = _draw_keys(
            len(a),
            len(b),
            self.batch_size * self.world_size,
            (self.seed, self.seed + SECOND_SIDE_SEED),
            self.consumed,
            self.rank,
            self.batch_size,
        )
        loader = DataLoader(
            self.draws,
            batch_sampler=keys,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=4 if self.num_workers > 0 else None,
        )
        return iter(loader)

    def __iter__(self) -> "UnpairedStream":
        return self

    def __next__(self) -> Batch:
        if self._iter is None:
            self._iter = self._start()
        try:
            a, b = next(self._iter)  # uint8 (B, C, S, S), (B, C_b, S, S)
        except GantrainError as e:  # raised in a loader worker: PyTorch prepends the worker's traceback
            raise type(e)(_last_line(str(e))) from None
        self.consumed += 1
        x = to_unit_range(a.to(self.device, non_blocking=True))
        x_b = to_unit_range(b.to(self.device, non_blocking=True))
        return Batch(x, x_b=x_b)

    def close(self) -> None:
        """Stop loader workers now rather than when the stream is garbage-collected."""
        self._iter = None

    def state_dict(self) -> dict[str, int]:
        return {"consumed": self.consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.consumed = int(state["consumed"])
        self._iter = None


# ---------------------------------------------------------------------------------------------------
# The Hydra target: a folder in the paper's layout, or the built-in digits task


def unpaired(
    root: str | None = None,
    *,
    split: str = "train",
    direction: str = "AtoB",
    image_size: int = 256,
    load_size: int | None = 286,
    flip: bool = True,
    channels: int = 3,
    extensions: Sequence[str] = EXTENSIONS,
) -> UnpairedImages:
    """`data=unpaired`: root/<split>A/ and root/<split>B/ (CycleGAN's layout), with the paper's jitter by default."""
    if root in (None, ""):
        raise ConfigError(
            f"data=unpaired reads {LAYOUT}: set data.root=FOLDER (with no data set at hand, `gantrain model=cyclegan` "
            "trains on the built-in digits, data=mnist_uci)"
        )
    return _unpaired(
        root,
        split=split,
        direction=direction,
        image_size=image_size,
        load_size=load_size,
        flip=flip,
        channels=channels,
        extensions=extensions,
    )


def mnist_uci(
    root: str | None = None,
    *,
    split: str = "train",
    direction: str = "AtoB",
    image_size: int = 32,
    load_size: int | None = 32,
    flip: bool = False,
    channels: int = 1,
) -> UnpairedImages:
    """`data=mnist_uci`: the built-in offline task, MNIST digits (A) <-> the UCI digits (B), grey 32x32; A is the
    bundled MNIST subset, or the full MNIST from `root` (its IDX files, as data=mnist reads them)."""
    return _unpaired(
        None,
        split=split,
        direction=direction,
        image_size=image_size,
        load_size=load_size,
        flip=flip,
        channels=channels,
        mnist_root=root,
        pair="mnist_uci",
    )


def mnist_mnistm(
    root: str | None = None,
    *,
    split: str = "train",
    direction: str = "AtoB",
    image_size: int = 32,
    load_size: int | None = 32,
    flip: bool = False,
    channels: int = 3,
) -> UnpairedImages:
    """`data=mnist_mnistm`: the second built-in offline task, MNIST digits (A) <-> MNIST-M-like colour digits (B),
    32x32 RGB; the two sides hold disjoint halves of the MNIST digits (the bundled subset, or the full MNIST
    from `root`), so no image of A has its twin in B."""
    return _unpaired(
        None,
        split=split,
        direction=direction,
        image_size=image_size,
        load_size=load_size,
        flip=flip,
        channels=channels,
        mnist_root=root,
        pair="mnist_mnistm",
    )


def _unpaired(
    root: str | None,
    *,
    split: str,
    direction: str,
    image_size: int,
    load_size: int | None,
    flip: bool,
    channels: int,
    extensions: Sequence[str] = EXTENSIONS,
    mnist_root: str | None = None,
    pair: str = "mnist_uci",
) -> UnpairedImages:
    """The unpaired data of `split`: root/<split>A/ and root/<split>B/, or (root None) the built-in
    task `pair` (BUILTIN). Training images are held at load_size and cropped to image_size at random
    (load_size None: image_size, no crop); held-out ones are resized to image_size."""
    check_shape(image_size, channels)
    if direction not in DIRECTIONS:
        raise ConfigError(f"data.direction must be AtoB or BtoA (got {direction!r})")
    if split not in SPLITS:
        raise ConfigError(f"data.split must be train or test (got {split!r})")
    load = image_size if load_size is None else load_size
    if isinstance(load, bool) or not isinstance(load, int):
        raise ConfigError(f"data.load_size must be an integer >= data.image_size={image_size} (got {load_size!r})")
    if load < image_size:
        raise ConfigError(
            f"data.load_size={load} is smaller than data.image_size={image_size}: images too small for the crop; "
            f"set data.load_size >= {image_size} (the paper: 286 for 256)"
        )
    train = split == "train"
    size = load if train else image_size  # held-out images: resized to image_size, no crop
    if root is None:
        (images_a, labels_a), (images_b, labels_b), origins, notice = _builtin_pair(pair, split, size, channels, mnist_root)
    else:
        if isinstance(extensions, str):  # data.extensions=.png
            extensions = (extensions,)
        suffixes = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        (images_a, images_b), notice = _folder_sides(Path(root).expanduser(), split, size, channels, suffixes)
        labels_a = labels_b = None
        origins = (str(images_a.folder), str(images_b.folder))
    names = ("A", "B")
    if direction == "BtoA":  # B is translated into A: B's images become x
        images_a, images_b, labels_a, labels_b = images_b, images_a, labels_b, labels_a
        names, origins = ("B", "A"), (origins[1], origins[0])
    return UnpairedImages(
        images_a,
        images_b,
        image_size=image_size,
        labels_a=labels_a,
        labels_b=labels_b,
        flip=bool(flip) and train,
        split=split,
        names=names,
        origin=f"{origins[0]} ({names[0]}) and {origins[1]} ({names[1]})",
        notice=notice,
    )


def _folder_sides(
    root: Path, split: str, size: int, channels: int, suffixes: tuple[str, ...]
) -> tuple[tuple[ImageFiles, ImageFiles], str | None]:
    """root/<split>A/ and root/<split>B/ as two ImageFiles at `size`, and a grey-to-RGB notice or None."""
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"data.root={root} {what}: pass the folder of an unpaired data set, laid out as {LAYOUT}")
    folders = (root / f"{split}A", root / f"{split}B")
    missing = [f"{folder.name}/" for folder in folders if not folder.is_dir()]
    if missing:
        raise DataError(f"data.root={root} has no {' and no '.join(missing)}: an unpaired data set is laid out as {LAYOUT}")
    sides, notices = [], []
    for domain, folder in zip("AB", folders):
        paths = image_files(folder, suffixes)
        if not paths:
            raise DataError(f"no images ({', '.join(suffixes)}) in {folder}: put domain {domain}'s images there, or set data.extensions")
        sides.append(ImageFiles(folder, paths, size=size, channels=channels))
        grey = _grey_notice(sorted(paths)[0], channels)
        if grey is not None:
            notices.append(f"domain {domain}: {grey}")
    return (sides[0], sides[1]), ("; ".join(notices) or None)


def _digits_mnist(split: str, size: int, channels: int, root: str | None = None) -> tuple[Tensor, Tensor]:
    """The MNIST digits of `split`, the bundled subset (4,000 train / 1,000 test) or, from `root`, the full
    60,000 / 10,000: uint8 (N, channels, size, size), labels int64."""
    from gantrain.data.mnist import MNIST, load_bundled

    if root is None:
        digits, labels = load_bundled(split)  # uint8 (N, 28, 28)
    else:
        full = MNIST(root, split=split)
        digits, labels = full.images[:, 0].numpy(), full.labels.numpy()
    pad = (MNIST_SIDE - digits.shape[-1]) // 2
    images = torch.from_numpy(np.pad(digits, ((0, 0), (pad, pad), (pad, pad)))).unsqueeze(1)  # (N, 1, 32, 32)
    images = fit_channels(resize_square(images, size), channels)
    return images, torch.from_numpy(labels.astype(np.int64))


def uci_split(targets: np.ndarray) -> np.ndarray:
    """Indices of the held-out UCI digits: a fixed UCI_HOLDOUT share of each class, drawn with
    UCI_SPLIT_SEED, sorted."""
    rng = np.random.default_rng(UCI_SPLIT_SEED)
    held_out = []
    for c in np.unique(targets):
        members = np.flatnonzero(targets == c)
        held_out.append(rng.permutation(members)[: round(UCI_HOLDOUT * len(members))])
    return np.sort(np.concatenate(held_out))


def _digits_uci(split: str, size: int, channels: int) -> tuple[Tensor, Tensor]:
    """scikit-learn's copy of the UCI handwritten digits (Alpaydin & Kaynak, 1,797 8x8 scans, each pixel
    the count 0..16 of ink in a 4x4 block of the 32x32 bitmap) of `split`: uint8 (N, channels, size, size)
    scaled to 0..255, upsampled (antialiased bilinear) to a 20x20 box and centred in a 32x32 frame, as MNIST
    frames its digits (LeCun et al.: each digit in a 20x20 box of the 28x28 image, padded here to 32), so
    that the two domains differ in style, not in scale; then resized to `size`. Labels int64."""
    from sklearn.datasets import load_digits  # imported when needed: scikit-learn takes a second to load

    digits = load_digits()
    counts, targets = digits.images, digits.target  # float (1797, 8, 8) in 0..16, int (1797,)
    held_out = np.zeros(len(targets), dtype=bool)
    held_out[uci_split(targets)] = True
    keep = held_out if split == "test" else ~held_out
    pixels = np.rint(counts[keep] * (255.0 / 16.0)).astype(np.uint8)  # ink high, as in MNIST
    boxed = resize_square(torch.from_numpy(pixels).unsqueeze(1), UCI_BOX)  # (N, 1, 20, 20)
    pad = (MNIST_SIDE - UCI_BOX) // 2
    framed = torch.nn.functional.pad(boxed, (pad, pad, pad, pad))  # (N, 1, 32, 32), the digit centred
    images = fit_channels(resize_square(framed, size), channels)
    return images, torch.from_numpy(targets[keep].astype(np.int64))


def _builtin_pair(
    pair: str, split: str, size: int, channels: int, mnist_root: str | None
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], tuple[str, str], str]:
    """The two labelled sides of a built-in task, each uint8 (N, channels, size, size) with labels int64,
    where each side's images come from, and the line that says what the task is."""
    mnist = "the bundled MNIST digits" if mnist_root is None else f"MNIST from {mnist_root}"
    of = "bundled with gantrain" if mnist_root is None else "of " + str(mnist_root)
    if pair == "mnist_uci":
        a, b = _digits_mnist(split, size, channels, mnist_root), _digits_uci(split, size, channels)
        notice = (
            f"data=mnist_uci: the built-in unpaired task, A = the MNIST digits {of} ({len(a[0]):,} {split}), B = the UCI "
            f"handwritten digits scikit-learn ships ({len(b[0]):,} {split}, 8x8 scans upsampled); data=unpaired data.root=FOLDER "
            "(trainA/, trainB/) trains on your own domains"
        )
        return a, b, (mnist, "scikit-learn's UCI digits"), notice
    if pair == "mnist_mnistm":
        digits, labels = _digits_mnist(split, size, 1, mnist_root)  # (N, 1, S, S) grey
        # disjoint halves, alternating so that each keeps the classes' shares: no digit on both sides
        a = (fit_channels(digits[0::2], channels), labels[0::2])
        b = (fit_channels(mnist_m(digits[1::2], seed=TEXTURE_SEEDS[split]), channels), labels[1::2])
        notice = (
            f"data=mnist_mnistm: the built-in unpaired task, A = half of the MNIST digits {of} ({len(a[0]):,} {split}), B = the "
            f"other half drawn over procedural colour textures as MNIST-M is made ({len(b[0]):,} {split}); data=unpaired "
            "data.root=FOLDER (trainA/, trainB/) trains on your own domains"
        )
        return a, b, (f"{mnist} (even images)", f"{mnist} (odd images) over procedural textures"), notice
    raise ValueError(f"no built-in pair {pair!r}: one of {', '.join(BUILTIN)}")


def textures(n: int, size: int, *, seed: int, chunk: int = 2048) -> Tensor:
    """n procedural colour backgrounds uint8 (n, 3, size, size), the same for the same (n, size, seed):
    fractal value noise (random knots on 2x2 to 16x16 grids, bicubic, each octave half the last's
    weight) per channel, plus a sinusoidal grating of random direction, frequency and phase, stretched
    between two random colours. They stand in for MNIST-M's crops of BSDS500 photos, which gantrain
    cannot download."""
    g = torch.Generator().manual_seed(seed)
    out = []
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")  # (S, S) each
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        field = torch.zeros(m, 3, size, size)
        for octave, knots in enumerate((2, 4, 8, 16)):
            noise = torch.rand(m, 3, knots, knots, generator=g)
            field += 0.5**octave * torch.nn.functional.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)
        angle = torch.rand(m, generator=g) * np.pi
        frequency = 1 + 5 * torch.rand(m, generator=g)  # periods across the image
        phase = torch.rand(m, generator=g) * 2 * np.pi
        along = xx * angle.cos().view(m, 1, 1) + yy * angle.sin().view(m, 1, 1)  # (m, S, S)
        grating = torch.sin(np.pi * frequency.view(m, 1, 1) * along + phase.view(m, 1, 1))
        field += (0.5 * torch.rand(m, 3, 1, 1, generator=g)) * grating.unsqueeze(1)
        low = field.amin(dim=(2, 3), keepdim=True)
        high = field.amax(dim=(2, 3), keepdim=True)
        t = (field - low) / (high - low).clamp_min(1e-6)  # (m, 3, S, S) in [0, 1]
        dark, light = torch.rand(m, 3, 1, 1, generator=g), torch.rand(m, 3, 1, 1, generator=g)
        out.append((255 * (dark + (light - dark) * t)).round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out) if out else torch.zeros(0, 3, size, size, dtype=torch.uint8)


def mnist_m(digits: Tensor, *, seed: int) -> Tensor:
    """Grey digits uint8 (N, 1, S, S), ink high, -> MNIST-M-like uint8 (N, 3, S, S): each over its own
    procedural background, blended as Ganin & Lempitsky (2015) made MNIST-M, |background - digit| per
    channel, so the strokes show as the background's colours inverted."""
    background = textures(len(digits), digits.shape[-1], seed=seed).int()
    return (background - digits.int()).abs().to(torch.uint8)
