"""LeCam regularisation (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under Limited
Data"), `loss.lecam=lambda` on any adversarial loss: D's outputs on real images are kept from running away
from its usual output on generated ones, and the other way round,

    R_LC = E_x[ relu(D(x) - alpha_F)^2 ] + E_z[ relu(alpha_R - D(G(z)))^2 ]

alpha_R, alpha_F: exponential moving averages (decay 0.99, the authors') of D's mean output on the real
and on the generated batches, starting at the first step's means (the authors' zero-debiased average
starts there too, and weighs the first steps a little differently). The paper's eq. 3 squares the whole
distances; its authors' code squares only the part past the anchor, as here. D's loss adds lambda * R_LC.
"""

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

# the anchors' moving average: the authors' (their ema_decay)
DECAY = 0.99


class LeCam:
    """One discriminator's anchors alpha_R, alpha_F and the regulariser R_LC on its outputs."""

    def __init__(self, decay: float = DECAY) -> None:
        self.decay = decay
        self.alpha_real: Tensor | None = None  # 0-dim float32; None until the first D step
        self.alpha_fake: Tensor | None = None

    def __call__(self, real: Tensor, fake: Tensor) -> Tensor:
        """R_LC on D's outputs real (B, ...) and fake (B, ...) of one D step (logits or scores, a
        PatchGAN's grid of them too), after the anchors have moved towards this step's means."""
        real, fake = real.float(), fake.float()
        mean_real, mean_fake = real.detach().mean(), fake.detach().mean()
        if self.alpha_real is None or self.alpha_fake is None:  # the first step: the anchors start at its means
            self.alpha_real, self.alpha_fake = mean_real, mean_fake
        else:  # (on D's device, without a host sync; a resumed run's anchors follow its outputs there)
            self.alpha_real = torch.lerp(mean_real, self.alpha_real.to(mean_real.device), self.decay)
            self.alpha_fake = torch.lerp(mean_fake, self.alpha_fake.to(mean_fake.device), self.decay)
        return F.relu(real - self.alpha_fake).pow(2).mean() + F.relu(self.alpha_real - fake).pow(2).mean()

    def state_dict(self) -> dict[str, Any]:
        if self.alpha_real is None or self.alpha_fake is None:
            return {}
        return {"alpha_real": self.alpha_real.detach().cpu(), "alpha_fake": self.alpha_fake.detach().cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.alpha_real = torch.as_tensor(state["alpha_real"], dtype=torch.float32)
            self.alpha_fake = torch.as_tensor(state["alpha_fake"], dtype=torch.float32)
