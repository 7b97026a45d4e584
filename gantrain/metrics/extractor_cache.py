"""Where the offline classifiers live once trained: $GANTRAIN_CACHE/extractors/, one file per data set
(by its fingerprint), recipe and VERSION; a damaged or outdated file is trained again, and the jobs of a
sweep started together train it once (a file lock)."""

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from gantrain.core.folders import cache_dir
from gantrain.metrics import classifier as versions  # VERSION read at each call (a test changes it)
from gantrain.metrics.classifier import DataClassifier, accuracy, train_classifier


def fingerprint(images: Tensor, labels: Tensor) -> str:
    """A short hash of a labelled training set: its size, shape and every 97th image and label."""
    h = hashlib.sha1(f"{tuple(images.shape)}".encode())
    h.update(images[::97].contiguous().numpy().tobytes())
    h.update(labels[::97].to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


@dataclass
class Extractor:
    classifier: DataClassifier
    path: Path  # its cache file
    test_accuracy: float  # on the held-out images it was checked on
    trained_now: bool  # False: loaded from the cache
    robust: bool = False  # trained on deformed images (train_classifier(augment=True))


def data_classifier(
    name: str, train: tuple[Tensor, Tensor], held_out: tuple[Tensor, Tensor], num_classes: int, *, robust: bool = False
) -> Extractor:
    """The cached extractor of a labelled data set, trained on `train` (uint8 images, labels) the first
    time and checked on `held_out`; a cache file of another VERSION or a damaged one is replaced.
    `robust`: the robust recipe (train_classifier(augment=True), ROBUST_VERSION), cached apart."""
    images, labels = train
    recipe = f"robust-classifier-v{versions.ROBUST_VERSION}" if robust else f"classifier-v{versions.VERSION}"
    path = cache_dir() / "extractors" / f"{name}-{recipe}-{fingerprint(images, labels)}.pt"
    cached = _load_cached(path, robust)
    if cached is not None:
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    # the jobs of a sweep started together: one trains the classifier, the others wait for it and load it
    with _exclusive(path.with_suffix(".lock")):
        cached = _load_cached(path, robust)
        if cached is not None:
            return cached
        return _train_and_cache(path, images, labels, held_out, num_classes, robust)


def _load_cached(path: Path, robust: bool = False) -> "Extractor | None":
    """The extractor in `path`; None when there is none, or one of another VERSION, or a damaged one."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("version") != (versions.ROBUST_VERSION if robust else versions.VERSION) or bool(state.get("robust", False)) != robust:
            return None
        model = DataClassifier(**state["shape"])
        model.load_state_dict(state["weights"])
        return Extractor(model.eval().requires_grad_(False), path, float(state["test_accuracy"]), False, robust)
    except Exception:  # noqa: BLE001 -- a damaged cache file: train again and overwrite it
        return None


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """An advisory lock on `lock` for as long as the block runs (none where the file system has no locks)."""
    import fcntl

    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError:  # a file system without locks (some network ones): at worst two processes train it
            pass
        yield  # the lock goes with the file's closing, also when the block raises


def _train_and_cache(
    path: Path, images: Tensor, labels: Tensor, held_out: tuple[Tensor, Tensor], num_classes: int, robust: bool = False
) -> "Extractor":
    model = train_classifier(images, labels, num_classes, augment=robust)
    test_accuracy = accuracy(model, *held_out)
    shape = {"channels": images.shape[1], "image_size": images.shape[2], "num_classes": num_classes, "width": model.width}
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    state = {
        "version": versions.ROBUST_VERSION if robust else versions.VERSION,
        "robust": robust,
        "shape": shape,
        "weights": model.state_dict(),
        "test_accuracy": test_accuracy,
        "made": time.time(),
    }
    torch.save(state, partial)
    os.replace(partial, path)  # atomic: two processes training at once both leave a whole file
    return Extractor(model, path, test_accuracy, True, robust)
