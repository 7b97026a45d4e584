"""What the `gantrain` command does besides training (`task=...`), on a run it trained earlier; one file
per task, each a function of values, importable without Hydra. The CLI only dispatches to them.

    gantrain task=sample run=outputs/DATE/TIME n=64                      # a grid of samples (npy=true: the images too)
    gantrain task=interpolate run=outputs/DATE/TIME mode=slerp           # walks in latent space
    gantrain task=translate run=outputs/DATE/TIME input=~/edges          # a folder through a trained translator
"""

from gantrain.models.inference import generate_images
from gantrain.tasks.arithmetic import arithmetic, parse_expression
from gantrain.tasks.confusion import CAPTION_WIDTH, Confused, Mistake, captioned_rows, confusion, confusion_chart
from gantrain.tasks.dfilters import Filters, dfilters
from gantrain.tasks.evaluate import Evaluated, class_histogram_chart, evaluate_run
from gantrain.tasks.interpolate import INTERPOLATIONS, interpolate, lerp, slerp, traversal
from gantrain.tasks.nearest import _nearest_indices, nearest
from gantrain.tasks.probe import Probed, probe
from gantrain.tasks.sample import sample
from gantrain.tasks.trained import TrainedRun, Written, latent_prior, load_run
from gantrain.tasks.translate import INPUT_FORMS, Translated, _source_maker, translate_folder

__all__ = [
    "CAPTION_WIDTH",
    "Confused",
    "Filters",
    "Probed",
    "dfilters",
    "probe",
    "Evaluated",
    "INPUT_FORMS",
    "INTERPOLATIONS",
    "Mistake",
    "TrainedRun",
    "Translated",
    "Written",
    "_nearest_indices",
    "_source_maker",
    "arithmetic",
    "captioned_rows",
    "class_histogram_chart",
    "confusion",
    "confusion_chart",
    "evaluate_run",
    "generate_images",
    "interpolate",
    "latent_prior",
    "lerp",
    "load_run",
    "nearest",
    "parse_expression",
    "sample",
    "slerp",
    "translate_folder",
    "traversal",
]
