"""Paired images for image-to-image translation (Pix2Pix, Isola et al. 2017).

An item is (source, target): two uint8 tensors (C, S, S) of the same scene, the source the translator's
input and the target what it should output. Two data sets:

  * PairedFolder (`data=paired`): the datasets of the paper as distributed (facades, maps, cityscapes,
    edges2shoes): root/<split>/ holds "aligned" images, A on the left half and B on the right; or the
    two-folder form root/<split>/A/ and root/<split>/B/ with matching file names. data.direction=AtoB
    or BtoA picks which side is the source. Splits train / val / test stay apart.
  * Edges2X (`data=edges2x`): pairs made by edge detection (Canny), edges -> image, as the paper made
    edges2shoes and edges2handbags; from any folder of images, or, with no root, from the bundled MNIST
    subset (edges -> digit, 32x32): the built-in offline task.

Training pairs get the paper's jitter: both images resized to load_size, the same random
image_size crop of both, and the same random horizontal flip.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gantrain.core.errors import ConfigError, DataError, OutputError
from gantrain.core.files import write_with
from gantrain.core.folders import cache_dir
from gantrain.data.base import ImageDataset, Resized, at_size, open_image
from gantrain.data.folder import EXTENSIONS, image_files
from gantrain.data.transforms import DECODE_ERRORS, _to_mode, load_square

DIRECTIONS = ("AtoB", "BtoA")


class PairedDataset(ImageDataset):
    """Base of the paired data sets: item i is (source, target), uint8 (C, S, S) each."""

    paired = True
    source_channels: int

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        raise NotImplementedError


class InMemoryPairs(PairedDataset):
    """Pairs held as two uint8 tensors (N, C, S, S); batches are slices of them."""

    def __init__(self, sources: "Tensor | Resized", targets: "Tensor | Resized") -> None:
        if sources.shape[0] != targets.shape[0] or sources.shape[2:] != targets.shape[2:]:
            raise ValueError(f"sources {tuple(sources.shape)} and targets {tuple(targets.shape)} do not pair up")
        self.sources, self.images = sources, targets
        self.source_channels, self.channels, self.image_size = sources.shape[1], targets.shape[1], targets.shape[2]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.sources[index], self.images[index]

    def in_memory(self) -> "InMemoryPairs":
        return self


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ConfigError(f"data.direction must be AtoB or BtoA (got {direction!r})")


def _check_sizes(image_size: int, load_size: int | None) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 4:
        raise ConfigError(f"data.image_size must be an integer >= 4 (got {image_size!r})")
    load = image_size if load_size is None else load_size
    if isinstance(load, bool) or not isinstance(load, int) or load < image_size:
        raise ConfigError(f"data.load_size must be an integer >= data.image_size={image_size} (got {load_size!r})")
    return load


def jitter(
    source: Tensor, target: Tensor, load_size: int, crop: int, flip: bool, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """Resize both uint8 (C, H, W) images to load_size, cut the same random crop x crop square from both
    and flip both, or neither, left-right (Isola et al., section 6.2)."""
    both = torch.cat([source, target]).float().unsqueeze(0)  # (1, C_s + C_t, H, W): one resize for both
    if both.shape[-2:] != (load_size, load_size):
        both = F.interpolate(both, size=(load_size, load_size), mode="bicubic", antialias=True, align_corners=False)
    if load_size > crop:
        top, left = (int(v) for v in torch.randint(load_size - crop + 1, (2,), generator=generator))
        both = both[..., top : top + crop, left : left + crop]
    if flip and bool(torch.rand((), generator=generator) < 0.5):
        both = both.flip(-1)
    both = both.squeeze(0).round_().clamp_(0, 255).to(torch.uint8)
    return both[: source.shape[0]], both[source.shape[0] :]


def _read(path: Path, channels: int) -> Tensor:
    """An image file -> uint8 (channels, H, W) at its own size."""
    try:
        with open_image(path) as image:
            image = _to_mode(image, "RGB" if channels == 3 else "L")
            pixels = torch.from_numpy(np.array(image, dtype=np.uint8))
    except DECODE_ERRORS as e:
        raise DataError(f"cannot read image {path} ({e}); delete or replace the file") from e
    return pixels.unsqueeze(0) if pixels.dim() == 2 else pixels.permute(2, 0, 1).contiguous()


class PairedFolder(PairedDataset):
    """root/<split>/ of aligned A|B images, or root/<split>/A/ and root/<split>/B/ with matching names."""

    def __init__(
        self,
        root: str | None,
        *,
        split: str = "train",
        direction: str = "AtoB",
        image_size: int = 256,
        load_size: int | None = 286,
        flip: bool = True,
        channels: int = 3,
        source_channels: int | None = None,
        extensions: tuple[str, ...] | list[str] = EXTENSIONS,
    ) -> None:
        _check_direction(direction)
        if source_channels not in (None, channels):
            raise ConfigError(
                f"data=paired reads both images of a pair with data.channels={channels}; leave data.source_channels at ${{data.channels}}"
            )
        if channels not in (1, 3):
            raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB), got {channels!r}")
        self.load_size = _check_sizes(image_size, load_size)
        if root is None:
            raise ConfigError("data=paired needs data.root: the folder with train/ (and val/ or test/) of a Pix2Pix data set")
        self.root = Path(root).expanduser()
        folder = self.root / split
        if not folder.is_dir():
            if split != "train" and not (self.root / "val").is_dir() and (self.root / "test").is_dir():
                folder = self.root / "test"  # no val/: held-out evaluation reads test/
            else:
                raise DataError(f"{folder} does not exist: data.root must hold the split folders train/ and val/ (or test/)")
        suffixes = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        self.folder, self.split = folder, split
        self.train = split == "train"
        self.flip = bool(flip) and self.train
        self.image_size, self.channels, self.source_channels, self.num_classes = image_size, channels, channels, None
        self.swap = direction == "BtoA"
        if (folder / "A").is_dir() and (folder / "B").is_dir():
            a_names = {os.path.relpath(p, folder / "A") for p in image_files(folder / "A", suffixes)}
            b_names = {os.path.relpath(p, folder / "B") for p in image_files(folder / "B", suffixes)}
            if a_names != b_names:
                odd = sorted(a_names ^ b_names)[:3]
                raise DataError(f"{folder}/A and {folder}/B must hold the same file names; unmatched: {', '.join(odd)}")
            self.pairs = [(folder / "A" / n, folder / "B" / n) for n in sorted(a_names)]
            self.aligned = False
        else:
            self.pairs = [(Path(p), Path(p)) for p in sorted(image_files(folder, suffixes))]
            self.aligned = True
        if not self.pairs:
            raise DataError(f"no images ({', '.join(suffixes)}) in {folder}: put aligned A|B images there, or A/ and B/ folders")

    def __len__(self) -> int:
        return len(self.pairs)

    def load_pair(self, index: int) -> tuple[Tensor, Tensor]:
        """(A, B) of pair `index` at their stored size."""
        a_path, b_path = self.pairs[index]
        if self.aligned:
            ab = _read(a_path, self.channels)
            width = ab.shape[2]
            if width % 2:
                raise DataError(
                    f"{a_path} is {width} pixels wide, an odd number: an aligned pair is A and B side by side, each half as wide"
                )
            a, b = ab[:, :, : width // 2], ab[:, :, width // 2 :]
        else:
            a, b = _read(a_path, self.channels), _read(b_path, self.channels)
        if a.shape != b.shape:
            raise DataError(
                f"pair {index} ({a_path.name}): A is {a.shape[2]}x{a.shape[1]} but B is {b.shape[2]}x{b.shape[1]}; "
                "the two images of a pair must have the same size"
            )
        return a, b

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        a, b = self.load_pair(index)
        source, target = (b, a) if self.swap else (a, b)
        if self.train:
            return jitter(source, target, self.load_size, self.image_size, self.flip, None)
        return jitter(source, target, self.image_size, self.image_size, False, None)  # evaluation: resized only

    def describe(self) -> str:
        form = "aligned A|B images" if self.aligned else "A/ and B/ folders"
        direction = "BtoA" if self.swap else "AtoB"
        return (
            f"PairedFolder: {len(self)} pairs ({form}, {direction}), "
            f"{self.channels}x{self.image_size}x{self.image_size}, from {self.folder}"
        )


def canny_edges(images: np.ndarray, sigma: float, *, cached: bool = False) -> np.ndarray:
    """uint8 grey (N, H, W) -> uint8 (N, H, W) with 255 on the Canny edges (scikit-image), 0 elsewhere.

    `cached`: kept in $GANTRAIN_CACHE/edges/ by a hash of the images, sigma and scikit-image's version, so
    that the next run loads them (the bundled digits' 5,000 maps take seconds, one image at a time); a cache
    that cannot be read or written is passed over, and the maps are made again."""
    path = _edges_cache_file(images, sigma) if cached else None
    if path is not None:
        try:
            kept = np.load(path, allow_pickle=False)
            if kept.shape == images.shape and kept.dtype == np.uint8:
                return kept
        except (OSError, ValueError, EOFError):  # none yet, or damaged: made again and replaced
            pass
    from skimage.feature import canny  # imported when first needed: scikit-image takes a second to load

    edges = np.stack([canny(image.astype(np.float64) / 255.0, sigma=sigma) for image in images]).astype(np.uint8) * 255
    if path is not None:
        try:
            write_with(path, "edge maps", lambda file: np.save(file, edges))
        except OutputError:  # an unwritable cache costs the next run the same seconds, nothing more
            pass
    return edges


def _edges_cache_file(images: np.ndarray, sigma: float) -> Path:
    from importlib.metadata import version

    h = hashlib.sha1(f"{images.shape} {images.dtype} sigma={float(sigma)!r} skimage={version('scikit-image')}".encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return cache_dir() / "edges" / f"canny-{h.hexdigest()[:16]}.npy"


def edge_map(image: Tensor, sigma: float) -> Tensor:
    """uint8 (C, H, W), grey or RGB -> its Canny edges, uint8 (1, H, W): the source of an edges2x pair."""
    grey = image if image.shape[0] == 1 else _luma(image)
    return torch.from_numpy(canny_edges(grey.numpy(), sigma))


def resize_square(image: Tensor, size: int) -> Tensor:
    """uint8 (C, H, W) -> uint8 (C, size, size), bicubic and antialiased, as held-out pairs are resized."""
    return jitter(image, image[:0], size, size, False, None)[0]


class Edges2X(PairedDataset):
    """edges -> image pairs made with a Canny detector: from a folder of images (root), or the bundled
    MNIST subset when root is null (edges -> digit, padded from 28 to 32 pixels)."""

    def __init__(
        self,
        root: str | None = None,
        *,
        split: str = "train",
        image_size: int = 32,
        channels: int = 1,
        sigma: float = 1.0,
        holdout: float = 0.1,
        flip: bool = False,
        source_channels: int = 1,
    ) -> None:
        if source_channels != 1:
            raise ConfigError(f"data=edges2x makes one-channel edge maps: data.source_channels must be 1 (got {source_channels!r})")
        if channels not in (1, 3):
            raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB), got {channels!r}")
        _check_sizes(image_size, None)
        if not float(sigma) > 0:
            raise ConfigError(f"data.sigma (the Canny detector's Gaussian) must be > 0 (got {sigma!r})")
        if not 0.0 < float(holdout) < 1.0:
            raise ConfigError(f"data.holdout must be a fraction in (0, 1) (got {holdout!r})")
        self.image_size, self.channels, self.source_channels, self.num_classes = image_size, channels, 1, None
        self.sigma, self.split = float(sigma), split
        self.flip = bool(flip) and split == "train"
        self.root = None if root is None else Path(root).expanduser()
        self.pairs: InMemoryPairs | None = None
        if self.root is None:
            self.pairs = self._bundled_digits(split)
            return
        if not self.root.is_dir():
            raise DataError(f"data.root={self.root} is not a folder: pass a folder of images to make edges from")
        paths = sorted(image_files(self.root, EXTENSIONS))
        every = max(2, round(1 / float(holdout)))  # every `every`-th image is held out for evaluation
        chosen = [p for i, p in enumerate(paths) if (i % every == every - 1) == (split != "train")]
        if not chosen:
            raise DataError(f"no images for the {split} split under {self.root} ({len(paths)} images found in all)")
        self._paths = chosen

    def _bundled_digits(self, split: str) -> InMemoryPairs:
        from gantrain.data.mnist import load_bundled

        digits, _ = load_bundled("train" if split == "train" else "test")
        digits = np.pad(digits, ((0, 0), (2, 2), (2, 2)))  # 28 -> 32: the U-Net halves 32 down to 1x1
        edges = canny_edges(digits, self.sigma, cached=True)
        targets, sources = torch.from_numpy(digits).unsqueeze(1), torch.from_numpy(edges).unsqueeze(1)
        if self.channels == 3:
            targets = targets.expand(-1, 3, -1, -1).contiguous()
        # kept at 32 x 32 and resized batch by batch: at data.image_size=256 the pairs would otherwise take
        # 64 times the memory, growing with the number of images
        return InMemoryPairs(at_size(sources, self.image_size), at_size(targets, self.image_size))

    def __len__(self) -> int:
        return len(self.pairs) if self.pairs is not None else len(self._paths)

    def in_memory(self) -> "InMemoryPairs | None":
        return self.pairs

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if self.pairs is not None:
            return self.pairs[index]
        path = self._paths[index]
        try:
            with open_image(path) as image:
                target = load_square(image, self.image_size, self.channels)  # (C, S, S)
        except DECODE_ERRORS as e:
            raise DataError(f"cannot read image {path} ({e}); delete or replace the file") from e
        source = edge_map(target, self.sigma)
        if self.flip and bool(torch.rand(()) < 0.5):
            source, target = source.flip(-1), target.flip(-1)
        return source, target

    def describe(self) -> str:
        where = "the bundled MNIST digits (edges -> digit)" if self.root is None else str(self.root)
        return (
            f"Edges2X: {len(self)} {self.split} pairs, Canny edges (sigma {self.sigma:g}) -> "
            f"{self.channels}x{self.image_size}x{self.image_size}, from {where}"
        )


def _luma(rgb: Tensor) -> Tensor:
    """uint8 (3, H, W) -> uint8 (1, H, W), ITU-R 601."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    return (rgb.float() * weights).sum(0, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
