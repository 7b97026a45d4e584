"""The loss classes of runs stored before the one adversarial game (gantrain/losses/adversarial.py): a
run's .hydra/config.yaml names its loss by path, `_target_: gantrain.losses.non_saturating.NonSaturating`,
and gantrain/_moved.py points those old modules here. Each builds the AdversarialGAN it always was."""

from typing import Any

from gantrain.losses.adversarial import AdversarialGAN
from gantrain.losses.criteria import Criterion
from gantrain.losses.criteria import Minimax as _Minimax
from gantrain.losses.criteria import NonSaturating as _NonSaturating


def Minimax(**settings: Any) -> AdversarialGAN:  # noqa: N802 -- the stored configs' class name
    """loss=minimax as stored before: AdversarialGAN with the minimax criterion."""
    return AdversarialGAN(_Minimax(), **settings)


def NonSaturating(**settings: Any) -> AdversarialGAN:  # noqa: N802
    """loss=non_saturating as stored before."""
    return AdversarialGAN(_NonSaturating(), **settings)


def CriterionGAN(criterion: Criterion, **settings: Any) -> AdversarialGAN:  # noqa: N802
    """loss=hinge, lsgan, wgan_gp as stored before."""
    return AdversarialGAN(criterion, **settings)
