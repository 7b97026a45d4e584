"""The lowest layer: what every other package shares and nothing here imports from above. A batch of data
(batch.py), what an objective is (objective.py: Objective, Phase, LossTerms), the latent prior (priors.py),
the pixel ranges (pixels.py), errors (errors.py), the console (console.py), files written whole
(files.py), run folders (folders.py) and the machine's free memory (resources.py). Free of heavy imports:
the command imports from here before it loads torch."""
