"""Feature matching, Salimans et al., "Improved Techniques for Training GANs" (NeurIPS 2016), section 3.1:
G minimises || E_x f(x) - E_z f(G(z)) ||^2 for an intermediate layer f of D, instead of maximising D's
output. D trains as usual (with the supervised term when it is a classifier: their semi-supervised GAN)."""

import torch
from torch import Tensor, nn

from gantrain.augment.base import Augment
from gantrain.core.errors import ConfigError
from gantrain.core.priors import Latent
from gantrain.losses.adversarial import AdversarialGAN
from gantrain.losses.base import Batch
from gantrain.losses.criteria import Criterion
from gantrain.losses.functional import feature_matching_loss
from gantrain.models.base import generate, unwrap

REDUCTIONS = ("sum", "mean")  # over the layer's features: the paper's squared norm, or their code's mean


class FeatureMatching(AdversarialGAN):
    """`layer` names a module of D (as in D.named_modules()) whose output is matched.

    fresh_batch: G's real batch is drawn apart from the one D just trained on (G's phase draws its own),
    as in Salimans et al.'s code, which walks a second permutation of the data for G; by default
    G matches the batch of D's last step."""

    def __init__(
        self,
        layer: str = "features",
        unsupervised_weight: float = 1.0,
        reduction: str = "sum",
        fresh_batch: bool = False,
        r1_gamma: float = 0.0,
        r1_every: int = 16,
        criterion: Criterion | None = None,
        augment: Augment | None = None,
        lecam: float = 0.0,
    ) -> None:
        # D's side is the adversarial game's (criterion: the logistic one by default); G's is matched features
        super().__init__(
            criterion,
            unsupervised_weight,
            r1_gamma=r1_gamma,
            r1_every=r1_every,
            name="loss=feature_matching",
            augment=augment,
            lecam=lecam,
        )
        if reduction not in REDUCTIONS:
            raise ConfigError(f"loss.reduction must be one of {', '.join(REDUCTIONS)} (got {reduction!r})")
        if not isinstance(fresh_batch, bool):
            raise ConfigError(f"loss.fresh_batch must be true or false (got {fresh_batch!r})")
        self.layer, self.reduction, self.fresh_batch = layer, reduction, fresh_batch

    def check_pair(self, G: nn.Module, D: nn.Module, data: object) -> None:
        super().check_pair(G, D, data)
        names = [name for name, _ in D.named_modules() if name]
        if self.layer not in names:
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise ConfigError(f"loss.layer={self.layer!r} is not a layer of this discriminator; choose one of: {shown}")

    def _features(self, D: nn.Module, x: Tensor, y: Tensor | None, *, real: bool) -> Tensor:
        captured: list[Tensor] = []
        module = dict(unwrap(D).named_modules())[self.layer]
        handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            self.run_D(D, x, real=real, y=y)
        finally:
            handle.remove()
        return captured[0].float()  # float32 under mixed precision too: the loss is a difference of means

    def generator_loss(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> tuple[Tensor, dict[str, Tensor]]:
        with torch.no_grad():
            real = self._features(D, batch.x, batch.y, real=True)  # (B, ...): a target, no gradient
        fake = self._features(D, generate(G, latent), latent.y, real=False)
        return feature_matching_loss(real, fake, self.reduction), {}
