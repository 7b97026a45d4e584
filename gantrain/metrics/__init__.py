"""How good a run is: the numbers an evaluation reports, registered by name (registry.py), the
evaluations during training (evaluation.py, cycle_metrics.py), the sample metrics chosen by name
(sample_metrics.py, scored together by fidelity.py's Scorer; swd.py), what sees the images (classifier.py,
extractor_cache.py, inception.py), and a discriminator read as a representation (representation.py).
Imports core/, models/ and data/."""

from gantrain.metrics.registry import METRICS, Metric, metric, register

__all__ = ["METRICS", "Metric", "metric", "register"]
