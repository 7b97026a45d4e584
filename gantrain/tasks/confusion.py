"""task=confusion: what a classifier discriminator (model=sgan, model=catgan) gets wrong on held-out images."""

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from gantrain.core.errors import ConfigError
from gantrain.core.files import save_png, write_text, write_with
from gantrain.tasks.trained import load_run, read_rgb


@dataclass
class Mistake:
    true: int  # the held-out images' class
    output: int  # the class (or cluster) D gives them
    count: int
    indices: list[int]  # the first of them, as indices into the held-out split


@dataclass
class Confused:
    metric: str  # eval/test_error, or eval/cluster_error for a run without labels
    error: float  # that number, as the run's evaluations compute it
    counts: torch.Tensor  # (C, K): [c, k] held-out images of class c that D puts in output k
    assigned: list[int | None]  # the class each output k stands for (None: a cluster left unmatched)
    mistakes: list[Mistake]  # the commonest mistakes, most first
    labelled: int  # the labelled training images the run saw as a subset (0: none, or every image)
    files: list[Path]
    step: int
    which: str  # which D was scored, in words


MISTAKE_ROWS = 4  # the commonest mistakes drawn, one row each


def confusion(run: str | os.PathLike, output: str | os.PathLike, *, n: int = 16, device: torch.device = torch.device("cpu")) -> Confused:
    """What a classifier D (model=sgan, model=catgan) gets wrong on the held-out split: its confusion
    matrix as a picture, up to n held-out images of each of its commonest mistakes (one row each), and
    the labelled training images a semi-supervised run saw (one row per class). A style of digit that no
    labelled image shows can go, as a block, to another class; the two pictures side by side show it. D is scored as the
    run's evaluations scored it (the moving
    average of its weights under eval.ema, batch-norm statistics re-estimated on eval.bn_images), so
    the error is the run's eval/* number at the checkpoint's step."""
    import json

    from torchvision.utils import make_grid

    from gantrain.metrics.evaluation import classification_error, clustering_error, contingency_matrix, match_clusters
    from gantrain.models.base import is_classifier, is_conditional
    from gantrain.training.monitor import event_writer
    from gantrain.training.setup import build_data, test_error_evaluator

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, the held-out images drawn per mistake (got {n!r})")
    trained = load_run(run, device)
    live = trained.nets.get("discriminator")
    if live is None or not is_classifier(live) or is_conditional(live):  # a cGAN's D is told the class, it does not guess it
        raise ConfigError(
            f"task=confusion reads a classifier discriminator's classes (model=sgan, model=catgan); the run "
            f"{trained.checkpoint} has no such discriminator"
        )
    cfg = trained.config
    data = build_data(cfg.data, training=True)  # the training data as the run saw it (data.subset too), with its labelled subset
    cluster_match = str(cfg.eval.get("cluster_match", "one_to_one"))
    evaluate = test_error_evaluator(cfg, data, live, device, int(cfg.eval.get("bn_images", 0)), cluster_match)
    if evaluate is None:
        raise ConfigError(
            f"task=confusion needs a labelled test split, and the run's data ({cfg.data._target_.rsplit('.', 1)[-1]}) has none"
        )
    average = trained.averages.get("discriminator")
    D = average if average is not None else live
    which = f"the moving average of D's weights (eval.ema={cfg.eval.get('ema')})" if average is not None else "D"
    predictions, _ = evaluate.predict(D)
    labels, C, K = evaluate.labels, evaluate.num_classes, D.num_classes
    counts = contingency_matrix(predictions, labels, K, C).T.contiguous()  # (C, K)
    assigned: list[int | None]
    if not evaluate.clustering:
        error, assigned = classification_error(predictions, labels), list(range(K))
    else:
        error = clustering_error(predictions, labels, K, C, cluster_match)
        if cluster_match == "majority":
            assigned = counts.argmax(dim=0).tolist()  # each cluster's commonest class
        else:
            matched = match_clusters(predictions, labels, K, C)
            assigned = [matched.get(k) for k in range(K)]
    wrong = counts.clone()
    for k, c in enumerate(assigned):
        if c is not None:
            wrong[c, k] = 0  # what remains are mistakes
    cells = [(int(wrong[c, k]), c, k) for c in range(C) for k in range(K) if wrong[c, k] > 0]
    mistakes = [
        Mistake(c, k, m, ((labels == c) & (predictions == k)).nonzero().flatten()[:n].tolist())
        for m, c, k in sorted(cells, key=lambda t: (-t[0], t[1], t[2]))[:10]
    ]
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"step{trained.step}"
    files = [confusion_chart(counts, assigned, error, evaluate.name, out / f"confusion_{stem}.png")]
    images = evaluate.images  # uint8 (N, C, H, W)
    if mistakes:
        blank = torch.zeros_like(images[0])
        rows = [[images[i] for i in m.indices] + [blank] * (n - len(m.indices)) for m in mistakes[:MISTAKE_ROWS]]
        grid = make_grid(torch.stack([x for row in rows for x in row]).float() / 255, nrow=n, pad_value=0.5)  # (3, H, W)
        captions = [f"{m.true} as {m.output}: {m.count}" for m in mistakes[:MISTAKE_ROWS]]
        files.append(captioned_rows(grid, captions, out / f"mistakes_{stem}.png"))
    subset = getattr(data, "labelled", None)
    subset = subset if isinstance(subset, torch.Tensor) and len(subset) else None
    if subset is not None:
        by_class = [subset[data.labels[subset] == c][:20] for c in range(C)]  # at most 20 per class drawn
        width = max(len(row) for row in by_class)
        tiles: list[torch.Tensor] = []
        for row in by_class:
            tiles += [data.images[int(i)] for i in row] + [torch.zeros_like(data.images[0])] * (width - len(row))
        files.append(out / "labelled.png")
        save_png(files[-1], make_grid(torch.stack(tiles).float() / 255, nrow=width, pad_value=0.5), "picture")
    record = {
        "step": trained.step,
        "checkpoint": str(trained.checkpoint),
        "discriminator": which,
        evaluate.name: error,
        "counts": counts.tolist(),
        "assigned": assigned,
        "mistakes": [{"class": m.true, "output": m.output, "count": m.count, "test_indices": m.indices} for m in mistakes],
        "labelled_indices": subset.tolist() if subset is not None else None,
    }
    files.append(out / f"confusion_{stem}.json")
    write_text(files[-1], json.dumps(record) + "\n", "record")
    with event_writer(trained.run_dir / "tb") as writer:  # beside the run's curves, at the checkpoint's step
        for path in files:
            if path.suffix == ".png":
                writer.add_image(f"task/{path.stem.removesuffix('_' + stem)}", read_rgb(path), trained.step)
    return Confused(evaluate.name, error, counts, assigned, mistakes, 0 if subset is None else len(subset), files, trained.step, which)


