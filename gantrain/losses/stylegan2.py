"""StyleGAN2's objective (Karras et al. 2020, section 3 and appendix B): the non-saturating logistic game
with lazy R1 on D (gamma every r1_every D steps, weighted by r1_every: AdversarialGAN's) and lazy
path-length regularisation on G.

Path length: for w (B, num_ws, w_dim) and y ~ N(0, I) / sqrt(H W) an image-space direction,
a = |J_w^T y|_2 is how far the image moves per unit move in w; G descends E[(a - mean_a)^2], mean_a the
moving average (decay pl_decay) of a, on a batch of B / pl_batch_shrink images every pl_every-th G step,
weighted by pl_weight * pl_every (the same expected strength as every step). The authors run the lazy terms
as steps of their own with the same optimiser; here each is added to the main loss of the step it falls
on, as this repository's lazy R1 is: one optimiser step of the summed gradient in place of two.
"""

from typing import Any

import torch
from torch import Tensor, nn

from gantrain.core.errors import ConfigError
from gantrain.core.priors import Latent
from gantrain.losses.adversarial import AdversarialGAN
from gantrain.losses.base import Batch
from gantrain.losses.criteria import Criterion
from gantrain.models.base import unwrap
from gantrain.models.layers import non_negative
from gantrain.models.stylegan2 import StyleGAN2Generator


def path_lengths(G: StyleGAN2Generator, latent: Latent) -> Tensor:
    """a = |J_w^T y| (B,) for each image of G(z): y ~ N(0, I) / sqrt(H W) (the images' pixels, the
    authors' scaling, so that a does not grow with the resolution), J_w the Jacobian of the image in
    the image's styles w (summed over its layers' copies, as their gradient is)."""
    ws = G.ws(latent.z, latent.y)
    images = G.synthesis(ws)
    y = torch.randn_like(images) / (images.shape[2] * images.shape[3]) ** 0.5
    (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)  # (B, num_ws, w_dim)
    return grad.square().sum(dim=2).mean(dim=1).sqrt()


class StyleGAN2Loss(AdversarialGAN):
    """AdversarialGAN (non-saturating, lazy R1) plus lazy path-length regularisation of G (pl_weight 0: none)."""

    def __init__(
        self,
        criterion: Criterion | None = None,
        r1_gamma: float = 10.0,
        r1_every: int = 16,
        pl_weight: float = 2.0,
        pl_every: int = 4,
        pl_decay: float = 0.01,
        pl_batch_shrink: int = 2,
        **game: Any,
    ) -> None:
        super().__init__(criterion, r1_gamma=r1_gamma, r1_every=r1_every, name="model=stylegan2's loss", **game)
        self.pl_weight = non_negative("loss.pl_weight", pl_weight)
        for key, value in (("pl_every", pl_every), ("pl_batch_shrink", pl_batch_shrink)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"loss.{key} must be an integer >= 1 (got {value!r})")
        if isinstance(pl_decay, bool) or not isinstance(pl_decay, (int, float)) or not 0 < pl_decay <= 1:
            raise ConfigError(f"loss.pl_decay must be in (0, 1], the moving average's step (got {pl_decay!r})")
        self.pl_every, self.pl_decay, self.pl_batch_shrink = pl_every, float(pl_decay), pl_batch_shrink
        self.g_steps = 0  # G steps taken: the path-length schedule (kept in the checkpoint)
        self.pl_mean = torch.zeros([])  # the moving average of a (kept in the checkpoint)

    def check_pair(self, G: nn.Module, D: nn.Module, data: Any) -> None:
        super().check_pair(G, D, data)
        if self.pl_weight > 0 and not isinstance(unwrap(G), StyleGAN2Generator):
            raise ConfigError(
                "loss.pl_weight > 0 regularises a StyleGAN2 generator's path lengths: use model=stylegan2, or loss.pl_weight=0"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"g_steps": self.g_steps, "pl_mean": self.pl_mean.detach().cpu(), **super().state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.g_steps = int(state.pop("g_steps", 0))
        self.pl_mean = torch.as_tensor(state.pop("pl_mean", 0.0), dtype=torch.float32)
        super().load_state_dict(state)

    def generator_loss(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> tuple[Tensor, dict[str, Tensor]]:
        loss, logs = super().generator_loss(G, D, batch, latent)
        if self.pl_weight > 0 and self.g_steps % self.pl_every == 0:
            b = max(1, len(latent.z) // self.pl_batch_shrink)
            lengths = path_lengths(unwrap(G), Latent(latent.z[:b], None if latent.y is None else latent.y[:b]))
            self.pl_mean = self.pl_mean.to(lengths.device).lerp(lengths.detach().mean(), self.pl_decay)  # (no host sync)
            penalty = (lengths - self.pl_mean).square().mean()
            loss = loss + self.pl_weight * self.pl_every * penalty
            logs = {**logs, "loss/pl": penalty.detach(), "loss/pl_mean": self.pl_mean.detach()}
        self.g_steps += 1
        return loss, logs
