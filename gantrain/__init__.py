"""gantrain: a config-driven trainer for the classic generative adversarial networks."""

__version__ = "0.1.0"

from gantrain import _moved

_moved.install()  # the old module paths (gantrain.fidelity, ...) still import, with a DeprecationWarning
