"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"): every
batch D judges, real or generated, in both players' steps, goes through the same random, differentiable
transforms, so that D cannot memorise a small training set and G still gets its gradient through them.

The policies are the paper's: `color` (brightness, saturation and contrast, each drawn per image),
`translation` (an integer shift of up to 1/8 of each side, the uncovered pixels set to 0, the middle of
[-1, 1]) and `cutout` (a square of half the side set to 0 at a random place). They are written here with
tensor indexing rather than taken from kornia: kornia's translation resamples (bilinear, sub-pixel), and the
paper's is a whole-pixel shift with zero padding, which these few lines give exactly.
"""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from gantrain.augment.base import Augment
from gantrain.core.errors import ConfigError

# a draw: the batch (B, C, H, W) -> the function applying it to x or to a tensor paired with x (same B, H, W)
Draw = Callable[[Tensor], Callable[[Tensor], Tensor]]


def _color(x: Tensor) -> Callable[[Tensor], Tensor]:
    b = x.shape[0]
    brightness = torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5  # added: [-0.5, 0.5)
    saturation = torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) * 2  # the distance from grey, times [0, 2)
    contrast = torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5  # the distance from the mean, times [0.5, 1.5)

    def apply(t: Tensor) -> Tensor:
        t = t + brightness
        grey = t.mean(dim=1, keepdim=True)  # (B, 1, H, W): a grey image is its own grey, untouched by saturation
        t = (t - grey) * saturation + grey
        mean = t.mean(dim=(1, 2, 3), keepdim=True)
        return (t - mean) * contrast + mean

    return apply


def _translation(x: Tensor, ratio: float = 0.125) -> Callable[[Tensor], Tensor]:
    b, _, h, w = x.shape
    reach_y, reach_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-reach_y, reach_y + 1, (b, 1), device=x.device)  # whole pixels
    dx = torch.randint(-reach_x, reach_x + 1, (b, 1), device=x.device)
    # output pixel (i, j) reads input pixel (i + dy, j + dx) of the zero-padded image
    rows = (torch.arange(h, device=x.device) + dy + reach_y)[:, :, None]  # (B, H, 1) into the padded height
    cols = (torch.arange(w, device=x.device) + dx + reach_x)[:, None, :]  # (B, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None]

    def apply(t: Tensor) -> Tensor:
        padded = torch.nn.functional.pad(t, (reach_x, reach_x, reach_y, reach_y))
        return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)

    return apply


def _cutout(x: Tensor, ratio: float = 0.5) -> Callable[[Tensor], Tensor]:
    b, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # the square's centre anywhere in the image, so that it may hang over an edge (as the paper's code draws it)
    cy = torch.randint(0, h + (1 - size_y % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - size_x % 2), (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None] - (cy - size_y // 2)  # (B, H, 1): row within the square
    cols = torch.arange(w, device=x.device)[None, None, :] - (cx - size_x // 2)
    inside = (rows >= 0) & (rows < size_y) & (cols >= 0) & (cols < size_x)  # (B, H, W)
    keep = (~inside).unsqueeze(1)  # (B, 1, H, W)

    def apply(t: Tensor) -> Tensor:
        return t * keep.to(t.dtype)

    return apply


POLICIES: dict[str, Draw] = {"color": _color, "translation": _translation, "cutout": _cutout}


def policy_names(policy: str | Sequence[str], key: str = "augment.policy") -> list[str]:
    """'color,translation' or [color, translation] -> the names, each checked; order kept (it is the order applied)."""
    names = [p.strip() for p in policy.split(",")] if isinstance(policy, str) else [str(p).strip() for p in policy]
    names = [n for n in names if n]
    if not names:
        raise ConfigError(f"{key} names no transform: choose from {', '.join(POLICIES)}, e.g. {key}=color,translation,cutout")
    for name in names:
        if name not in POLICIES:
            raise ConfigError(
                f"{key}: there is no policy {name!r}; choose from {', '.join(POLICIES)} (e.g. {key}=color,translation,cutout)"
            )
    if len(set(names)) < len(names):
        raise ConfigError(f"{key} names a policy more than once ({','.join(names)}): name each once")
    return names


class DiffAugment(Augment):
    """augment=diffaugment: the policies in order, each drawn anew for every batch and every image in it."""

    def __init__(self, policy: str | Sequence[str] = "color,translation,cutout") -> None:
        self.policy = policy_names(policy)

    def __call__(self, x: Tensor, *paired: Tensor) -> tuple[Tensor, ...]:
        out = (x, *paired)
        for name in self.policy:
            apply = POLICIES[name](out[0])  # one draw per image, shared by x and the images paired with it
            out = tuple(apply(t) for t in out)
        return out
