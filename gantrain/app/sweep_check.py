"""`gantrain -m ...`: every job of the sweep is composed and checked (run.check_job: the config built,
nothing written) before the first one starts, so that a sweep whose fourth value cannot work says so at
once instead of after three runs have trained.

Done before Hydra runs the sweep, with Hydra's own composition and its basic sweeper's expansion of the
swept values, so that each job checked is the job that would run."""

import shutil
from pathlib import Path

from gantrain.core.errors import ConfigError, GantrainError

MULTIRUN_FLAGS = ("-m", "--multirun")
# flags that change which config is composed, or that do not run jobs: the sweep is left to Hydra alone
_OTHER_FLAGS = (
    "-cn",
    "--config-name",
    "-cp",
    "--config-path",
    "-cd",
    "--config-dir",
    "--cfg",
    "-c",
    "--help",
    "-h",
    "--hydra-help",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
    "--resolve",
    "-p",
    "--package",
)


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """The override list of each job that `gantrain -m OVERRIDES` would run, in Hydra's order."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def _sweeps_nothing(override: str) -> bool:
    """An override whose sweep has no value (e.g. range(5,1), or choice() of nothing)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides([override])[0]
    except Exception:  # noqa: BLE001 -- a malformed override is Hydra's to report
        return False
    return parsed.is_sweep_override() and not list(parsed.sweep_string_iterator())


def check_sweep(argv: list[str], conf_dir: Path) -> None:
    """Raise ConfigError naming the first job of the sweep in `argv` that cannot run (none when `argv` is
    not a sweep of the basic sweeper, or names another config)."""
    if not any(arg in MULTIRUN_FLAGS for arg in argv) or any(arg.split("=")[0] in _OTHER_FLAGS for arg in argv):
        return
    overrides = [arg for arg in argv if not arg.startswith("-")]
    launcher = next((o.split("=", 1)[1] for o in overrides if o.lstrip("+").startswith("hydra/launcher=")), None)
    if launcher is not None and "slurm" in launcher and shutil.which("sbatch") is None and shutil.which("srun") is None:
        raise ConfigError(
            f"hydra/launcher={launcher} submits the jobs to SLURM, but this machine has no SLURM (no sbatch or srun on "
            "PATH): start the sweep on the cluster's login node, or leave hydra/launcher out to run the jobs here"
        )
    if any(o.split("=")[0].lstrip("+~").startswith("hydra/sweeper") or o.startswith("hydra.sweeper") for o in overrides):
        return  # another sweeper (optuna, ...) chooses its own jobs
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from gantrain.app.run import check_job

    jobs = sweep_jobs(overrides)
    if not jobs:
        empty = next((o for o in overrides if _sweeps_nothing(o)), " ".join(overrides))
        raise ConfigError(f"{empty} sweeps over no values, so the sweep would run no job: give it at least one value")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            for number, job in enumerate(jobs):
                try:
                    check_job(compose("config", overrides=job, return_hydra_config=True))
                except GantrainError as e:
                    raise ConfigError(f"job {number} of {len(jobs)} ({' '.join(job) or 'the defaults'}): {e}; no job was started") from None
    finally:
        GlobalHydra.instance().clear()
