"""gantrain: a config-driven trainer for the classic generative adversarial networks."""

__version__ = "0.1.0"
