"""The sliced Wasserstein distance between two image sets (Karras et al. 2018, "Progressive Growing of
GANs", section 5): a multi-scale statistical similarity that needs no pretrained network, so it works for
data sets without labels (folders, LSUN) where gantrain's classifier FID cannot.

Each image is split into a Laplacian pyramid, from its own resolution down to 16 x 16 (the coarsest level
is the Gaussian level itself). From every level, `per_image` 7 x 7 neighbourhoods are drawn at random
places; each neighbourhood (C x 7 x 7 values) is one descriptor. The descriptors of a level are normalised
per colour channel (their own mean and standard deviation, each set apart, as the paper's code does), and
the distance of the two sets of descriptors is the sliced Wasserstein distance: the mean, over random unit
directions, of the 1-D Wasserstein-1 distance of the two sets projected on each (sort both, compare in
order). Reported, as in the paper, times 10^3, per level (`eval/swd_32`, `eval/swd_16`, ...) and averaged
over the levels (`eval/swd`). Lower is better; a set against an independent draw of the same distribution
is near its floor (not 0: the descriptors and directions are random draws).

Where gantrain differs from the paper's code: descriptors and directions are drawn from seeded torch
generators (a rerun gives the same number), and the two sets must have equal numbers of descriptors,
so the larger set is subsampled to the smaller.
"""

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from gantrain.core.pixels import to_unit_range

NEIGHBOURHOOD = 7  # the side of each descriptor's patch
COARSEST = 16  # the pyramid stops at the first level of at most this size
DIRECTIONS = 512  # random projections (the paper's 4 repeats of 128)
SCALE = 1e3  # the paper reports SWD x 10^3
MAX_DESCRIPTORS = 1 << 15  # per level and set (the paper: 128 per image of 16,384 images); sorting them is SWD's cost
CHUNK = 256  # images turned into descriptors at a time

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16  # the 5-tap Gaussian of the paper's pyramid


