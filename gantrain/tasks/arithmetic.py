"""task=arithmetic: vector arithmetic on z (Radford et al. 2016), on task=sample's grid."""

import os
from pathlib import Path

import torch

from gantrain.core.errors import ConfigError
from gantrain.core.files import save_png
from gantrain.models.inference import generate_images
from gantrain.tasks.trained import Written, latent_prior, load_run, picture_to_tensorboard, psi_suffix, truncated


def parse_expression(expression: str, n: int) -> list[tuple[int, list[int]]]:
    """'3 7 12 - 1 4 5 + 9 10 11' -> [(+1, [3, 7, 12]), (-1, [1, 4, 5]), (+1, [9, 10, 11])]: groups of
    sample indices (into task=sample's grid of n, counted row by row from 0), each averaged, then added
    or subtracted."""
    how = f"expression={expression!r}: write groups of sample indices joined by + and -, e.g. 'expression=3 7 12 - 1 4 5 + 9 10 11'"
    terms: list[tuple[int, list[int]]] = []
    sign, group = 1, []
    for token in str(expression).replace("+", " + ").replace("-", " - ").split():
        if token in "+-":
            if not group:
                raise ConfigError(f"{how} (an operator with no indices before it)")
            terms.append((sign, group))
            sign, group = (1 if token == "+" else -1), []
        elif token.isdigit() and int(token) < n:
            group.append(int(token))
        else:
            raise ConfigError(f"{how} ({token!r} is not a sample index from 0 to {n - 1}; n={n} is the grid of task=sample)")
    if not group:
        raise ConfigError(f"{how} (it ends without indices)")
    terms.append((sign, group))
    return terms


def arithmetic(
    run: str | os.PathLike,
    output: str | os.PathLike,
    *,
    expression: str,
    n: int = 64,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    psi: float = 1.0,
) -> Written:
    """Vector arithmetic on z (Radford et al. 2016, section 6.3): each group of samples of `task=sample
    n=N seed=S` is averaged in z (single samples are unstable, the paper found), the averages are added
    and subtracted, and G draws the result. One row per group (its samples, then the image of their
    mean z in the last column); a last row with the result and seven variations of it (uniform noise of
    +-0.25 added to z, as the paper's figure 7)."""
    from torchvision.utils import make_grid

    from gantrain.core.priors import Latent

    if expression in (None, ""):
        raise ConfigError("task=arithmetic needs expression=..., groups of sample indices, e.g. 'expression=3 7 12 - 1 4 5 + 9 10 11'")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, the grid of task=sample the indices refer to (got {n!r})")
    terms = parse_expression(expression, n)
    trained = load_run(run, device)
    G = truncated(trained.G, psi)
    prior = latent_prior(trained)
    if prior.num_classes is not None:
        raise ConfigError("task=arithmetic works in the z space of an unconditional generator; this one also takes labels")
    grid, _ = prior.grid(n, device=device, generator=torch.Generator().manual_seed(seed))
    means = [grid.z[group].mean(0) for _, group in terms]  # (D,) each
    result = sum(sign * mean for (sign, _), mean in zip(terms, means))
    noise = (torch.rand(7, prior.dim, generator=torch.Generator().manual_seed(seed + 1)) * 0.5 - 0.25).to(device)
    width = max(8, max(len(group) for _, group in terms) + 1)
    z_rows = []
    for (_, group), mean in zip(terms, means):
        z_rows.append((grid.z[group], mean))
    images = generate_images(G, Latent(torch.cat([torch.stack([*zs, m]) for zs, m in z_rows] + [torch.stack([result, *(result + noise)])])))
    blank = torch.zeros_like(images[0])
    cells, at = [], 0
    for zs, _ in z_rows:  # a group's samples, blanks, then the image of their mean in the last column
        cells += [*images[at : at + len(zs)], *([blank] * (width - len(zs) - 1)), images[at + len(zs)]]
        at += len(zs) + 1
    cells += [*images[at : at + 8], *([blank] * (width - 8))]
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    name = "-".join(map(str, terms[0][1]))
    for sign, group in terms[1:]:
        name += ("_plus_" if sign > 0 else "_minus_") + "-".join(map(str, group))
    path = (
        out / f"arithmetic_step{trained.step}_n{n}_seed{seed}{psi_suffix(psi)}_{name}.png"
    )  # e.g. ..._3-7-12_minus_1-4-5_plus_9-10-11.png
    save_png(path, make_grid(torch.stack(cells).float() / 255, nrow=width, pad_value=1.0), "arithmetic grid")
    picture_to_tensorboard(trained, "task/arithmetic", path)
    return Written([path], len(images), trained.step)
