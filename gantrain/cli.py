"""The `gantrain` command: a Hydra app that hands the composed config to gantrain.run.train.

Everything it calls is importable without Hydra; this file only wires the config, the run folder
and the one-line error reports together.
"""

import os
import shutil
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gantrain import console
from gantrain.config import register_schema
from gantrain.errors import GantrainError


def _conf_dir() -> Path:
    """conf/ beside the package (a source checkout or editable install), or inside it (a wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "conf", here / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise RuntimeError(f"gantrain's conf/ folder is missing beside {here}")


def _resume_run_dir(resume: Any, fresh: str) -> str:
    """hydra.run.dir: a resumed run continues in its own folder; any other run gets a fresh one."""
    if resume in (None, "", "null"):
        return fresh
    path = Path(os.path.expanduser(str(resume)))
    if path.is_file():
        return str(path.parent.parent if path.parent.name == "checkpoints" else path.parent)
    if path.is_dir():
        return str(path)
    return fresh  # not there: the run fails with a clear line, and the fresh folder is removed


def _resume_output_subdir(resume: Any) -> str:
    """Hydra's record of this invocation; a resumed run keeps the original .hydra/ and adds one beside it."""
    if resume in (None, "", "null"):
        return ".hydra"
    return f".hydra/resumed-{_STARTED:%Y-%m-%d_%H-%M-%S}"


_STARTED = datetime.now()  # fixed once: Hydra re-reads the interpolation, and every read must agree


OmegaConf.register_new_resolver("gantrain_run_dir", _resume_run_dir, replace=True)
OmegaConf.register_new_resolver("gantrain_output_subdir", _resume_output_subdir, replace=True)
register_schema()


def _remove_if_unused(run_dir: Path) -> None:
    """After a failure before training, drop the run folder Hydra made, if it holds nothing but its own record."""
    if run_dir.is_dir() and all(p.name in {".hydra"} or p.suffix == ".log" for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # a scheduler's pre-emption: checkpoint and stop, as for Ctrl-C


@hydra.main(version_base="1.3", config_path=str(_conf_dir()), config_name="config")
def _app(cfg: DictConfig) -> None:
    from gantrain.run import display_path, train
    from gantrain.training import TrainingInterrupted

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    resuming = bool(cfg.train.resume) and hc.output_subdir != ".hydra"
    if hc.mode is not None and hc.mode.name == "MULTIRUN":
        console.info(f"[bold]job {hc.job.num}[/]: {' '.join(hc.overrides.task)}")
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        result = train(cfg, run_dir, overrides=list(hc.overrides.task), choices=dict(hc.runtime.choices))
    except GantrainError as e:
        console.error(str(e))
        if resuming and hc.output_subdir:  # keep the run, drop only this failed invocation's record
            shutil.rmtree(run_dir / hc.output_subdir, ignore_errors=True)
        _remove_if_unused(run_dir)
        sys.exit(2)
    except TrainingInterrupted as stop:
        r = stop.result
        console.error(
            f"interrupted at step {r.step}; checkpoint {display_path(r.last_checkpoint) if r.last_checkpoint else '-'}. "
            f"Resume with: gantrain train.resume={display_path(r.run_dir)}"
        )
        sys.exit(130)
    rows = {
        "run folder": display_path(r_dir := result.run_dir),
        "steps": str(result.step),
        "time": f"{result.seconds:.0f} s",
        **{name: f"{value:.4g}" for name, value in sorted(result.metrics.items())},
        "samples": display_path(result.last_samples) if result.last_samples else "-",
        "checkpoint": display_path(result.last_checkpoint) if result.last_checkpoint else "-",
        "curves": f"tensorboard --logdir {display_path(r_dir / 'tb')}",
    }
    console.console.print(console.summary_table("gantrain: done", rows))


def _one_line(ex: BaseException) -> str:
    """Hydra's multi-line composition errors, said in one line."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    if isinstance(ex, MissingConfigException) and ex.options and ex.missing_cfg_file:
        group, _, name = ex.missing_cfg_file.rpartition("/")
        return f"unknown {group} '{name}': choose one of {', '.join(sorted(ex.options))}"
    cause = ex.__cause__
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key:
        key = cause.full_key
        return f"unknown config key '{key}': check its spelling; `gantrain --cfg job` prints every key"
    lines = [str(ex).strip().splitlines()[0]] if str(ex).strip() else [type(ex).__name__]
    if cause is not None and str(cause).strip():
        lines.append(str(cause).strip().splitlines()[0])
    return ": ".join(lines)


def _install_one_line_errors() -> None:
    """Make Hydra report configuration mistakes in one line (HYDRA_FULL_ERROR=1 still shows everything)."""
    import hydra._internal.utils as hydra_utils
    from hydra.errors import CompactHydraException
    from omegaconf.errors import OmegaConfBaseException

    original = hydra_utils.run_and_report

    def run_and_report(func: Any) -> Any:
        try:
            return func()
        except (CompactHydraException, OmegaConfBaseException, GantrainError) as ex:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            console.error(_one_line(ex))
            sys.exit(2)
        except Exception as ex:  # anything else: Hydra's own report, without running func again
            failure = ex

            def reraise() -> Any:
                raise failure

            return original(reraise)

    hydra_utils.run_and_report = run_and_report


def _expand_home(argv: list[str]) -> list[str]:
    """`data.root=~/celeba`: the shell leaves a ~ after `key=` alone and Hydra's grammar rejects it."""
    out = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and not arg.startswith("-") and value.startswith("~"):
            arg = f"{key}={os.path.expanduser(value)}"
        out.append(arg)
    return out


def main() -> None:
    sys.argv[1:] = _expand_home(sys.argv[1:])
    _install_one_line_errors()
    _app()
