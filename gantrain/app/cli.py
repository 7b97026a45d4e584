"""The `gantrain` command: a Hydra app that hands the composed config to gantrain.app.run.train.

Everything it calls is importable without Hydra; this file only wires the config, the run folder
and the one-line error reports together.
"""

import os
import re
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gantrain.app.config import RUN_TASKS, check_finite, check_switches, check_task, register_schema
from gantrain.core import console
from gantrain.core.errors import ConfigError, GantrainError, OutputError
from gantrain.core.folders import conf_dir, resumes_in_place, run_folder, task_output
from gantrain.training import interrupts

_SCRATCH: list[str] = []


def _scratch() -> str:
    """One empty folder for this process (Hydra reads hydra.run.dir several times: each read must agree)."""
    if not _SCRATCH:
        _SCRATCH.append(tempfile.mkdtemp(prefix="gantrain-"))
    return _SCRATCH[0]


_CLAIMED: dict[str, str] = {}
_MADE_HERE: set[Path] = set()  # folders above a run folder that did not exist before this process chose it


def _note_new_parents(folder: str) -> None:
    """Remember which folders above `folder` do not exist yet (outputs/, outputs/DATE/): only those may be
    removed with a run folder that is dropped. Never the working folder or anything the user made."""
    for parent in Path(folder).absolute().parents:
        if parent.exists():
            break
        _MADE_HERE.add(parent)


def _claim(fresh: str) -> str:
    """A new run's folder, created here so that no other run can take it: two runs started in the same
    second (outputs/DATE/TIME) get TIME and TIME-1. Claimed once per process (Hydra reads it several times)."""
    if fresh not in _CLAIMED:
        for n in range(1000):
            candidate = fresh if n == 0 else f"{fresh}-{n}"
            _note_new_parents(candidate)
            try:
                os.makedirs(candidate)
            except FileExistsError:
                continue
            _CLAIMED[fresh] = candidate
            break
        else:
            _CLAIMED[fresh] = fresh
    return _CLAIMED[fresh]


def _run_dir(fresh: str, *, _root_: Any) -> str:
    """hydra.run.dir. Training: a fresh folder, or a resumed run's own. task=translate: the folder the
    outputs go to; task=report: the sweep folder. A task that names no existing run or sweep gets a
    scratch folder, so that a typo never leaves folders behind (it is removed with the error)."""
    task = _root_.get("task", "train")
    if _RANK != 0:  # torchrun's other processes: rank 0 alone writes the run folder
        return _scratch()
    if task == "eval" and (_root_.get("real") not in (None, "") or _root_.get("fake") not in (None, "")):
        output = _root_.get("output")  # two folders compared: OUTPUT, or a fresh folder of its own as a run's
        return os.path.expanduser(str(output)) if output not in (None, "") else _claim(fresh)
    if task in RUN_TASKS:
        run = _root_.get("run")
        if run in (None, "") or not Path(os.path.expanduser(str(run))).exists():
            return _scratch()
        return str(task_output(task, run, _root_.get("input"), _root_.get("output"), _root_.get("checkpoint", "last")))
    if task == "report":
        sweep = _root_.get("sweep")
        if sweep in (None, "") or not Path(os.path.expanduser(str(sweep))).is_dir():
            return _scratch()
        return os.path.expanduser(str(sweep))
    resume = _root_.train.resume
    if resume in (None, "", "null"):
        if str(_root_.hydra.get("mode")) == "RunMode.MULTIRUN":
            return fresh  # read but not used by a sweep (its jobs go to hydra.sweep.dir): claim nothing
        return _claim(fresh)
    path = Path(os.path.expanduser(str(resume)))
    if not path.exists():
        return fresh  # not there: the run fails with a clear line, and the fresh folder is removed
    if resumes_in_place(path):
        return str(run_folder(path))
    return _claim(fresh)  # a rewind (an older checkpoint): a new folder, so that nothing newer is overwritten


