"""task=interpolate: walks in a trained generator's latent space (lerp, slerp) and latent traversals."""

import os
from pathlib import Path

import torch

from gantrain.core.errors import ConfigError
from gantrain.core.files import save_png
from gantrain.models.base import unwrap
from gantrain.models.inference import generate_images
from gantrain.models.stylegan2 import FromW, StyleGAN2Generator
from gantrain.tasks.trained import GRID_MAX, Written, latent_prior, load_run, picture_to_tensorboard, psi_suffix, truncated

INTERPOLATIONS = ("lerp", "slerp", "traverse")


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GAN latents) between rows of z0 and z1
    (B, D) at fractions t (T,) -> (B, T, D); falls back to lerp where the two are (anti)parallel."""
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=1).clamp(-1, 1)  # (B,)
    omega = torch.arccos(cos).unsqueeze(1)  # (B, 1)
    t = t.unsqueeze(0)  # (1, T)
    sin = torch.sin(omega)
    safe = sin.abs() > 1e-6
    w0 = torch.where(safe, torch.sin((1 - t) * omega) / sin.clamp_min(1e-12), 1 - t)  # (B, T)
    w1 = torch.where(safe, torch.sin(t * omega) / sin.clamp_min(1e-12), t.expand_as(w0))
    return w0.unsqueeze(2) * z0.unsqueeze(1) + w1.unsqueeze(2) * z1.unsqueeze(1)


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation between rows of z0 and z1 (B, D) at fractions t (T,) -> (B, T, D)."""
    t = t.view(1, -1, 1)
    return (1 - t) * z0.unsqueeze(1) + t * z1.unsqueeze(1)


def traversal(z: torch.Tensor, n: int, length: int, reach: float) -> torch.Tensor:
    """z (D,) copied into (n, length, D), coordinate i of row i swept evenly from -reach to reach."""
    walks = z.repeat(n, length, 1)  # (n, length, D)
    rows = torch.arange(n, device=z.device)
    walks[rows, :, rows] = torch.linspace(-reach, reach, length, device=z.device)  # (n, length) at [i, :, i]
    return walks


def interpolate(
    run: str | os.PathLike,
    output: str | os.PathLike,
    *,
    n: int = 8,
    length: int = 10,
    mode: str = "slerp",
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    psi: float = 1.0,
    space: str = "z",
) -> Written:
    """n walks in latent space, one per row, from one z to another in `length` images (the DCGAN paper's
    figure 4), by `mode` lerp or slerp; or, with mode=traverse, one z with coordinate i swept across the
    prior's range in row i (the beta-VAE paper's latent traversals). A conditional G keeps one class per row.
    space="w": a StyleGAN2's walks run straight (lerp) between the two z's w, after truncation by psi."""
    from torchvision.utils import make_grid

    from gantrain.core.priors import Latent

    if mode not in INTERPOLATIONS:
        raise ConfigError(f"mode must be lerp, slerp or traverse (got {mode!r})")
    if space not in ("z", "w"):
        raise ConfigError(f"space must be z (the prior's) or w (a StyleGAN2's intermediate latent) (got {space!r})")
    if space == "w" and mode != "lerp":
        raise ConfigError(f"space=w walks straight lines in W (the StyleGAN papers'): use mode=lerp (got mode={mode})")
    for name, value, least in (("n", n, 1), ("length", length, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"{name} must be an integer >= {least} (got {value!r})")
    if n * length > GRID_MAX:  # one picture: refused before the walks are computed, not after gigabytes of them
        raise ConfigError(
            f"n x length = {n:,} x {length:,} images would not fit one grid (it shows at most {GRID_MAX:,}): lower n or length"
        )
    trained = load_run(run, device)
    G = truncated(trained.G, psi)
    prior = latent_prior(trained)
    generator = torch.Generator().manual_seed(seed)
    if mode == "traverse":  # row i: coordinate i of one z swept across the prior's range, the others fixed
        if n > prior.dim:
            raise ConfigError(f"mode=traverse shows one latent coordinate per row: n must be <= model.z_dim={prior.dim} (got {n})")
        base = prior.sample(1, device=device, generator=generator)
        reach = 3.0 if prior.dist == "normal" else 1.0  # +-3 sd of N(0, 1), or the ends of U(-1, 1)
        z = traversal(base.z[0], n, length, reach).flatten(0, 1)
        y = None if base.y is None else base.y.repeat(n * length)
    else:
        start, end = prior.sample(n, device=device, generator=generator), prior.sample(n, device=device, generator=generator)
        t = torch.linspace(0, 1, length, device=device)
        z = (slerp if mode == "slerp" else lerp)(start.z, end.z, t).flatten(0, 1)  # (n * length, D): row by row
        y = None if start.y is None else start.y.repeat_interleave(length)
    if space == "w":  # each walk's two ends mapped to W (truncated by psi), the straight line between them drawn
        network = unwrap(trained.G)
        if not isinstance(network, StyleGAN2Generator):
            raise ConfigError(f"space=w walks a StyleGAN2's W, and this run's generator is {type(network).__name__}: leave space out")
        with torch.no_grad():
            ends = network.mapping(torch.cat([start.z, end.z]), None if start.y is None else torch.cat([start.y, end.y]), psi=psi)
        z, G = lerp(ends[:n], ends[n:], t).flatten(0, 1), FromW(network)  # (n * length, w_dim)
    images = generate_images(G, Latent(z, None if space == "w" else y))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{mode}{'_w' if space == 'w' else ''}_step{trained.step}_n{n}_seed{seed}{psi_suffix(psi)}.png"
    save_png(path, make_grid(images.float() / 255, nrow=length, pad_value=1.0), "interpolation grid")
    picture_to_tensorboard(trained, f"task/{mode}", path)
    return Written([path], len(images), trained.step)
