"""task=dfilters: what a trained discriminator's filters respond to (Radford et al. 2016, figure 5 in
small). For the most active filters of D's last convolutional layer, the real training images that excite
each most, and guided backpropagation (Springenberg et al. 2015) of the filter's strongest response to
each image: the pixels that drive it. The same for the same architecture with random weights, beside."""

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from gantrain.core.errors import ConfigError
from gantrain.core.pixels import to_unit_range
from gantrain.metrics.representation import guided_gradients, over_batches
from gantrain.models.base import Representation
from gantrain.tasks.confusion import captioned_rows
from gantrain.tasks.probe import random_twin, representations
from gantrain.tasks.trained import load_run, picture_to_tensorboard

SEARCHED = 2000  # real training images searched for each filter's strongest responses
SHOWN = 6  # images shown per filter


@dataclass
class Filters:
    files: list[Path]
    filters: dict[str, list[int]]  # picture name -> the filters shown (channels of the last layer), one per row
    step: int


def strongest(D: Representation, images: Tensor, device: torch.device, batch_size: int = 250) -> Tensor:
    """Each image's strongest response of each filter of D's last convolutional layer: (N, C_last)."""
    return over_batches(
        D, images, lambda layers: layers[-1].flatten(2).amax(dim=2), device=device, batch_size=batch_size
    )  # (b, C, h, w) -> (b, C)


def visible(gradient: Tensor) -> Tensor:
    """A guided gradient (C, H, W) as a picture in [0, 1]: centred on grey, scaled by its own largest
    magnitude, so each tile shows its pattern whatever its size."""
    scale = gradient.abs().max().clamp_min(1e-12)
    return (0.5 + 0.5 * gradient / scale).clamp(0, 1)


def filter_picture(D: Representation, images: Tensor, responses: Tensor, n: int, device: torch.device) -> tuple[Tensor, list[int]]:
    """One row per filter (the n with the largest mean strongest response), each row: the SHOWN images that
    excite the filter most, each followed by its guided gradient. (3, H', W') in [0, 1], and the filters."""
    from torchvision.utils import make_grid

    order = responses.mean(dim=0).argsort(descending=True)[:n].tolist()
    last = len(D.layer_features(to_unit_range(images[:1].to(device)))) - 1
    tiles = []
    for channel in order:
        top = responses[:, channel].argsort(descending=True)[:SHOWN]
        x = to_unit_range(images[top].to(device))
        grads = guided_gradients(D, x, last, channel).cpu()
        for image, grad in zip(images[top], grads):
            tiles += [image.float() / 255, visible(grad)]
    grid = make_grid(torch.stack(tiles), nrow=2 * SHOWN, pad_value=1.0)
    return grid, order


def dfilters(
    run: str | os.PathLike, output: str | os.PathLike, *, n: int = 8, seed: int = 0, device: torch.device = torch.device("cpu")
) -> Filters:
    """Pictures of what the last layer's n most active filters of every convolutional discriminator of
    `run` respond to, trained and with random weights: PNGs in `output` and the run's TensorBoard."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, the filters shown (got {n!r})")
    trained = load_run(run, device)
    found = representations(trained, "dfilters")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    files, shown = [], {}
    for name, side in found.items():
        images = _training_images(trained.config, side, SEARCHED, seed)
        D = trained.averages.get(name, trained.nets[name])
        for which, network in (("trained", D), ("random", random_twin(trained, name, seed))):
            responses = strongest(network, images, device)
            if n > responses.shape[1]:
                raise ConfigError(
                    f"n={n} filters asked for, and {name}'s last convolutional layer has {responses.shape[1]}: use n <= "
                    f"{responses.shape[1]}"
                )
            grid, order = filter_picture(network, images, responses, n, device)
            prefix = "dfilters" if len(found) == 1 else f"dfilters_{name}"
            path = out / f"{prefix}_{which}_step{trained.step}_n{n}_seed{seed}.png"
            captioned_rows(grid, [f"filter {c}" for c in order], path)
            picture_to_tensorboard(trained, f"task/{prefix}_{which}", path)
            files.append(path)
            shown[path.stem] = order
    return Filters(files, shown, trained.step)


def _training_images(cfg, side: str, n: int, seed: int) -> Tensor:
    """Up to n real training images (uint8 (n, C, H, W), drawn with seed, without jitter) of the kind the
    discriminator judges: the data set's images, domain A or B of an unpaired set, a paired set's targets."""
    from gantrain.data.paired import PairedDataset
    from gantrain.data.unpaired import UnpairedImages
    from gantrain.training.setup import build_data

    data = build_data(cfg.data)
    g = torch.Generator().manual_seed(seed)
    if isinstance(data, UnpairedImages) and side in ("A", "B"):
        count, view = (len(data.images_a), data.image_a) if side == "A" else (len(data.images_b), data.image_b)
        return torch.stack([view(int(i)) for i in torch.randperm(count, generator=g)[:n]])
    if isinstance(data, PairedDataset) and side == "B":
        return torch.stack([data[int(i)][1] for i in torch.randperm(len(data), generator=g)[:n]])
    if side == "images":
        from gantrain.data.base import sample_uint8

        return sample_uint8(data, n, seed)
    raise ConfigError(f"task=dfilters cannot read the images this discriminator judges (domain {side}) from the run's data")
