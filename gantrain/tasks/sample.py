"""task=sample: a grid of samples from a trained generator (and the images themselves as .npy)."""

import os
from collections.abc import Callable
from pathlib import Path

import torch

from gantrain.core.errors import ConfigError
from gantrain.core.files import save_png, write_with
from gantrain.models.inference import generate_images
from gantrain.models.pictures import class_rows
from gantrain.tasks.trained import GRID_MAX, Written, latent_prior, load_run, picture_to_tensorboard, psi_suffix, truncated

CHUNK = 1024  # images generated at a time beyond the grid (npy=true)


def sample(
    run: str | os.PathLike,
    output: str | os.PathLike,
    *,
    n: int = 64,
    seed: int = 0,
    npy: bool = False,
    device: torch.device = torch.device("cpu"),
    psi: float = 1.0,
) -> Written:
    """n images from a trained generator as one PNG grid (one row per class for a conditional G), and the
    images themselves as uint8 (n, C, H, W) in a .npy file when `npy`."""
    from torchvision.utils import make_grid

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, the number of images (got {n!r})")
    if n > GRID_MAX and not npy:
        raise ConfigError(
            f"n={n:,} images would not fit one grid (it shows at most {GRID_MAX:,}): lower n, or add npy=true to write "
            f"all of them to a .npy file (made in chunks; the grid then shows the first {GRID_MAX:,})"
        )
    trained = load_run(run, device)
    G = truncated(trained.G, psi)
    prior = latent_prior(trained)
    generator = torch.Generator().manual_seed(seed)
    latent, row = prior.grid(min(n, GRID_MAX), device=device, generator=generator)
    images = generate_images(G, latent)
    out = Path(output)
    if npy:
        _check_room(out, n * images[0].numel())
    out.mkdir(parents=True, exist_ok=True)
    total = n if n > GRID_MAX else len(images)  # (a conditional grid rounds n down to whole rows)
    grid = out / f"samples_step{trained.step}_n{total}_seed{seed}{psi_suffix(psi)}.png"
    save_png(grid, class_rows(make_grid(images.float() / 255, nrow=row, pad_value=1.0), latent, row, trained.class_names), "sample grid")
    files = [grid]
    if npy:
        files.append(grid.with_suffix(".npy"))
        if n <= GRID_MAX:
            import numpy as np

            write_with(files[-1], "images", lambda f: np.save(f, images.numpy()))
        else:  # the grid's images, then the rest in chunks straight into the file: memory flat in n
            _write_npy_in_chunks(files[-1], images, n, lambda k: generate_images(G, prior.sample(k, device=device, generator=generator)))
    picture_to_tensorboard(trained, "task/sample", grid)
    return Written(files, total, trained.step)


def _check_room(out: Path, size: int) -> None:
    """Refuse, before anything is written, a .npy of `size` bytes that the disk under `out` has no room for."""
    import shutil

    from gantrain.core.files import byte_size, display_path

    existing = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if size > free:
        raise ConfigError(
            f"npy=true: the images take {byte_size(size)}, but {display_path(out)} has {byte_size(free)} free: "
            "lower n, or write elsewhere with output=FOLDER on a larger disk"
        )


def _write_npy_in_chunks(path: Path, first: torch.Tensor, n: int, more: "Callable[[int], torch.Tensor]") -> None:
    """uint8 (n, C, H, W) into a .npy at `path`: `first`, then `more(k)` chunk by chunk, written to a
    temporary file that becomes `path` only when whole."""
    import numpy as np

    from gantrain.core.errors import OutputError
    from gantrain.core.files import display_path, reason

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, *first.shape[1:]))
        array[: len(first)] = first.numpy()
        done = len(first)
        while done < n:
            chunk = more(min(CHUNK, n - done)).numpy()
            array[done : done + len(chunk)] = chunk
            done += len(chunk)
        array.flush()
        del array
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write images {display_path(path)} ({reason(e)})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
