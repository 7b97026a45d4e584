"""A discriminator read as a representation of images (Radford et al. 2016, section 5.1): every
convolutional layer's activations max-pooled to a 4x4 grid, flattened and concatenated into one feature
vector per image; a linear classifier trained on a few labelled images on top of them (the linear probe,
gantrain task=probe); and guided backpropagation (Springenberg et al. 2015), which shows what in an image
drives one of D's filters (task=dfilters). Importable without the CLI."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.core.pixels import to_unit_range
from gantrain.models.base import Representation

POOL_GRID = 4  # each layer's activations max-pooled to POOL_GRID x POOL_GRID (the paper's 4 x 4)
PROBE_C = 1.0  # the linear classifier's inverse L2 weight, on standardised features (scikit-learn's default)
MAX_ITER = 300  # L-BFGS iterations at most


def pool_to_grid(activation: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C * g * g): max-pooled to a g x g grid (g = POOL_GRID); a map already no larger
    than the grid is kept as it is."""
    if activation.shape[-1] > POOL_GRID or activation.shape[-2] > POOL_GRID:
        activation = F.adaptive_max_pool2d(activation, POOL_GRID)
    return activation.flatten(1)


def over_batches(
    D: Representation, images: Tensor, summary: Callable[[list[Tensor]], Tensor], *, device: torch.device, batch_size: int = 250
) -> Tensor:
    """summary(D's layer activations) for uint8 images (N, C, H, W) a batch at a time, concatenated on the CPU
    as float32. D runs in eval mode (batch norm with its running statistics; no input noise), so an image's
    result does not depend on the others in its batch; its mode comes back as it was."""
    assert isinstance(D, nn.Module)
    was_training = D.training
    D.eval()
    chunks = []
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                x = to_unit_range(images[start : start + batch_size].to(device))  # (b, C, H, W) in [-1, 1]
                chunks.append(summary(D.layer_features(x)).float().cpu())
    finally:
        D.train(was_training)
    return torch.cat(chunks)


def pooled_features(D: Representation, images: Tensor, *, device: torch.device, batch_size: int = 250) -> Tensor:
    """uint8 images (N, C, H, W) -> their features (N, F) float32 on the CPU: D's layers, each pooled to the
    grid, concatenated (D in eval mode: see over_batches)."""
    return over_batches(D, images, lambda layers: torch.cat([pool_to_grid(a) for a in layers], dim=1), device=device, batch_size=batch_size)


def feature_size(D: Representation, image: Tensor, device: torch.device) -> int:
    """F, the length of one image's feature vector (image: uint8 (C, H, W))."""
    return pooled_features(D, image[None], device=device).shape[1]


def class_balanced(labels: Tensor, n: int, num_classes: int, seed: int) -> Tensor:
    """Indices of n labelled images, n // K of each class and one more of (n mod K) classes drawn with
    `seed`; each class's images drawn with `seed` too. Sorted."""
    if n < num_classes:
        raise ConfigError(f"labels={n} gives fewer than one image per class ({num_classes} classes): use labels >= {num_classes}")
    g = torch.Generator().manual_seed(seed)
    per_class, extra = divmod(n, num_classes)
    bonus = set(torch.randperm(num_classes, generator=g)[:extra].tolist())
    chosen = []
    for c in range(num_classes):
        members = (labels == c).nonzero().flatten()
        wanted = per_class + (c in bonus)
        if len(members) < wanted:
            raise ConfigError(
                f"labels={n} asks for {wanted} images of class {c}, which the training split has {len(members)} of: "
                "use fewer labels, or labels=all"
            )
        chosen.append(members[torch.randperm(len(members), generator=g)[:wanted]])
    return torch.cat(chosen).sort().values


def linear_probe_error(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, *, seed: int = 0) -> float:
    """The test error of a linear classifier trained on (train_x (n, F), train_y (n,)): scikit-learn's
    multinomial logistic regression (L2 penalty, C = PROBE_C, L-BFGS), each feature standardised on the
    training images. (The paper's L2-SVM, scikit-learn's LinearSVC, took 80 s for 4,000 images of 7,168
    features where this takes 2 s: it could not fit the 60,000 of labels=all.)"""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=PROBE_C, max_iter=MAX_ITER, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # separable few-label sets: the weights grow on, the error does not move
        model.fit(train_x.numpy(), train_y.numpy())
    return float(np.mean(model.predict(test_x.numpy()) != test_y.numpy()))


def leaky_relus(network: nn.Module) -> list[nn.Module]:
    return [m for m in network.modules() if isinstance(m, (nn.LeakyReLU, nn.ReLU))]


@contextmanager
def guided(network: nn.Module) -> Iterator[None]:
    """Guided backpropagation through `network` (Springenberg et al. 2015, section 3.4): at every (leaky)
    ReLU the gradient passes only where both the forward input and the gradient coming back are positive,
    so what reaches the input is what excites the unit, not what would inhibit it. A leaky ReLU's negative
    side is treated as a ReLU's (zero). The hook on each activation's output masks the gradient before the
    activation's own backward, which then multiplies the positive side by 1."""
    activations = leaky_relus(network)
    if not activations:
        raise ConfigError(f"{type(network).__name__} has no (leaky) ReLU modules for guided backpropagation to pass through")

    def mask(_module: nn.Module, _inputs: tuple, output: Tensor) -> None:
        if output.requires_grad:
            positive = output > 0  # forward: the unit was on (an activation's output > 0 exactly where its input is)
            output.register_hook(lambda grad: grad.clamp(min=0) * positive)

    handles = [m.register_forward_hook(mask) for m in activations]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def guided_gradients(D: Representation, images: Tensor, layer: int, channel: int) -> Tensor:
    """For each image x (float (B, C, H, W) in [-1, 1]): the guided gradient of filter `channel` of D's
    layer `layer` at its strongest position in x, with respect to x: (B, C, H, W). Each image is its own
    batch of one, so that no statistic across a batch (ProGAN's minibatch stddev) couples them."""
    assert isinstance(D, nn.Module)
    was_training = D.training
    D.eval()
    out = []
    try:
        with guided(D):
            for x in images:
                x = x[None].clone().requires_grad_(True)
                activation = D.layer_features(x)[layer][0, channel]  # (h, w)
                (grad,) = torch.autograd.grad(activation.max(), x)
                out.append(grad[0])
    finally:
        D.train(was_training)
    return torch.stack(out)
