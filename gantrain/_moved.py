"""The module paths of gantrain before its layered packages (core/, models/, ..., app/), kept importable for
one release: a checkpoint's stored config names its classes by path (`_target_: gantrain.optim.adam`), and
scripts import `gantrain.fidelity`. Importing an old path loads the module at its new one, with a
DeprecationWarning; nothing lives at the old paths, so the package drawing stays as tests/test_layers.py
checks it."""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {  # old module -> new module
    "gantrain.errors": "gantrain.core.errors",
    "gantrain.console": "gantrain.core.console",
    "gantrain.files": "gantrain.core.files",
    "gantrain.priors": "gantrain.core.priors",
    "gantrain.objective": "gantrain.core.objective",
    "gantrain.batch_norm": "gantrain.models.batch_norm",
    "gantrain.gemm_conv": "gantrain.models.gemm_conv",
    "gantrain.inference": "gantrain.models.inference",
    "gantrain.pictures": "gantrain.models.pictures",
    "gantrain.image_pool": "gantrain.losses.image_pool",
    "gantrain.metrics": "gantrain.metrics.registry",
    "gantrain.fidelity": "gantrain.metrics.fidelity",
    "gantrain.swd": "gantrain.metrics.swd",
    "gantrain.evaluation": "gantrain.metrics.evaluation",
    "gantrain.cycle_metrics": "gantrain.metrics.cycle_metrics",
    "gantrain.representation": "gantrain.metrics.representation",
    "gantrain.training": "gantrain.training.loop",
    "gantrain.checkpoint": "gantrain.training.checkpoint",
    "gantrain.averaging": "gantrain.training.averaging",
    "gantrain.precision": "gantrain.training.precision",
    "gantrain.distributed": "gantrain.training.distributed",
    "gantrain.interrupts": "gantrain.training.interrupts",
    "gantrain.monitor": "gantrain.training.monitor",
    "gantrain.memory": "gantrain.training.memory",
    "gantrain.optim": "gantrain.training.optim",
    "gantrain.settings": "gantrain.training.settings",
    "gantrain.setup": "gantrain.training.setup",
    "gantrain.devices": "gantrain.training.devices",
    "gantrain.cli": "gantrain.app.cli",
    "gantrain.entry": "gantrain.app.entry",
    "gantrain.config": "gantrain.app.config",
    "gantrain.run": "gantrain.app.run",
    "gantrain.sweep_check": "gantrain.app.sweep_check",
    "gantrain.report": "gantrain.app.report",
    # the losses before the one adversarial game (gantrain/losses/adversarial.py)
    "gantrain.losses.minimax": "gantrain.losses.legacy",
    "gantrain.losses.non_saturating": "gantrain.losses.legacy",
    "gantrain.losses.criterion_gan": "gantrain.losses.legacy",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return importlib.import_module(self.new)

    def exec_module(self, module) -> None:  # type: ignore[no-untyped-def]
        pass


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        new = MOVED.get(fullname)
        if new is None:
            return None
        warnings.warn(f"{fullname} is now {new}", DeprecationWarning, stacklevel=3)
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
