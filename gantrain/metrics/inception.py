"""The standard Inception-v3 of FID/IS papers (torch-fidelity's weights, torchmetrics' network) for
eval.extractor=inception, from a local weights file: nothing is downloaded at run time."""

import os
from pathlib import Path

from torch import nn

from gantrain.core.errors import ConfigError

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"


def inception_path(weights: str | None) -> str:
    if weights in (None, ""):
        raise ConfigError(
            f"eval.extractor=inception needs its weights file {INCEPTION_FILE} (no download at run time): fetch "
            f"{INCEPTION_URL} on a machine with network and pass eval.inception_weights=PATH"
        )
    path = Path(os.path.expanduser(str(weights)))
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(f"eval.inception_weights={weights} {what}: it must be the file {INCEPTION_FILE} ({INCEPTION_URL})")
    return str(path)


def inception_network(weights: str, features: str) -> nn.Module:
    """torchmetrics' FID Inception (the TF port) with the weights file at `weights`, returning `features`."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    try:
        return NoTrainInceptionV3(name="inception-v3-compat", features_list=[features], feature_extractor_weights_path=weights)
    except Exception as e:  # noqa: BLE001 -- pickle, zip, torch's and the state dict's errors alike: the file is not the weights
        raise ConfigError(
            f"eval.inception_weights={weights} is not the weights file {INCEPTION_FILE} ({type(e).__name__}: "
            f"{' '.join(str(e).split())[:120]}): "
            f"fetch it again from {INCEPTION_URL}"
        ) from None
