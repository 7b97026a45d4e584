"""Checkpoints as plain data: state dicts, numbers, RNG states and the resolved config as a YAML string.

Written atomically (temporary file, flush, fsync, rename), so a kill mid-write leaves the previous
checkpoint intact; loaded with `torch.load(weights_only=True)`, so a checkpoint cannot run code.
"""

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from gantrain.errors import CheckpointError

FORMAT_VERSION = 1
LAST = "last.pt"


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` to `path` atomically; the format version is added."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format_version": FORMAT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def link_checkpoint(source: Path, path: Path) -> None:
    """Make `path` hold the same bytes as `source` (a hard link where possible), atomically."""
    tmp = path.with_name(f".{path.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # file systems without hard links
        import shutil

        shutil.copyfile(source, tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def find_checkpoint(resume: str | os.PathLike, key: str = "train.resume") -> Path:
    """`train.resume` (or `run`, the config key named by `key`) names a run folder (its
    checkpoints/last.pt is used) or a checkpoint file."""
    path = Path(os.path.expanduser(str(resume)))
    if path.is_dir():
        for candidate in (path / "checkpoints" / LAST, path / LAST):
            if candidate.is_file():
                return candidate
        raise CheckpointError(
            f"{key}={resume}: no checkpoint in that folder (looked for checkpoints/{LAST}); "
            "pass a run folder that saved a checkpoint, or a .pt file"
        )
    if path.is_file():
        return path
    raise CheckpointError(f"{key}={resume}: no such run folder or checkpoint file")


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a gantrain checkpoint safely, failing with one clear line on anything else."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as e:  # unpickling errors, truncated zip archives, foreign objects
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {path} cannot be loaded safely ({first[:160]})") from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise CheckpointError(f"{path} is not a gantrain checkpoint (no format_version)")
    if state["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {state['format_version']}, this gantrain reads format {FORMAT_VERSION}"
        )
    return state
