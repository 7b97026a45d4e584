"""task=sample: a grid of samples from a trained generator (and the images themselves as .npy)."""

import os
from pathlib import Path

import torch

from gantrain.errors import ConfigError
from gantrain.inference import generate_images
from gantrain.tasks.trained import Written, latent_prior, load_run, picture_to_tensorboard
from gantrain.files import save_png, write_with


def sample(
    run: str | os.PathLike, output: str | os.PathLike, *, n: int = 64, seed: int = 0, npy: bool = False, device: torch.device = torch.device("cpu")
) -> Written:
    """n images from a trained generator as one PNG grid (one row per class for a conditional G), and the
    images themselves as uint8 (n, C, H, W) in a .npy file when `npy`."""
    from torchvision.utils import make_grid

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, the number of images (got {n!r})")
    trained = load_run(run, device)
    prior = latent_prior(trained)
    latent, row = prior.grid(n, device=device, generator=torch.Generator().manual_seed(seed))
    images = generate_images(trained.G, latent)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    grid = out / f"samples_n{len(images)}_seed{seed}.png"
    save_png(grid, make_grid(images.float() / 255, nrow=row, pad_value=1.0), "sample grid")
    files = [grid]
    if npy:
        import numpy as np

        files.append(grid.with_suffix(".npy"))
        write_with(files[-1], "images", lambda f: np.save(f, images.numpy()))
    picture_to_tensorboard(trained, "task/sample", grid)
    return Written(files, len(images), trained.step)