CAPTION_WIDTH = 100  # pixels left of a picture's rows for their captions


def captioned_rows(grid: torch.Tensor, captions: list[str], path: Path) -> Path:
    """A grid (3, H, W) in [0, 1] of len(captions) equal rows, saved with each row's caption written to
    its left, so that the picture explains itself where it is seen alone (TensorBoard)."""
    import numpy as np
    from PIL import Image, ImageDraw

    pixels = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()  # (H, W, 3)
    height = pixels.shape[0]
    canvas = Image.new("RGB", (CAPTION_WIDTH + pixels.shape[1], height), "white")
    canvas.paste(Image.fromarray(np.ascontiguousarray(pixels)), (CAPTION_WIDTH, 0))
    draw = ImageDraw.Draw(canvas)
    row = height / len(captions)
    for i, caption in enumerate(captions):
        draw.text((4, i * row + row / 2), caption, fill="black", anchor="lm")
    write_with(path, "picture", lambda f: canvas.save(f, format="PNG"))
    return path


def confusion_chart(counts: torch.Tensor, assigned: list[int | None], error: float, metric: str, path: Path) -> Path:
    """The confusion matrix counts (C, K) as a picture: rows the true classes, columns D's outputs (in
    the order of the classes they stand for), each cell's count written in it and shaded by its share of
    the row on a log scale, so that a mistake of a few images still shows beside a diagonal of
    hundreds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    C, K = counts.shape
    order = sorted(range(K), key=lambda k: (C if assigned[k] is None else assigned[k], k))
    shown = counts[:, order].double()
    share = (shown / shown.sum(dim=1, keepdim=True).clamp_min(1)).numpy()
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * K, 1.0 + 0.45 * C))
    ax.imshow(share, cmap="Blues", norm=LogNorm(vmin=1e-3, vmax=1.0))
    for c in range(C):
        for j in range(K):
            if shown[c, j] > 0 and C * K <= 400:
                ax.text(j, c, str(int(shown[c, j])), ha="center", va="center", fontsize=7, color="white" if share[c, j] > 0.3 else "black")
    names = [str(k) if assigned[k] == k else f"{k}→{assigned[k] if assigned[k] is not None else '-'}" for k in order]
    ax.set_xticks(range(K), names, rotation=90 if K > 12 else 0, fontsize=8)
    ax.set_yticks(range(C), [str(c) for c in range(C)], fontsize=8)
    ax.set_xlabel("D's output" + ("" if all(assigned[k] == k for k in range(K)) else " → the class it stands for"))
    ax.set_ylabel("true class")
    ax.set_title(f"{metric} {100 * error:.2f}%", fontsize=9)
    fig.tight_layout()
    write_with(path, "chart", lambda f: fig.savefig(f, dpi=100, format="png"))
    plt.close(fig)
    return path