def _blur(x: Tensor) -> Tensor:
    """The separable 5 x 5 Gaussian of each channel, reflecting at the borders. (N, C, H, W) -> same."""
    c = x.shape[1]
    k = _BINOMIAL.to(x)
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def levels(size: int) -> list[int]:
    """The pyramid's resolutions for images of side `size`: size, size/2, ... down to the first <= COARSEST."""
    if size < NEIGHBOURHOOD:
        raise ValueError(f"SWD needs images of at least {NEIGHBOURHOOD}x{NEIGHBOURHOOD} pixels (got {size})")
    out = [size]
    while out[-1] > COARSEST and out[-1] // 2 >= NEIGHBOURHOOD:
        out.append(out[-1] // 2)
    return out


def laplacian_pyramid(x: Tensor, n_levels: int) -> list[Tensor]:
    """float images (N, C, H, W) -> n_levels bands, finest first: each Gaussian level minus the next one
    upsampled to its size, and last the coarsest Gaussian level itself."""
    bands, current = [], x
    for _ in range(n_levels - 1):
        smaller = _blur(current)[:, :, ::2, ::2]
        up = F.interpolate(smaller, size=current.shape[-2:], mode="bilinear", align_corners=False)
        bands.append(current - up)
        current = smaller
    bands.append(current)
    return bands


def _patches(band: Tensor, per_image: int, generator: torch.Generator) -> Tensor:
    """per_image random 7 x 7 neighbourhoods of each image of band (N, C, H, W) -> (N * per_image, C, 49)."""
    n, c, h, w = band.shape
    k = NEIGHBOURHOOD
    ys = torch.randint(0, h - k + 1, (n, per_image), generator=generator)
    xs = torch.randint(0, w - k + 1, (n, per_image), generator=generator)
    offsets = torch.arange(k)
    rows = (ys[..., None] + offsets).view(n, per_image, k, 1).expand(n, per_image, k, k)  # (N, P, 7, 7)
    cols = (xs[..., None] + offsets).view(n, per_image, 1, k).expand(n, per_image, k, k)
    flat = (rows * w + cols).reshape(n, 1, -1).expand(n, c, -1).to(band.device)  # (N, C, P*49) indices into H*W
    picked = band.reshape(n, c, h * w).gather(2, flat)  # (N, C, P*49)
    return picked.view(n, c, per_image, k * k).permute(0, 2, 1, 3).reshape(n * per_image, c, k * k)


def descriptors(images: Tensor, *, per_image: int | None = None, seed: int = 0) -> list[Tensor]:
    """uint8 images (N, C, S, S) -> one tensor of normalised descriptors (M, C * 49) per pyramid level,
    finest first; M = N * per_image (by default as many per image as keep M <= MAX_DESCRIPTORS, at most
    128, the paper's)."""
    n, _, size, _ = images.shape
    per_image = per_image if per_image is not None else max(1, min(128, MAX_DESCRIPTORS // max(1, n)))
    n_levels = len(levels(size))
    generator = torch.Generator().manual_seed(seed)
    found: list[list[Tensor]] = [[] for _ in range(n_levels)]
    for chunk in _chunks(images):
        x = to_unit_range(chunk)  # [-1, 1]
        for level, band in enumerate(laplacian_pyramid(x, n_levels)):
            found[level].append(_patches(band, per_image, generator))
    out = []
    for parts in found:
        d = torch.cat(parts)  # (M, C, 49)
        d = (d - d.mean(dim=(0, 2), keepdim=True)) / d.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
        out.append(d.flatten(1))
    return out


def _chunks(images: Tensor) -> Iterator[Tensor]:
    for start in range(0, len(images), CHUNK):
        yield images[start : start + CHUNK]


def sliced_wasserstein(a: Tensor, b: Tensor, *, directions: int = DIRECTIONS, seed: int = 0) -> float:
    """The mean over `directions` random unit vectors of the Wasserstein-1 distance between the
    projections of descriptor sets a (M, D) and b (M', D); the larger set is subsampled to the smaller."""
    generator = torch.Generator().manual_seed(seed)
    m = min(len(a), len(b))
    if len(a) > m:
        a = a[torch.randperm(len(a), generator=generator)[:m]]
    if len(b) > m:
        b = b[torch.randperm(len(b), generator=generator)[:m]]
    total = 0.0
    for start in range(0, directions, 128):  # 128 directions at a time: (M, 128) projections
        dirs = torch.randn(a.shape[1], min(128, directions - start), generator=generator)
        dirs = (dirs / dirs.norm(dim=0, keepdim=True)).to(a)
        # (directions, M), each row sorted: rows are contiguous, which sorts several times faster than columns
        pa, pb = ((x @ dirs).t().contiguous().sort(dim=1).values for x in (a, b))
        total += float((pa - pb).abs().mean(dim=1).sum())
    return total / directions


def swd(real: "Tensor | list[Tensor]", fake: Tensor, *, seed: int = 0, per_image: int | None = None) -> dict[str, float]:
    """SWD x 10^3 of uint8 fakes (N, C, S, S) against the reals (uint8 images, or their descriptors from
    `descriptors`): {"eval/swd_<resolution>": per level, "eval/swd": their mean}. `per_image`: descriptors
    drawn from each image (as for `descriptors`)."""
    size = fake.shape[-1]
    real_d = real if isinstance(real, list) else descriptors(real, seed=seed, per_image=per_image)
    fake_d = descriptors(fake, seed=seed + 1, per_image=per_image)
    numbers = {
        f"eval/swd_{res}": SCALE * sliced_wasserstein(r, f, seed=seed + 2 + i)
        for i, (res, r, f) in enumerate(zip(levels(size), real_d, fake_d))
    }
    numbers["eval/swd"] = sum(numbers.values()) / len(numbers)
    return numbers
