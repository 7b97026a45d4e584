"""Training: the loop (loop.py) and what it needs: settings (settings.py), the objects built from a config
(setup.py), checkpoints (checkpoint.py), weight averages (averaging.py), precision and compilation
(precision.py), several processes (distributed.py), signals (interrupts.py), logging (monitor.py), the
memory check (memory.py), optimisers (optim.py) and devices (devices.py). Imports core/, models/, data/,
losses/ and metrics/.

interrupts.py is imported by the command before torch loads, so this file imports nothing: the loop's
names are reached lazily (`gantrain.training.Trainer`)."""

from typing import Any

_LOOP = ("BEST", "NonFiniteLoss", "TrainResult", "Trainer", "TrainingInterrupted")


def __getattr__(name: str) -> Any:
    if name in _LOOP:
        from gantrain.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'gantrain.training' has no attribute {name!r}")
