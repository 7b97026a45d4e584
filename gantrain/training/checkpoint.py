"""Checkpoints as plain data: state dicts, numbers, RNG states and the resolved config as a YAML string.
This module alone writes and reads the format.

Format 2 (`TrainingState`): the run's named networks, one optimiser (and loss scaler) per phase, the
objective's own state, the moving averages of weights, the data position, the RNG streams, the config.
Format 1 (gantrain before the training core v2: `generator`, `discriminator`, `opt_g`, `opt_d`,
`d_average`) is converted on load (`upgrade_v1`), so its runs resume and serve the tasks as before.

Written atomically (temporary file, flush, fsync, rename), so a kill mid-write leaves the previous
checkpoint intact; each carries a SHA-256 of its contents, checked on load, so a damaged file is named
as such (and `load_resumable` falls back to the one before it); loaded with
`torch.load(weights_only=True)`, so a checkpoint cannot run code.
"""

import errno
import hashlib
import os
import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gantrain.core.errors import CheckpointError, CheckpointWriteError, OutputError, RunBusy
from gantrain.core.files import display_path, fsync_dir, reason, resume_command, write_streamed
from gantrain.training import interrupts

try:
    import fcntl
except ImportError:  # Windows: runs are not locked there
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 2
LAST = "last.pt"
# what a run stores beside its training state: its config (YAML), its config groups' choices and, for data
# with named classes (a labelled folder), the class names, which a task reads without the data
METADATA = ("config", "choices", "class_names")


@dataclass
class TrainingState:
    """What a checkpoint holds (format 2); every field is plain data."""

    step: int  # generator steps (training steps) done
    networks: dict[str, dict[str, Any]]  # name -> state dict, for each of the run's networks
    optimizers: dict[str, dict[str, Any]]  # phase name -> its optimiser's state dict
    rng: dict[str, Any]  # the loop's torch stream, the z stream (and each rank's, under torchrun)
    data: dict[str, int]  # the batch stream's position
    scalers: dict[str, dict[str, Any]] = field(default_factory=dict)  # phase name -> float16 loss scaler
    objective: dict[str, Any] = field(default_factory=dict)  # the objective's own state (e.g. image pools)
    averages: dict[str, dict[str, Any]] = field(default_factory=dict)  # network -> moving average (eval.ema)
    best: dict[str, float] | None = None  # the evaluation kept as best.pt, where the run selects one
    metadata: dict[str, Any] = field(default_factory=dict)  # METADATA: "config" (YAML), "choices", "class_names"

    def to_checkpoint(self) -> dict[str, Any]:
        state = {
            "step": self.step,
            "networks": self.networks,
            "optimizers": self.optimizers,
            "rng": self.rng,
            "data": self.data,
            "scalers": self.scalers,
            "objective": self.objective,
            "averages": self.averages,
        }
        if self.best is not None:
            state["best"] = self.best
        return {**state, **self.metadata}

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> "TrainingState":
        """From a loaded checkpoint (format 2; load_checkpoint has converted format 1)."""
        return cls(
            step=int(state["step"]),
            networks=state["networks"],
            optimizers=state["optimizers"],
            rng=state["rng"],
            data=state["data"],
            scalers=state.get("scalers", {}),
            objective=state.get("objective", {}),
            averages=state.get("averages", {}),
            best=state.get("best"),
            metadata={k: state[k] for k in METADATA if k in state},
        )


