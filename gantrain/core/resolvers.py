"""The OmegaConf resolvers conf/ uses, registered on import: by the command, by training and by every task
that rebuilds a stored run's config (through gantrain/training/setup.py). Free of torch."""

from typing import Any

from omegaconf import OmegaConf


def if_unlabelled(labeled_per_class: Any, then: Any, otherwise: Any) -> Any:
    """`then` for a run without labels (data.labeled_per_class=0), else `otherwise`: conf/ uses it as
    ${gantrain_if_unlabelled:${data.labeled_per_class},A,B} where a default depends on whether labels exist."""
    return then if labeled_per_class is not None and not isinstance(labeled_per_class, bool) and labeled_per_class == 0 else otherwise


# registered on import: training and every task that rebuilds a stored run's config import this module
OmegaConf.register_new_resolver("gantrain_if_unlabelled", if_unlabelled, replace=True)
