"""Where a run lives: the run folder that `run=` or `train.resume=` names, and where a task on a run writes."""

import os
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """Where gantrain keeps what it can make again (the offline classifiers, the bundled digits' edge maps):
    $GANTRAIN_CACHE, or $XDG_CACHE_HOME/gantrain, or ~/.cache/gantrain."""
    if os.environ.get("GANTRAIN_CACHE"):
        return Path(os.environ["GANTRAIN_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "gantrain"


def run_folder(path: str | os.PathLike) -> Path:
    """The run folder that `run=` or `train.resume=` names: the folder itself, or the run of a checkpoint file
    (or of its checkpoints/ folder)."""
    path = Path(os.path.expanduser(str(path)))
    if path.is_file():
        return path.parent.parent if path.parent.name == "checkpoints" else path.parent
    if path.name == "checkpoints" and (path / "last.pt").is_file() and not (path / "checkpoints").is_dir():
        return path.parent
    return path


def resumes_in_place(path: str | os.PathLike) -> bool:
    """Whether `train.resume=PATH` continues the run inside its own folder: PATH names a run folder or its
    newest checkpoint (checkpoints/last.pt). Any other checkpoint (an older step_N.pt, best.pt, a .pt
    file outside a run) would rewind the run and overwrite what came after it: such a resume continues in
    a new folder instead, and the run it came from is left as it is."""
    path = Path(os.path.expanduser(str(path)))
    if path.is_dir():
        return True
    last = path.parent / "last.pt"
    if path.parent.name != "checkpoints" or not last.is_file():
        return False
    try:
        return path.samefile(last)
    except OSError:
        return False


def task_output(task: str, run: Any, input: Any, output: Any, checkpoint: str | None = None) -> Path:
    """Where a task on a trained run writes: `output`, or by default RUN/<task>/ (task=translate:
    RUN/translated/<name of the input folder>/, with _<checkpoint> after it for another checkpoint than
    last.pt: its files are named as the input's, so best's would overwrite last's; the other tasks name
    their files by the generator's step)."""
    if output not in (None, ""):
        return Path(os.path.expanduser(str(output)))
    if task == "translate":
        name = Path(os.path.expanduser(str(input))).resolve().name if input not in (None, "") else "images"
        if checkpoint is None:  # run= a checkpoint file: its name (best.pt -> best)
            path = Path(os.path.expanduser(str(run)))
            checkpoint = path.stem if path.suffix == ".pt" else "last"
        checkpoint = str(checkpoint).removesuffix(".pt")
        return run_folder(run) / "translated" / (name if checkpoint in ("last", "") else f"{name}_{checkpoint}")
    return run_folder(run) / task


def conf_dir() -> Path:
    """gantrain's own config folder: conf/ beside the package (a source checkout or editable install), or
    inside it (a wheel)."""
    package = Path(__file__).resolve().parent.parent  # gantrain/ (this file is gantrain/core/folders.py)
    for candidate in (package.parent / "conf", package / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise RuntimeError(f"gantrain's conf/ folder is missing beside {package}")
