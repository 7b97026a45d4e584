"""The pictures a run draws while it trains: a grid of G(fixed z), translation triplets, a PatchGAN's
verdict on each patch. Each is a function of the networks and fixed inputs, returning a (3, H, W)
image in [0, 1]; the objective chooses which to draw (Objective.pictures), the loop writes them."""

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from gantrain.core.pixels import to_unit_range, to_zero_one
from gantrain.core.priors import Latent, LatentPrior
from gantrain.models.base import generate
from gantrain.models.batch_norm import buffers_kept
from gantrain.models.inference import translate


def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


@torch.no_grad()
def sample_grid(G: nn.Module, latent: Latent, row: int) -> Tensor:
    """G(fixed z) as a grid of `row` images a row. Batch norm uses batch statistics, as in training,
    but its running averages are left untouched so that drawing does not change the model's state."""
    from torchvision.utils import make_grid  # imported when first needed: torchvision takes seconds to load

    with buffers_kept(G):
        images = generate(G, latent).float()
    return make_grid(images.cpu(), nrow=row, normalize=True, value_range=(-1, 1), pad_value=1.0)


def name_rows(grid: Tensor, names: list[str], padding: int = 2) -> Tensor:
    """A grid (C, H, W) in [0, 1] made by make_grid (`padding` pixels between images) with one name per row
    written in a white margin on its left: a conditional G's rows, one class each (a labelled folder's
    class names). Returns (3, H, margin + W)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()  # PIL's own font: nothing to find or download
    names = [_drawable(name[:NAME_CHARS] + ("…" if len(name) > NAME_CHARS else ""), font) for name in names]
    rows = len(names)
    height = (grid.shape[1] - padding) / rows  # each row's image plus its padding
    widths = [font.getbbox(name)[2] for name in names]
    margin = max(widths) + 6
    canvas = Image.new("RGB", (margin, grid.shape[1]), "white")
    draw = ImageDraw.Draw(canvas)
    for r, name in enumerate(names):
        top, bottom = font.getbbox(name)[1], font.getbbox(name)[3]
        y = padding + r * height + (height - padding - (bottom - top)) / 2 - top
        draw.text((margin - 3 - widths[r], y), name, fill="black", font=font)
    left = torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1).float() / 255
    return torch.cat([left, as_rgb(grid[None])[0]], dim=2)


NAME_CHARS = 24  # a longer class name is cut there, so that the margin stays narrower than the grid


def _drawable(name: str, font: Any) -> str:
    """`name`, or its ASCII form where the font cannot draw it (PIL's bitmap font, without FreeType, takes Latin-1 only)."""
    try:
        font.getbbox(name)
        return name
    except UnicodeError:
        return name.encode("ascii", "backslashreplace").decode("ascii")


def class_rows(grid: Tensor, latent: Latent, row: int, class_names: list[str] | None) -> Tensor:
    """A grid of G(latent) in rows of `row`, each row's class named on its left when the latent is
    conditional and the run's data named its classes; else the grid as it is."""
    if latent.y is None or not class_names:
        return grid
    return name_rows(grid, [class_names[int(c)] for c in latent.y[::row].tolist()])


def as_rgb(images: Tensor) -> Tensor:
    """(N, 1 | 3, H, W) -> (N, 3, H, W): grey repeated, so grey and colour images share one grid."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


@torch.no_grad()
def translation_triplets(G: nn.Module, sources: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(G's outputs (N, C, S, S) in [0, 1], a grid of source | G(source) | target, one triplet per row)
    for uint8 sources and targets (N, C, S, S)."""
    from torchvision.utils import make_grid

    outputs = translate(G, sources, device=_device(G))  # (N, C, S, S) in [0, 1]
    triplets = torch.stack([as_rgb(sources.float() / 255), as_rgb(outputs), as_rgb(targets.float() / 255)], dim=1)
    return outputs, make_grid(triplets.flatten(0, 1), nrow=3, pad_value=1.0)


@torch.no_grad()
def patch_verdicts(D: nn.Module, sources: Tensor, outputs: Tensor) -> Tensor:
    """A Pix2Pix D's real/fake decision on each patch of G(source), one heat map per row: red = judged
    real, blue = judged fake. sources uint8 (N, C_s, S, S), outputs (N, C, S, S) in [0, 1]."""
    from torchvision.utils import make_grid

    device = _device(D)
    was_training = D.training
    D.eval()
    try:
        to_d = lambda t: t.to(device).float() * 2 - 1  # noqa: E731
        p_real = torch.sigmoid(D(to_d(sources.float() / 255), to_d(outputs)).float()).cpu()  # (N, M, M)
    finally:
        D.train(was_training)
    side = sources.shape[-1]
    p_real = torch.nn.functional.interpolate(p_real.unsqueeze(1), size=(side, side), mode="nearest")  # (N, 1, S, S)
    heat = torch.cat([p_real, torch.zeros_like(p_real), 1 - p_real], dim=1)
    return make_grid(heat, nrow=1, pad_value=1.0)


@torch.no_grad()
def cycle_rows(G_ab: nn.Module, G_ba: nn.Module, a: Tensor, b: Tensor) -> Tensor:
    """CycleGAN's picture: a row a | G_ab(a) | G_ba(G_ab(a)) for each uint8 image of domain A (N, C, S, S),
    then b | G_ba(b) | G_ab(G_ba(b)) for each of B."""
    from torchvision.utils import make_grid

    def there_and_back(there: nn.Module, back: nn.Module, x: Tensor) -> Tensor:
        device = _device(there)
        with buffers_kept(there), buffers_kept(back):
            source = to_unit_range(x.to(device))
            translated = there(source).float()
            cycled = back(translated).float()
        to_unit = lambda t: to_zero_one(t).cpu()  # noqa: E731
        return torch.stack([as_rgb(x.float() / 255), as_rgb(to_unit(translated)), as_rgb(to_unit(cycled))], dim=1)  # (N, 3, 3, S, S)

    rows = torch.cat([there_and_back(G_ab, G_ba, a), there_and_back(G_ba, G_ab, b)])
    return make_grid(rows.flatten(0, 1), nrow=3, pad_value=1.0)


class GridInputs(NamedTuple):
    """What a grid of G(fixed z) is drawn from: the latent, the images a row, and the names of the classes
    of a conditional G's rows (None: rows unnamed)."""

    latent: Latent
    row: int
    class_names: list[str] | None = None


def fixed_latent(prior: LatentPrior | None, n: int, seed: int, device: torch.device) -> GridInputs | None:
    """The fixed z of a run's sample grids (the same at every step, drawn with seed + 2) and the grid's
    row length; None for a run without a prior."""
    if prior is None:
        return None
    return GridInputs(*prior.grid(n, device=device, generator=torch.Generator().manual_seed(seed + 2)))