def upgrade_v1(state: dict[str, Any]) -> dict[str, Any]:
    """A format-1 checkpoint in format 2. Format 1 knew one G and one D: `generator`, `discriminator`,
    `opt_g`, `opt_d`, `scalers` [D's, G's] and `d_average`. A VAE kept its decoder as the generator and its
    encoder as the discriminator, each with an optimiser of its own; format 2 names them and steps both in
    one phase ("elbo"), whose one optimiser holds the encoder's group, then the decoder's. The stored config
    gets the VAE's new keys (model.encoder, model.decoder) too."""
    from omegaconf import OmegaConf

    config = OmegaConf.create(state["config"]) if "config" in state else None
    target = OmegaConf.select(config, "model.discriminator._target_") if config is not None else None
    out = {k: v for k, v in state.items() if k not in ("generator", "discriminator", "opt_g", "opt_d", "scalers", "d_average", "sha256")}
    out["format_version"] = FORMAT_VERSION
    out["objective"] = {}
    if target == "gantrain.models.vae.VAEEncoder":
        out["networks"] = {"decoder": state["generator"], "encoder": state["discriminator"]}
        out["optimizers"] = {"elbo": merge_optimizer_states(state["opt_d"], state["opt_g"])}
        out["scalers"], out["averages"] = {}, {}
        model = OmegaConf.to_container(config.model, resolve=False)
        decoder, encoder = model.pop("generator"), model.pop("discriminator")
        config.model = {**model, "decoder": decoder, "encoder": encoder}
        out["config"] = OmegaConf.to_yaml(config)
        return out
    out["networks"] = {"generator": state["generator"], "discriminator": state["discriminator"]}
    out["optimizers"] = {"discriminator": state["opt_d"], "generator": state["opt_g"]}
    scalers = state.get("scalers")
    out["scalers"] = {"discriminator": scalers[0], "generator": scalers[1]} if scalers else {}
    out["averages"] = {"discriminator": state["d_average"]} if "d_average" in state else {}
    return out


def merge_optimizer_states(*states: dict[str, Any]) -> dict[str, Any]:
    """One optimiser's state dict from several of the same kind: their parameter groups in order, the
    parameters renumbered one after another (torch numbers them across all groups)."""
    merged: dict[str, Any] = {"state": {}, "param_groups": []}
    offset = 0
    for one in states:
        for group in one["param_groups"]:
            merged["param_groups"].append({**group, "params": [offset + i for i in range(len(group["params"]))]})
            for i, index in enumerate(group["params"]):
                if index in one["state"]:
                    merged["state"][offset + i] = one["state"][index]
            offset += len(group["params"])
    return merged