def _sweep_dir(fresh: str, mode: Any) -> str:
    """hydra.sweep.dir: a -m sweep's folder, claimed like a new run's, so that two sweeps started in the
    same second (multirun/DATE/TIME) get TIME and TIME-1 instead of one refusing the other's job folders.
    Registered with use_cache: Hydra copies the sweep's cache into each job's config (in this process or in
    a launcher's, as for ${now:}), so every job reads the folder the sweep claimed; read outside a sweep
    (a single run's config holds the key too) it claims nothing."""
    if str(mode) != "RunMode.MULTIRUN" or _RANK != 0:
        return fresh
    return _claim(fresh)


def _output_subdir(*, _root_: Any) -> str | None:
    """Hydra's record of this invocation; a resumed run keeps the original .hydra/ and adds one beside
    it; the other tasks write into folders that are not runs, so they leave no record."""
    if not Path(str(_root_.hydra.run.dir)).exists():  # (read before Hydra makes the folder)
        _note_new_parents(str(_root_.hydra.run.dir))
    if _root_.get("task", "train") != "train" or _RANK != 0:
        return None
    if _root_.train.resume in (None, "", "null"):
        if (Path(str(_root_.hydra.run.dir)) / "checkpoints").is_dir():
            # a new run aimed at an existing run's folder: refused in _train; its record must not replace the run's
            return f".hydra/refused-{_STARTED:%Y-%m-%d_%H-%M-%S}"
        return ".hydra"
    run_dir = str(_root_.hydra.run.dir)
    record = f".hydra/resumed-{_STARTED:%Y-%m-%d_%H-%M-%S}"
    if not Path(run_dir).is_dir():
        return record  # no run there: the invocation fails, and removes what Hydra wrote
    # claimed like a new run's folder: two resumes in the same second get their own records, and the
    # one that is refused (the run is busy) removes its own, not the other's
    return os.path.relpath(_claim(os.path.join(run_dir, record)), run_dir)


_STARTED = datetime.now()  # fixed once: Hydra re-reads the interpolation, and every read must agree
_RANK = int(os.environ.get("RANK", "0"))  # torchrun's process number (0 without torchrun)


OmegaConf.register_new_resolver("gantrain_run_dir", _run_dir, replace=True)
OmegaConf.register_new_resolver("gantrain_output_subdir", _output_subdir, replace=True)
OmegaConf.register_new_resolver("gantrain_sweep_dir", _sweep_dir, replace=True, use_cache=True)
register_schema()


def _unused(entry: Path, *, failed_run: bool = False) -> bool:
    """What a run folder holds before its first step: Hydra's record and logs, the disk reserve, the
    TensorBoard file of a run that logged nothing yet (tb/ with its header alone), an empty checkpoints/.
    failed_run: a new run that failed before its first checkpoint, whose curves, sample grids and summary
    cannot be resumed from and would make its folder look like a run."""
    from gantrain.core.files import RESERVE

    if entry.name in (".hydra", RESERVE) or entry.suffix == ".log":
        return True
    if entry.name == "checkpoints" and entry.is_dir():
        return not any(entry.iterdir())
    if failed_run and entry.name in ("tb", "samples", "summary.json", "metrics.jsonl", "skipped_images.txt"):
        return True
    if entry.name == "tb" and entry.is_dir():
        return all(f.name.startswith("events.out.tfevents.") and f.stat().st_size < 16384 for f in entry.iterdir())
    return False


def _remove_if_unused(run_dir: Path, *, failed_run: bool = False) -> None:
    """After a failure or an interruption before any work, drop the folder made for the run if it holds
    nothing a run made (see _unused), and the folders above it that this process made (outputs/DATE/) if
    they are left empty."""
    if run_dir.is_dir() and all(_unused(p, failed_run=failed_run) for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)
        for parent in run_dir.absolute().parents:
            if parent not in _MADE_HERE:
                break
            try:
                parent.rmdir()  # only succeeds when empty
            except OSError:
                break


def remove_claimed_folders() -> None:
    """After an interruption before any work: the folders this process claimed for a new run (or its record
    in a resumed run's .hydra/) are removed when they hold nothing but Hydra's record."""
    for folder in map(Path, list(_CLAIMED.values())):
        if folder.parent.name == ".hydra":
            shutil.rmtree(folder, ignore_errors=True)  # this invocation's record beside a resumed run's own
        else:
            _remove_if_unused(folder)


