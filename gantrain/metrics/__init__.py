"""How good a run is: the numbers an evaluation reports, registered by name (registry.py), the
evaluations during training (evaluation.py, cycle_metrics.py), the offline feature extractors and
sample metrics (fidelity.py, swd.py), and a discriminator read as a representation (representation.py).
Imports core/, models/ and data/."""

from gantrain.metrics.registry import METRICS, Metric, metric, register

__all__ = ["METRICS", "Metric", "metric", "register"]