def digest(state: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's contents (every key but "sha256"): tensors by dtype, shape and bytes,
    everything else by its repr, dict keys in sorted order."""
    h = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous().reshape(-1)
            h.update(f"T{t.dtype}{tuple(value.shape)}".encode())
            h.update(t.view(torch.uint8).numpy() if t.numel() else b"")  # the array's own buffer: no copy
        elif isinstance(value, dict):
            h.update(b"{")
            for key in sorted(value, key=repr):
                h.update(repr(key).encode())
                feed(value[key])
            h.update(b"}")
        elif isinstance(value, (list, tuple)):
            h.update(b"[")
            for item in value:
                feed(item)
            h.update(b"]")
        else:
            h.update(repr(value).encode())

    feed({k: v for k, v in state.items() if k != "sha256"})
    return h.hexdigest()


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` to `path` atomically; the format version and the checksum are added. A failed
    write (a full disk, say) leaves no partial file and raises CheckpointWriteError; `path` keeps what it held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(".*.tmp"):  # left by a process killed mid-write (one writer per run folder)
        stale.unlink(missing_ok=True)
    state = {"format_version": FORMAT_VERSION, **state}
    state["sha256"] = digest(state)
    try:  # streamed: a copy in memory would double the peak memory of a large model at each checkpoint
        with interrupts.deferred():  # a Ctrl-C now: after the write, which torch.save cannot stop cleanly
            write_streamed(path, "checkpoint", lambda file: torch.save(state, file))
    except OutputError as e:
        raise CheckpointWriteError(f"{e}{_nothing_lost(path)}") from None


def _nothing_lost(path: Path) -> str:
    last = path.parent / LAST
    return f"; the previous checkpoint {display_path(last)} is intact" if last.is_file() else ""


def link_checkpoint(source: Path, path: Path) -> None:
    """Make `path` hold the same bytes as `source` (a hard link where possible), atomically."""
    tmp = path.with_name(f".{path.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(source, tmp)
        except OSError as e:  # file systems without hard links
            if e.errno not in (errno.EPERM, errno.EXDEV, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            import shutil

            shutil.copyfile(source, tmp)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointWriteError(f"cannot write checkpoint {display_path(path)} ({reason(e)}){_nothing_lost(path)}") from None
    fsync_dir(path.parent)


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


def chosen_checkpoint(run: str | os.PathLike, which: str = "last") -> Path:
    """The checkpoint a task on `run` uses: `which` = last (checkpoints/last.pt), best (checkpoints/best.pt,
    kept by train.best_by), or the name of any other file in RUN/checkpoints/ (step_N, resolution_N),
    .pt or not. `run` may name a .pt file itself, and then `which` must stay last."""
    which = str(which).removesuffix(".pt")
    if which in ("last", ""):
        return find_checkpoint(run, key="run")
    path = Path(os.path.expanduser(str(run)))
    if path.is_file():
        raise CheckpointError(f"run={run} names a checkpoint file already: drop checkpoint={which}, or pass the run folder")
    if not path.is_dir():
        return find_checkpoint(run, key="run")  # (the one line for a run that is not there)
    folder = path / "checkpoints"
    chosen = folder / f"{which}.pt"
    if chosen.is_file():
        return chosen
    kept = sorted(p.stem for p in folder.glob("*.pt")) if folder.is_dir() else []
    why = " (a run keeps best.pt when it evaluates during training: eval.every=N, by train.best_by)" if which == "best" else ""
    raise CheckpointError(
        f"checkpoint={which}: {run} has no checkpoints/{which}.pt{why}; it has {', '.join(kept) if kept else 'no checkpoints'}"
    )


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a gantrain checkpoint safely, failing with one clear line on anything else."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except pickle.UnpicklingError as e:
        refused = re.search(r"Unsupported (global|class)[^\n]*?(?= was not| Please|\n|$)", str(e))
        if refused is None:  # not a pickle at all, or a broken one
            raise DamagedCheckpoint(f"checkpoint {path} is damaged or not a checkpoint ({_first_line(e)})") from None
        # weights_only refused an object: a pickle that would run code, or a class that is not plain data
        raise CheckpointError(
            f"checkpoint {path} cannot be loaded safely: it holds an object that is not plain data "
            f"({refused.group(0)[:120]}); gantrain never runs code from a checkpoint"
        ) from None
    except Exception as e:  # truncated or corrupted zip archives, anything else unreadable
        raise DamagedCheckpoint(f"checkpoint {path} is damaged or not a checkpoint ({_first_line(e)})") from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise CheckpointError(f"{path} is not a gantrain checkpoint (no format_version)")
    if state["format_version"] not in (1, FORMAT_VERSION):
        raise CheckpointError(
            f"{path} has checkpoint format {state['format_version']}, this gantrain reads formats 1 and {FORMAT_VERSION}"
            + (": it was written by a newer gantrain; upgrade gantrain to use it" if state["format_version"] > FORMAT_VERSION else "")
        )
    if "sha256" in state and digest(state) != state["sha256"]:  # (checkpoints of gantrain 0.1 carry none)
        raise DamagedCheckpoint(f"checkpoint {path} is damaged: its contents do not match its checksum")
    if state["format_version"] == 1:
        try:
            return upgrade_v1(state)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path} is a format-1 checkpoint that cannot be converted ({_first_line(e)})") from None
    return state


class DamagedCheckpoint(CheckpointError):
    """A checkpoint file that cannot be read back as written: truncated, corrupted, not a checkpoint."""


def load_resumable(path: Path, map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], Path, list[str]]:
    """Load `path`; if it is damaged and lies in a run's checkpoints/ folder, the newest intact periodic
    checkpoint there instead. Returns (state, the file loaded, one line about each damaged file passed over)."""
    try:
        return load_checkpoint(path, map_location), path, []
    except DamagedCheckpoint as first:
        damaged, notes = [path], [str(first)]
    candidates = sorted(path.parent.glob("step_*.pt"), key=lambda p: _step_of(p), reverse=True)
    for candidate in candidates:
        if any(candidate.samefile(d) for d in damaged):  # last.pt is a hard link to the newest one
            continue
        try:
            state = load_checkpoint(candidate, map_location)
        except DamagedCheckpoint as e:
            damaged.append(candidate)
            notes.append(str(e))
            continue
        return state, candidate, notes
    raise DamagedCheckpoint(f"{notes[0]}, and no intact checkpoint is left beside it in {path.parent}")


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)[:160]


def _step_of(path: Path) -> int:
    match = re.fullmatch(r"step_(\d+)\.pt", path.name)
    return int(match.group(1)) if match else -1


def _targets(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(where, target) for every `_target_` in a plain config tree; interpolations stay unresolved text."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_":
                yield where or "the config", str(value)
            else:
                yield from _targets(value, f"{where}.{key}".lstrip("."))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _targets(item, f"{where}[{i}]")


def config_targets(config: Any) -> set[str]:
    """Every `_target_` of a config (an OmegaConf node)."""
    from omegaconf import OmegaConf

    return {target for _, target in _targets(OmegaConf.to_container(config, resolve=False))}


def check_stored_config(config: Any, source: Path, allowed: set[str] = frozenset()) -> None:
    """A checkpoint's config rebuilds networks through hydra's instantiate, which imports and calls whatever
    `_target_` names: only gantrain's own classes (and `allowed`, the targets of the user's own config) are
    built from a checkpoint, so that a crafted one cannot run code through its config."""
    from omegaconf import OmegaConf

    for where, target in _targets(OmegaConf.to_container(config, resolve=False)):
        if not target.startswith("gantrain.") and target not in allowed:
            raise CheckpointError(
                f"checkpoint {source} asks to build {target!r} at {where}; gantrain builds only its own classes "
                "from a checkpoint's config, so the checkpoint is refused"
            )


@contextmanager
def hold_run(run_dir: Path, shown_as: str | None = None) -> Iterator[None]:
    """Hold `run_dir` for this process while it trains: a second process that tries to train into the
    same folder (`train.resume=` given twice, a requeued job while the first still runs) is refused with
    RunBusy instead of interleaving its checkpoints with the first's. The lock is the kernel's
    (flock on the folder itself), so it leaves no file behind and dies with its process; `shown_as` is
    the folder as the message names it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        busy = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            # held elsewhere; any other errno is a file system without locks (some network mounts): train unlocked
            busy = e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
        if busy:
            raise RunBusy(
                f"{shown_as or run_dir} is being trained by another gantrain process: let it finish or stop it, "
                f"then resume with: {resume_command(run_dir)}"
            )
        yield
    finally:
        os.close(fd)  # (closing the descriptor releases the lock)


def misfit(e: BaseException) -> str:
    """Why a state dict does not fit a network, in one line that names the parameter: PyTorch's message
    starts with "Error(s) in loading state_dict for X:" and says the useful part on the lines after it."""
    text = str(e)
    size = re.search(
        r"size mismatch for ([\w.]+): copying a param with shape torch\.Size\((\[[^\]]*\])\) from checkpoint, "
        r"the shape in current model is torch\.Size\((\[[^\]]*\])\)",
        text,
    )
    if size:
        name, stored, here = size.groups()
        return f"its {name} has shape {stored}, the network built here {here}"
    missing = re.search(r'Missing key\(s\) in state_dict: "([^"]+)"', text)
    unexpected = re.search(r'Unexpected key\(s\) in state_dict: "([^"]+)"', text)
    if missing or unexpected:
        parts = ([f"the network built here has {missing.group(1)}, which the checkpoint lacks"] if missing else []) + (
            [f"the checkpoint has {unexpected.group(1)}, which the network built here lacks"] if unexpected else []
        )
        return "; ".join(parts)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines)[:300] if lines else type(e).__name__