def _forget_claimed_folders() -> str:
    """An interruption while Hydra composes the config: the folders claimed for a new run go again."""
    remove_claimed_folders()
    return interrupts.NOTHING_WRITTEN


interrupts.on_interrupt(_forget_claimed_folders)


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def _app(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    interrupts.on_interrupt(lambda: _interrupted(cfg, hc, run_dir))
    try:
        check_switches(list(hc.overrides.task))
        check_finite(cfg)
        check_task(cfg)
        if cfg.task in RUN_TASKS_TABLE:
            _on_trained_run(cfg, run_dir)
        elif cfg.task == "report":
            from gantrain.app.report import report_sweep

            report_sweep(cfg.sweep, cfg.metric)
        else:
            _train(cfg, hc, run_dir)
    except GantrainError as e:
        console.error(str(e))
        _drop_this_invocation(cfg, hc, run_dir)
        sys.exit(1 if isinstance(e, OutputError) else 2)  # a file that cannot be written is no mistake of the config
    except Exception as e:  # the machine failed (memory, a folder), or gantrain did: one line, said here so that
        if os.environ.get("HYDRA_FULL_ERROR") == "1":  # Hydra adds no "Error executing job" line of its own
            raise
        said = _environment_failure(e)
        console.error(said[0] if said is not None else _unforeseen(e))
        _drop_this_invocation(cfg, hc, run_dir)
        sys.exit(said[1] if said is not None else 1)
    except KeyboardInterrupt:  # (gantrain.app.cli.main called without gantrain.app.entry: Python's own Ctrl-C)
        interrupts.say(_interrupted(cfg, hc, run_dir))
        sys.exit(interrupts.exit_code())


def _interrupted(cfg: DictConfig, hc: Any, run_dir: Path) -> str:
    """Ctrl-C or SIGTERM outside the training loop (which checkpoints and says so itself): tidy up what
    this invocation made for nothing, and say in one line what is left."""
    from gantrain.core.files import display_path, resume_command

    last = run_dir / "checkpoints" / "last.pt"
    if cfg.task == "train" and last.is_file():
        return f"interrupted; the checkpoints up to {display_path(last)} are intact. Resume with: {resume_command(run_dir)}"
    _drop_this_invocation(cfg, hc, run_dir)
    if cfg.task != "train":
        return f"interrupted: task={cfg.task} stopped before it finished"
    said = "interrupted before training began: nothing was trained"
    return said + (", and no run folder is left" if not run_dir.exists() else f"; {display_path(run_dir)} holds no checkpoint")


def _drop_this_invocation(cfg: DictConfig, hc: Any, run_dir: Path) -> None:
    """After a failure or an interruption: this invocation's own record in a resumed run's .hydra/, a folder
    that holds nothing but Hydra's record, and a new run's folder with no checkpoint in it (nothing in it
    can be resumed) are removed; a checkpointed run's results never are."""
    if cfg.task == "train" and hc.output_subdir and hc.output_subdir != ".hydra":
        shutil.rmtree(run_dir / hc.output_subdir, ignore_errors=True)  # keep the run, drop this invocation's record
    _remove_if_unused(run_dir, failed_run=cfg.task == "train")  # (kept whenever checkpoints/ holds a file)


def _train(cfg: DictConfig, hc: Any, run_dir: Path) -> None:
    from gantrain.app.run import train
    from gantrain.core.files import display_path, resume_command, shell_word
    from gantrain.training.loop import BEST, TrainingInterrupted

    if hc.mode is not None and hc.mode.name == "MULTIRUN":
        console.info(f"[bold]job {hc.job.num}[/]: {' '.join(hc.overrides.task)}")
    if not cfg.train.resume and _RANK == 0 and (run_dir / "checkpoints").is_dir():
        raise ConfigError(
            f"{display_path(run_dir)} already holds a run: continue it with: {resume_command(run_dir)}, "
            f"or give the new run another {'hydra.sweep.dir' if hc.mode is not None and hc.mode.name == 'MULTIRUN' else 'hydra.run.dir'}"
        )
    try:
        result = train(cfg, run_dir, overrides=list(hc.overrides.task), choices=dict(hc.runtime.choices))
        if _RANK != 0:
            if _SCRATCH and run_dir == Path(_SCRATCH[0]):  # (an explicit hydra.run.dir is rank 0's run: left alone)
                shutil.rmtree(run_dir, ignore_errors=True)  # the scratch folder of a rank that writes nothing
            return
    except TrainingInterrupted as stop:
        r = stop.result
        console.error(
            f"interrupted at step {r.step}; checkpoint {display_path(r.last_checkpoint) if r.last_checkpoint else '-'}. "
            f"Resume with: {resume_command(r.run_dir)}"
        )
        # 143 after SIGTERM, 130 after Ctrl-C: the shell's convention. os._exit: the checkpoint and the summary are
        # written and the loop's files closed; a further Ctrl-C during the interpreter's shutdown would otherwise kill it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(interrupts.exit_code())
    rows = {
        "run folder": display_path(r_dir := result.run_dir),
        "steps": str(result.step),
        "time": f"{result.seconds:.0f} s",
        **{name: f"{value:.4g}" for name, value in sorted(result.metrics.items())},
        "samples": display_path(result.last_samples) if result.last_samples else "-",
        "checkpoint": display_path(result.last_checkpoint) if result.last_checkpoint else "-",
        **(
            {f"best ({result.best_by})": _evaluation_line(result.best, result.best_by, result.run_dir / "checkpoints" / BEST)}
            if result.best
            else {}
        ),
        **({"last evaluation": _evaluation_line(result.last_evaluation, result.best_by)} if result.last_evaluation and result.best else {}),
        **(
            {"mistakes": f"gantrain task=confusion run={shell_word(r_dir)}"}
            if {"eval/test_error", "eval/cluster_error"} & set(result.metrics)
            else {}
        ),
        "curves": f"tensorboard --logdir {shell_word(r_dir / 'tb')}",
    }
    console.console.print(console.summary_table("gantrain: done", rows))


def _evaluation_line(evaluation: dict[str, float], by: str | None, checkpoint: Path | None = None) -> str:
    """The summary's line for one evaluation ({"step", eval/*}): its step, the metric best.pt is kept by
    first, then the others (not the live copies of eval.ema), and the checkpoint holding it."""
    from gantrain.core.files import display_path

    names = sorted(
        (k for k in evaluation if k.startswith("eval/") and not k.endswith("_live") and not k[-1].isdigit()), key=lambda k: k != by
    )
    scores = ", ".join(f"{k} {evaluation[k]:.4g}" for k in names[:4])
    return f"step {int(evaluation['step'])}: {scores}" + (f" ({display_path(checkpoint)})" if checkpoint is not None else "")


def _trained(cfg: DictConfig) -> str:
    from gantrain.core.files import display_path

    if cfg.run in (None, ""):
        raise ConfigError(f"task={cfg.task} needs run=FOLDER: the trained run (or checkpoint) whose networks to use")
    return display_path(Path(os.path.expanduser(str(cfg.run))))


def _written(cfg: DictConfig, done: Any) -> dict[str, str]:
    """The summary rows of a task that wrote pictures (tasks.Written)."""
    from gantrain.core.files import display_path

    return {
        "images": str(done.count),
        "generator": f"{_trained(cfg)} at step {done.step}",
        **{f.suffix[1:]: display_path(f) for f in done.files},
    }


def _sample(cfg: DictConfig, out: Path, device: Any) -> dict[str, str]:
    from gantrain.tasks import sample

    _trained(cfg)
    return _written(cfg, sample(cfg.run, out, n=cfg.n, seed=int(cfg.seed), npy=bool(cfg.npy), device=device, psi=cfg.psi))


def _interpolate(cfg: DictConfig, out: Path, device: Any) -> dict[str, str]:
    from gantrain.tasks import interpolate

    _trained(cfg)
    done = interpolate(
        cfg.run, out, n=cfg.n, length=cfg.length, mode=cfg.mode, seed=int(cfg.seed), device=device, psi=cfg.psi, space=cfg.space
    )
    return _written(cfg, done)


def _arithmetic(cfg: DictConfig, out: Path, device: Any) -> dict[str, str]:
    from gantrain.tasks import arithmetic

    _trained(cfg)
    done = arithmetic(cfg.run, out, expression=cfg.expression, n=cfg.n, seed=int(cfg.seed), device=device, psi=cfg.psi)
    return _written(cfg, done)


def _nearest(cfg: DictConfig, out: Path, device: Any) -> dict[str, str]:
    from gantrain.tasks import nearest

    _trained(cfg)
    return _written(cfg, nearest(cfg.run, out, n=cfg.n, neighbours=cfg.neighbours, seed=int(cfg.seed), device=device))


def _confusion(cfg: DictConfig, out: Path, device: Any) -> dict[str, str]:
    from gantrain.core.files import display_path
    from gantrain.tasks import confusion

    run = _trained(cfg)
    confused = confusion(cfg.run, out, n=cfg.n, device=device)
    return {
        "discriminator": f"{run} at step {confused.step}: {confused.which}",
        confused.metric: f"{100 * confused.error:.2f}%",
        "commonest mistakes": ", ".join(f"{m.true} as {m.output}: {m.count}" for m in confused.mistakes[:5]) or "none",
        "labelled images": str(confused.labelled)
        if confused.labelled
        else ("none" if confused.metric == "eval/cluster_error" else "every training image"),
        **{f.name.replace(f"_step{confused.step}", ""): display_path(f) for f in confused.files},
    }


def _probe(cfg: DictConfig, out: Path, device: Any) -> dict[str, str]:
    from gantrain.core.files import display_path
    from gantrain.tasks import probe
    from gantrain.tasks.probe import mean_sd

    run = _trained(cfg)
    done = probe(cfg.run, out, labels=cfg.labels, draws=cfg.draws, seed=int(cfg.seed), device=device)
    rows = {
        "discriminator": f"{run} at step {done.step}",
        "test error (%)": f"on {done.test_images:,} test images, mean ± sd over {done.draws} label draws",
    }
    for name, found in done.rows.items():
        for row in found:
            rows[f"{name}: {row.name}" if len(done.rows) > 1 else row.name] = ", ".join(
                f"{b} labels {mean_sd(row.errors[b])}" for b in done.budgets
            )
    return {**rows, **{f.suffix[1:]: display_path(f) for f in done.files}}


def _dfilters(cfg: DictConfig, out: Path, device: Any) -> dict[str, str]:
    from gantrain.core.files import display_path
    from gantrain.tasks import dfilters

    run = _trained(cfg)
    done = dfilters(cfg.run, out, n=cfg.n, seed=int(cfg.seed), device=device)
    return {"discriminator": f"{run} at step {done.step}", **{f.stem.split("_step")[0]: display_path(f) for f in done.files}}


def _eval(cfg: DictConfig, out: Path, device: Any) -> dict[str, str]:
    from gantrain.core.files import display_path
    from gantrain.tasks import evaluate_run
    from gantrain.tasks.evaluate import evaluate_folders

    scoring = {
        "n": cfg.n,
        "extractor": cfg.eval.extractor,
        "inception_weights": cfg.eval.inception_weights,
        "metrics": None if cfg.eval.metrics is None else list(cfg.eval.metrics),
        "seed": int(cfg.seed),
        "device": device,
    }
    if cfg.real not in (None, "") or cfg.fake not in (None, ""):  # two folders
        if cfg.run not in (None, ""):
            raise ConfigError("task=eval takes run=RUN (a trained run's samples) or real=DIR fake=DIR (two folders), not both")
        scored = evaluate_folders(cfg.real, cfg.fake, out, config=cfg, **scoring)
        head = {
            "images": f"{scored.n_fake} from fake={cfg.fake} against {scored.n_real} from real={cfg.real}",
            "features": scored.extractor,
        }
    else:
        run = _trained(cfg)
        scored = evaluate_run(cfg.run, out, **scoring)
        if scored.n_fake:
            images = f"{scored.n_fake} samples against {scored.n_real} held-out images"
            head = {"generator": f"{run} at step {scored.step}", "images": images, "features": scored.extractor}
        else:  # a translation run: its own evaluation on its held-out split
            head = {"run": f"{run} at step {scored.step}", "evaluation": scored.extractor}
    return {
        **head,
        **{name: f"{value:.4g}" for name, value in scored.numbers.items()},
        **{f.suffix[1:]: display_path(f) for f in scored.files},
    }


def _translate(cfg: DictConfig, out: Path, device: Any) -> dict[str, str]:
    from gantrain.core.files import display_path
    from gantrain.tasks import translate_folder

    done = translate_folder(
        cfg.run, cfg.input, cfg.output, input_form=cfg.input_form, direction=cfg.direction, device=device, seed=int(cfg.seed)
    )
    return {
        "images": str(done.count),
        "generator": f"{_trained(cfg)} at step {done.step}",
        "outputs": display_path(done.output),
        "source | output pairs": display_path(done.grid),
    }


# task=... -> (the function doing it on a trained run, the summary table's title)
RUN_TASKS_TABLE = {
    "sample": (_sample, "gantrain: sample"),
    "interpolate": (_interpolate, "gantrain: interpolate"),
    "arithmetic": (_arithmetic, "gantrain: arithmetic"),
    "eval": (_eval, "gantrain: eval"),
    "nearest": (_nearest, "gantrain: nearest"),
    "confusion": (_confusion, "gantrain: confusion"),
    "probe": (_probe, "gantrain: linear probe of D's features"),
    "dfilters": (_dfilters, "gantrain: what D's filters respond to"),
    "translate": (_translate, "gantrain: translated"),
}


def _on_trained_run(cfg: DictConfig, out: Path) -> None:
    """A task on a trained run: do it, then print what was written."""
    from gantrain.training.devices import resolve_device

    function, title = RUN_TASKS_TABLE[cfg.task]
    if str(cfg.checkpoint).removesuffix(".pt") not in ("last", ""):  # checkpoint=best, step_N, ...: that file is the run
        from gantrain.training.checkpoint import chosen_checkpoint

        _trained(cfg)
        cfg.run = str(chosen_checkpoint(cfg.run, cfg.checkpoint))
    rows = function(cfg, out, resolve_device(cfg.device))
    console.console.print(console.summary_table(title, rows))


def _one_line(ex: BaseException) -> str:
    """Hydra's multi-line composition errors, said in one line."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    if isinstance(ex, OverrideParseException):
        return (
            f"cannot read the override {ex.override} ({ex.message.strip().splitlines()[0]}): write key=value, and quote "
            "the whole override for the shell when its value has brackets, commas or spaces, e.g. 'model.generator.hidden=[256,256]'"
        )
    if isinstance(ex, MissingConfigException) and ex.options and ex.missing_cfg_file:
        group, _, name = ex.missing_cfg_file.rpartition("/")
        return f"unknown {group} '{name}': choose one of {', '.join(sorted(ex.options))}"
    cause = ex.__cause__
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key:
        key = cause.full_key
        if key.startswith("train.phases."):  # a mapping that starts empty: each phase's settings are new keys
            return "train.phases.* settings are new keys: put a + before the override (e.g. +train.phases.discriminator.lr=4e-4)"
        return f"unknown config key '{key}': check its spelling; `gantrain --cfg job` prints every key"
    lines = [str(ex).strip().splitlines()[0]] if str(ex).strip() else [type(ex).__name__]
    if cause is not None and str(cause).strip():
        lines.append(str(cause).strip().splitlines()[0])
    said = ": ".join(lines)
    # "Error merging override seed=abc: Value 'abc' of type 'str' could not be converted to Integer"
    typed = re.match(r"Error merging override ([^=\s]+)=(.*?): Value '.*' of type '\w+' could not be converted to (\w+)", said)
    if typed:
        kind = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false"}.get(typed.group(3), typed.group(3))
        return f"{typed.group(1)} must be {kind} (got {typed.group(2)})"
    listed = re.match(r"Error merging override ([^=\s]+)=(.*?): Invalid value assigned: \w+ is not a ListConfig", said)
    if listed:
        return f"{listed.group(1)} takes a list: write {listed.group(1)}=[{listed.group(2)}]"
    switch = re.match(r"Error merging override ([^=\s]+)=(.*?): Value '.*' is not a valid bool", said)
    if switch:
        return f"{switch.group(1)} must be true or false (got {switch.group(2)})"
    return said


def _within(ex: BaseException, kind: type | tuple[type, ...], *, wrapped: bool = False) -> BaseException | None:
    """The first exception of `kind` in ex's chain of causes (`raise ... from`). wrapped: ex is Hydra's or
    OmegaConf's wrapper of an error met while resolving an interpolation (a folder that cannot be made),
    which OmegaConf raises without `from`, so its __context__ is followed too; otherwise not, since an
    error raised while handling an OSError on purpose is not that OSError."""
    seen: set[int] = set()
    while ex is not None and id(ex) not in seen:
        if isinstance(ex, kind):
            return ex
        seen.add(id(ex))
        ex = ex.__cause__ or (ex.__context__ if wrapped else None)  # type: ignore[assignment]
    return None


def _environment_failure(ex: BaseException, *, wrapped: bool = False) -> tuple[str, int] | None:
    """(the line, the exit code) for failures of the machine rather than of gantrain: a folder that cannot
    be made or written (a file in the way, /proc, a read-only disk), memory that ran out."""
    import torch

    cause = _within(ex, OSError, wrapped=wrapped)
    if isinstance(cause, OSError) and cause.errno is not None:
        where = f" {cause.filename}" if cause.filename else ""
        fix = "choose another folder (hydra.run.dir=, output=) or free or fix that one"
        if cause.filename is not None:
            from gantrain.metrics.extractor_cache import cache_dir

            name = os.path.abspath(os.fsdecode(cause.filename))
            if name == str(cache_dir().absolute()) or name.startswith(str(cache_dir().absolute()) + os.sep):
                fix = "set GANTRAIN_CACHE to a folder you can write (it keeps the trained feature extractors), or fix that one"
            elif not os.path.isabs(os.fsdecode(cause.filename)) and not os.access(os.getcwd(), os.W_OK):
                fix = (
                    f"this folder ({os.getcwd()}) cannot be written: run gantrain from another, or set hydra.run.dir= "
                    "(output= for a task) to a folder you can write"
                )
        code = 2 if cause.errno in (17, 20, 21, 30, 13, 1, 2) else 1
        return f"cannot create or write{where} ({os.strerror(cause.errno)}): {fix}", code
    cause = _within(ex, (MemoryError, torch.OutOfMemoryError)) or ex
    if isinstance(cause, (MemoryError, torch.OutOfMemoryError)) or "can't allocate memory" in str(cause):
        asked = re.search(r"allocate (\d+) bytes", str(cause))
        amount = f" {int(asked.group(1)) / 2**30:.1f} GiB at once" if asked else ""
        return (
            f"out of memory: this asked for{amount}, more than the machine has free; lower the sizes that scale it "
            "(train.batch_size, data.image_size, eval.n, a task's n or length)",
            1,
        )
    return None


def _unforeseen(ex: BaseException) -> str:
    """The line for an error gantrain has no message for: what it was, and where its traceback was written."""
    import traceback

    cause = ex.__cause__ or ex
    what = f"{type(cause).__name__}: {' '.join(str(cause).split())}"[:300]
    try:
        fd, path = tempfile.mkstemp(prefix="gantrain-error-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(f"gantrain {' '.join(sys.argv[1:])}\n\n{''.join(traceback.format_exception(ex))}")
        where = f"the traceback is in {path}"
    except OSError:
        where = "run again with HYDRA_FULL_ERROR=1 for the traceback"
    return f"unexpected error ({what}); {where}: please report it with that file"


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
            # a folder Hydra could not make (a read-only working folder): the machine's failure, not the config's
            said = _environment_failure(ex, wrapped=True) if not isinstance(ex, GantrainError) else None
            console.error(said[0] if said is not None else _one_line(ex))
            remove_claimed_folders()
            sys.exit(said[1] if said is not None else 2)
        except Exception as ex:  # a failure nobody foresaw (a bug): one line, and the traceback in a file
            said = _environment_failure(ex)
            if said is not None and os.environ.get("HYDRA_FULL_ERROR") != "1":
                console.error(said[0])
                remove_claimed_folders()
                sys.exit(said[1])
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                failure = ex

                def reraise() -> Any:
                    raise failure

                return original(reraise)
            console.error(_unforeseen(ex))
            remove_claimed_folders()
            sys.exit(1)

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


REQUIRED_GROUPS = ("model", "data", "loss", "optim")  # conf/config.yaml's defaults: a run cannot do without one


def _check_no_empty_values(argv: list[str]) -> None:
    """`train.resume=$RUN` with RUN unset reaches us as `train.resume=`, which Hydra reads as an empty string
    and gantrain as "not set": a silent new default run. Every override must give a value."""
    for arg in argv:
        key, eq, value = arg.partition("=")
        if arg.startswith("~") and key.lstrip("~") in REQUIRED_GROUPS:
            console.error(f"{key} removes the {key.lstrip('~')} group, which every run needs: choose another with {key.lstrip('~')}=NAME")
            sys.exit(2)
        if eq and not arg.startswith(("-", "~")) and not value.strip():  # (~key= deletes a key: no value needed)
            console.error(
                f"{key}= has no value (an unset shell variable?): give it one, or leave {key.lstrip('+')} out to keep its default"
            )
            sys.exit(2)


# Hydra's command-line flags (hydra/_internal/utils.py's parser); anything else beginning with "-" is a typo
_HYDRA_FLAGS = {
    "-h",
    "--help",
    "--hydra-help",
    "--version",
    "-c",
    "--cfg",
    "-p",
    "--package",
    "-r",
    "--resolve",
    "-i",
    "--info",
    "-sc",
    "--shell-completion",
    "-cp",
    "--config-path",
    "-cn",
    "--config-name",
    "-cd",
    "--config-dir",
    "--experimental-rerun",
    "-m",
    "--multirun",
}


# keys whose value is a list, written with commas on the command line: key -> an example of the value
COMMA_LISTS = {"labels": "labels=100,1000,all", "augment.policy": "augment.policy=color,translation,cutout"}


def _comma_lists(argv: list[str]) -> list[str]:
    """`labels=1000,all` (task=probe's several budgets) or `augment.policy=color,translation` outside a -m
    sweep: Hydra would refuse the comma as an ambiguous sweep, so it is read as the list it means,
    labels=[1000,all]. Under -m it stays a sweep (over each value alone)."""
    if any(arg in ("-m", "--multirun") for arg in argv):
        return argv
    out = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and key in COMMA_LISTS and "," in value and not value.lstrip().startswith(("[", "'", '"')):
            if any(not item.strip() for item in value.split(",")):
                console.error(f"{arg} has an empty value between its commas: give one between each, e.g. {COMMA_LISTS[key]}")
                sys.exit(2)
            arg = f"{key}=[{value}]"
        out.append(arg)
    return out


def _check_flags(argv: list[str]) -> None:
    """`gantrain --steps 10`: argparse would print its usage and a second line; one line says what gantrain takes."""
    for arg in argv:
        flag = arg.split("=", 1)[0]
        if arg.startswith("-") and flag not in _HYDRA_FLAGS:
            console.error(
                f"unknown option {flag}: gantrain takes key=value overrides (e.g. train.steps=1000, model=dcgan; "
                "`gantrain --cfg job` lists every key) and Hydra's flags (-m to sweep, --help)"
            )
            sys.exit(2)


def main() -> None:
    import logging

    # Hydra logs "Error executing job with overrides: [...]" before the one line gantrain says instead
    logging.getLogger("hydra.core.utils").setLevel(logging.CRITICAL)
    sys.argv[1:] = _comma_lists(_expand_home(sys.argv[1:]))
    _check_no_empty_values(sys.argv[1:])
    _check_flags(sys.argv[1:])
    for arg in sys.argv[1:]:  # a folder named on the command line: which of its parents are made for it
        key, _, value = arg.partition("=")
        if key.lstrip("+") in ("hydra.run.dir", "hydra.sweep.dir") and value and "$" not in value:
            _note_new_parents(os.path.join(value.strip("'\""), "_"))
    _install_one_line_errors()
    from hydra._internal.utils import run_and_report

    from gantrain.app.sweep_check import check_sweep

    run_and_report(lambda: check_sweep(sys.argv[1:], conf_dir()))  # a -m sweep: every job checked first
    _app()
