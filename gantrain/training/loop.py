"""The training loop: the phases of the objective, step after step (for a GAN, Algorithm 1 of
Goodfellow et al. 2014: k discriminator steps, then one generator step), with logging, the objective's
pictures, evaluations, atomic checkpoints and exact resume.

The loop knows no network by name: the objective declares its phases (gantrain/core/objective.py) and
computes every loss; this loop alone calls backward() and step(), one optimiser per phase.
"""

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from gantrain.core import console, files
from gantrain.core.errors import CheckpointError, ConfigError, GantrainError, OutputError
from gantrain.core.files import append_line, display_path, resume_command, save_png, write_text
from gantrain.core.objective import Objective, Phase
from gantrain.core.priors import LatentPrior
from gantrain.data.base import ImageDataset, sample_images
from gantrain.metrics.evaluation import Evaluator, live_metrics
from gantrain.metrics.registry import metric
from gantrain.models.gemm_conv import use_gemm_convolutions
from gantrain.models.pictures import fixed_latent
from gantrain.training import interrupts, monitor
from gantrain.training.averaging import ParameterAverage
from gantrain.training.checkpoint import LAST, TrainingState, link_checkpoint, misfit, save_checkpoint
from gantrain.training.distributed import World, gather, mean_over_ranks, wrap
from gantrain.training.precision import MixedPrecision, compiled, descend, to_channels_last
from gantrain.training.settings import EvalSettings, TrainSettings

OptimizerFactory = Callable[[list[dict[str, Any]]], torch.optim.Optimizer]  # parameter groups -> an optimiser


def with_phase_settings(phases: list[Phase], settings: dict[str, dict[str, Any]]) -> list[Phase]:
    """The objective's phases with train.phases.<name>.* applied; a ConfigError for a name no phase has."""
    names = [phase.name for phase in phases]
    unknown = sorted(set(settings) - set(names))
    if unknown:
        raise ConfigError(f"train.phases.{unknown[0]}: this run's objective has no phase {unknown[0]!r}; its phases are {', '.join(names)}")
    return [dataclasses.replace(phase, **settings.get(phase.name, {})) for phase in phases]


@runtime_checkable
class DataInitialised(Protocol):
    """A network with a data-dependent initialisation (weight normalisation's, Salimans & Kingma 2016)."""

    def initialize_from_data(self, x: Tensor) -> None: ...


BEST = "best.pt"  # checkpoints/best.pt: the evaluation with the best train.best_by (Trainer._keep_best)


class TrainResult(NamedTuple):
    step: int
    metrics: dict[str, float]  # the last logged value of each scalar
    run_dir: Path
    last_checkpoint: Path | None
    last_samples: Path | None
    seconds: float
    # the evaluation with the best train.best_by ({"step", eval/*}), kept as checkpoints/best.pt; None: the
    # run kept none (no evaluation during training, or train.best_by=none)
    best: dict[str, float] | None = None
    last_evaluation: dict[str, float] | None = None  # the latest evaluation, {"step", eval/*}
    best_by: str | None = None  # the metric best.pt was kept by


class Trainer:
    """Trains a run's named networks by the phases of its objective, on one data set."""

    def __init__(
        self,
        *,
        networks: Mapping[str, nn.Module],
        objective: Objective,
        prior: LatentPrior | None,
        data: ImageDataset,
        make_optimizer: OptimizerFactory,
        settings: TrainSettings,
        run_dir: Path,
        device: torch.device,
        seed: int = 0,
        metadata: dict[str, Any] | None = None,
        hparams: dict[str, Any] | None = None,
        show_progress: bool = True,
        evaluate: Evaluator | None = None,
        eval_settings: EvalSettings | None = None,
        picture_inputs: Any = None,
        world: World = World(),
    ) -> None:
        self.nets: dict[str, nn.Module] = {name: net.to(device) for name, net in networks.items()}
        self.phases = with_phase_settings(objective.phases(settings.k), settings.phases)
        names = [phase.name for phase in self.phases]
        unknown = {n for phase in self.phases for n in phase.trains} - set(self.nets)
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"the objective's phases {names} train {sorted(unknown)}, which the run does not have, or repeat a name")
        if settings.nhwc(device):
            to_channels_last(*self.nets.values())
        self.precision = MixedPrecision(settings.precision, device)
        self.precision.attach(*self.nets.values())
        if self.precision.dtype is torch.bfloat16 and device.type == "cpu":
            use_gemm_convolutions(*self.nets.values())  # oneDNN's bf16 kernels are slow for 4x4 and 8x8 layers
        self.scalers = {phase.name: self.precision.scaler() for phase in self.phases}
        # what the phases call: the networks themselves, or DDP replicas and torch.compile'd views of them
        # (sharing their parameters), each wrapped on its own; everything else (checkpoints, pictures,
        # evaluation) uses self.nets
        self.world = world
        self._nets = {name: compiled(wrap(net, world, device), settings.compile) for name, net in self.nets.items()}
        self.objective, self.prior, self.data = objective, prior, data
        self.settings, self.device, self.seed = settings, device, seed
        self.run_dir = Path(run_dir)
        self.metadata = metadata or {}  # stored in every checkpoint: the config (YAML) and group choices
        self.hparams = hparams or {}  # shown in TensorBoard's HParams tab
        self.show_progress = show_progress
        # one optimiser per phase, one parameter group per network it trains
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        for phase in self.phases:
            self.optimizers[phase.name] = make_optimizer([{"params": list(self.nets[n].parameters())} for n in phase.trains])
            phase.configure(self.optimizers[phase.name])  # train.phases.<name>.*: the phase's own lr and betas
        self._keep_initial_lr()
        self.stream = data.stream(
            settings.batch_size, seed=seed, device=device, num_workers=settings.num_workers, rank=world.rank, world_size=world.size
        )
        spread = 7919 * world.rank  # each rank draws its own z and dropout masks (rank 0: as a single process)
        self.z_generator = torch.Generator().manual_seed(seed + 1 + spread)  # z for training steps (CPU: reproducible)
        # the fixed inputs of every picture (by default a fixed z and the grid's row length)
        self.picture_inputs = picture_inputs if picture_inputs is not None else fixed_latent(prior, settings.n_samples, seed, device)
        self.step = 0
        self.evaluate = evaluate  # the networks (averaged where eval.ema keeps an average) -> eval/* numbers
        self.eval_settings = eval_settings or EvalSettings()
        ema = self.eval_settings.ema
        averaged = evaluate.averaged if evaluate is not None and ema is not None else None
        # name -> the moving average of that network's weights which evaluations score (eval.ema), and G's
        # (train.g_ema), which the pictures, the evaluations and the tasks use in G's place
        self.averages = {averaged: ParameterAverage(self.nets[averaged], ema)} if averaged is not None else {}
        generator = objective.generator
        if settings.averages_g and generator is not None:
            if generator in self.averages:
                raise ConfigError(f"eval.ema and train.g_ema both average {generator}: keep one of them")
            self.averages[generator] = ParameterAverage(self.nets[generator], settings.g_ema_decay(0, settings.batch_size))
        self.best: dict[str, float] | None = None  # see TrainResult.best
        self.last_evaluation: dict[str, float] | None = None  # see TrainResult.last_evaluation
        self._said_best_by_missing = False
        # The loop's own torch RNG stream (dropout and any other torch.rand* inside the networks): seeded
        # from `seed`, saved in checkpoints, and swapped in only while fit() runs, so a run does not depend
        # on what the caller drew from torch's global RNG before.
        self._torch_rng = torch.Generator().manual_seed(seed + 3 + spread).get_state()
        self._cuda_rng: Tensor | None = None
        self._fitting = False
        self._restored = False  # loaded from a checkpoint: no data-dependent initialisation

    # ----- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The whole training state, in checkpoint format 2 (gantrain/training/checkpoint.py owns the format)."""
        live = self._fitting  # inside fit() the loop's stream is torch's current one
        rng: dict[str, Any] = {"torch": torch.get_rng_state() if live else self._torch_rng, "z": self.z_generator.get_state()}
        cuda = torch.cuda.get_rng_state(self.device) if live and self.device.type == "cuda" else self._cuda_rng
        if cuda is not None:
            rng["cuda"] = cuda
        if self.world.distributed:  # every rank's streams (a collective: all ranks call state_dict together)
            rng = {**rng, "ranks": gather(self.world, {k: v.cpu() for k, v in rng.items()})}
        return TrainingState(
            step=self.step,
            networks={name: net.state_dict() for name, net in self.nets.items()},
            optimizers={name: opt.state_dict() for name, opt in self.optimizers.items()},
            scalers={name: s.state_dict() for name, s in self.scalers.items() if s.is_enabled()},
            objective=self.objective.state_dict(),
            averages={name: average.state_dict() for name, average in self.averages.items()},
            data=self.stream.state_dict(),
            rng=rng,
            best=dict(self.best) if self.best is not None else None,
            metadata=self.metadata,
        ).to_checkpoint()

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        """Restore a checkpoint's state (format 2, or format 1 converted by gantrain.training.checkpoint)."""
        try:
            restored = TrainingState.from_checkpoint(state)
            for name, net in self.nets.items():
                try:
                    net.load_state_dict(restored.networks[name])
                except (KeyError, RuntimeError) as e:
                    raise CheckpointError(
                        f"checkpoint {display_path(source)} does not fit this model and config: {name}: {misfit(e)}"
                    ) from None
            for name, opt in self.optimizers.items():
                opt.load_state_dict(restored.optimizers[name])
            self._keep_initial_lr()  # a checkpoint from before train.lr_decay existed has none stored
            self.objective.load_state_dict(restored.objective)
            self.stream.load_state_dict(restored.data)
            rng = restored.rng
            ranks = rng.get("ranks", [])
            if self.world.distributed:  # this rank's own streams, if the run had as many processes
                rng = ranks[self.world.rank] if len(ranks) == self.world.size else self._fresh_rng(restored.step)
            self._torch_rng = rng["torch"]
            self._cuda_rng = rng.get("cuda")
            self.z_generator.set_state(rng["z"])
            for name, average in self.averages.items():
                if name in restored.averages:
                    average.load_state_dict(restored.averages[name])
            for name, scaler in self.scalers.items():
                if scaler.is_enabled() and name in restored.scalers:
                    scaler.load_state_dict(restored.scalers[name])
            self.step = restored.step
            self.best = restored.best
            self._restored = True
        except (KeyError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"checkpoint {display_path(source)} does not fit this model and config: {misfit(e)}") from None

    def _keep_initial_lr(self) -> None:
        """Each optimiser group's rate before any schedule ("initial_lr", as torch's schedulers name it;
        saved with the optimiser's state, and what a rollback lowers)."""
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])

    def _schedule_lr(self) -> None:
        """Set every learning rate for the step about to run: initial_lr x train.lr_decay's factor."""
        factor = self.settings.lr_factor(self.step + 1)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor

    def _fresh_rng(self, step: int) -> dict[str, Any]:
        """Streams for a run resumed with another number of processes: seeded from the step and rank."""
        base = self.seed + 104729 * step + 7919 * self.world.rank
        return {"torch": torch.Generator().manual_seed(base + 3).get_state(), "z": torch.Generator().manual_seed(base + 1).get_state()}

    # ----- outputs -----------------------------------------------------------------------------
    def save(self, keep_as: str | None = None) -> Path:
        """A checkpoint: step_N.pt (the newest keep_ckpts of them are kept), last.pt, and with `keep_as`
        a copy kept for good as <keep_as>.pt (e.g. resolution_16.pt, a finished resolution of ProGAN)."""
        folder = self.run_dir / "checkpoints"
        periodic = folder / f"step_{self.step:07d}.pt"
        state = self.state_dict()  # on every rank: it gathers their random states
        if not self.world.main:
            return folder / LAST
        save_checkpoint(state, periodic)
        link_checkpoint(periodic, folder / LAST)
        if keep_as is not None:
            link_checkpoint(periodic, folder / f"{keep_as}.pt")
        keep = self.settings.keep_ckpts
        if keep > 0:
            for old in sorted(folder.glob("step_*.pt"))[:-keep]:
                old.unlink(missing_ok=True)
        return folder / LAST

    def averaged_nets(self) -> dict[str, nn.Module]:
        """The networks, each moving average of weights in its network's place (eval.ema, train.g_ema)."""
        return {**self.nets, **{name: average.average for name, average in self.averages.items()}}

    def write_samples(self, log: monitor.Monitor) -> Path:
        """Draw the objective's pictures: the first to samples/step_N.png, all to TensorBoard."""
        pictures = self.objective.pictures(self.averaged_nets(), self.picture_inputs)
        first = next(iter(pictures))
        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        save_png(path, pictures[first], "samples")
        for name, picture in pictures.items():
            log.image(name, picture, self.step)
        return path

    def record_metrics(self, numbers: dict[str, float]) -> None:
        """Append one evaluation to run_dir/metrics.jsonl: {"step": ..., "eval/...": ...} per line."""
        if not self.world.main:
            return
        append_line(self.run_dir / "metrics.jsonl", json.dumps({"step": self.step, **{k: float(v) for k, v in numbers.items()}}), "metrics")

    def _drop_metrics_after(self, step: int) -> None:
        """On resume: forget evaluations after the checkpoint's step (a run killed after evaluating but
        before its next checkpoint evaluates those steps again), as TensorBoard's purge_step does; the latest
        kept is the run's last evaluation until it evaluates again."""
        path = self.run_dir / "metrics.jsonl"
        if path.is_file() and self.world.main:
            kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
            write_text(path, "".join(line + "\n" for line in kept), "metrics")
            if kept:
                self.last_evaluation = {k: float(v) for k, v in json.loads(kept[-1]).items()}

    def write_summary(self, result: TrainResult, *, finished: bool) -> None:
        """run_dir/summary.json: where this invocation ended and the last value of every scalar (read by
        the sweep report)."""
        summary = {"step": result.step, "finished": finished, "seconds": round(result.seconds, 1), "metrics": result.metrics}
        if self.best is not None:
            summary["best"] = {"by": self.best_by(), **self.best}
        if self.last_evaluation is not None:
            summary["last"] = self.last_evaluation
        if self.world.main:
            write_text(self.run_dir / "summary.json", json.dumps(summary, indent=1) + "\n", "summary")

    def _cannot_write(self, failure: OutputError, result: TrainResult) -> OutputError:
        """A file of the run could not be written (a full disk): say what is intact and what to do, in
        one line, and record where the run stopped in summary.json where that can still be written."""
        files.release(self.run_dir)  # the room kept for this moment
        try:
            self.write_summary(result, finished=False)
        except OutputError:
            pass
        last = self.run_dir / "checkpoints" / LAST
        text = str(failure)
        if last.is_file():
            if "is intact" not in text:
                text += f"; the checkpoints up to {display_path(last)} are intact"
            return type(failure)(f"{text}: free space (or fix the folder), then resume with: {resume_command(self.run_dir)}")
        return type(failure)(
            f"{text}; no checkpoint had been written, so the run cannot be resumed: free space (or fix the folder) and start it again"
        )

    # ----- the loop ----------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        best_by = self.settings.best_by
        if best_by not in (None, "none") and (self.evaluate is None or not self.eval_settings.every):
            raise ConfigError(  # before any step
                f"train.best_by={best_by} keeps the best evaluation during training, and this run evaluates none: "
                "set eval.every=N (and eval.n > 0 for sample scores), or drop train.best_by"
            )
        cuda = self.device.type == "cuda"
        with torch.random.fork_rng(devices=[self.device.index or 0] if cuda else []):
            torch.set_rng_state(self._torch_rng)
            if cuda:
                if self._cuda_rng is not None:
                    torch.cuda.set_rng_state(self._cuda_rng, self.device)
                else:
                    torch.cuda.manual_seed(self.seed + 3)
            self._fitting = True
            try:
                return self._fit()
            finally:
                self._fitting = False
                self._torch_rng = torch.get_rng_state()
                self._cuda_rng = torch.cuda.get_rng_state(self.device) if cuda else None

    def _fit(self) -> TrainResult:
        s = self.settings
        start = time.perf_counter()
        main = self.world.main  # the other ranks train and keep quiet
        try:
            log = monitor.Monitor(
                self.run_dir / "tb" if main else None, total_steps=s.steps, start_step=self.step, show_progress=self.show_progress and main
            )
        except OutputError as failure:
            raise self._cannot_write(
                failure, TrainResult(self.step, {}, self.run_dir, None, None, 0.0, self.best, self.last_evaluation, self.best_by())
            ) from None
        sums: dict[str, Tensor] = {}
        counts: dict[str, int] = {}
        last_ckpt: Path | None = None
        last_samples: Path | None = None

        def result_now() -> TrainResult:  # where the run stands, for the summary and the line that stops it
            return TrainResult(
                self.step,
                dict(log.latest),
                self.run_dir,
                last_ckpt,
                last_samples,
                time.perf_counter() - start,
                self.best,
                self.last_evaluation,
                self.best_by(),
            )

        tick, tick_step = time.perf_counter(), self.step
        interrupted = False
        if self.step == 0 and not self._restored:
            self.initialize_from_data()
        rollbacks, reported_skips = 0, 0
        checked = self.step  # the last step whose losses were seen to be finite
        try:
            if main:
                files.reserve(self.run_dir)  # room to record where the run stopped should the disk fill
            if self._restored:
                self._drop_metrics_after(self.step)
            if self.step == 0:
                metrics = list(self.objective.metrics)
                if self.evaluate is not None:
                    metrics.append(self.evaluate.name)
                log.hyperparameters(self.hparams, metrics)
            if s.nan_policy == "rollback" and not (self.run_dir / "checkpoints" / LAST).is_file():
                last_ckpt = self.save()  # something to roll back to
            with interrupts.checkpointing():  # a signal from here on: a checkpoint, then stop
                try:
                    out_of_time = False
                    while self.step < s.steps and not out_of_time:
                        for terms in self.train_step():
                            for name, value in terms.items():
                                sums[name] = sums[name] + value if name in sums else value.clone()
                                counts[name] = counts.get(name, 0) + 1
                        self.step += 1
                        out_of_time = s.time_limit is not None and time.perf_counter() - start >= s.time_limit
                        last = self.step == s.steps or out_of_time
                        events = self.objective.after_step()
                        if events.restart_optimisers:
                            for optimizer in self.optimizers.values():
                                optimizer.state.clear()  # Adam's moments start again (the step counts too)
                        # NaN/Inf: checked every step on one CPU process; on a GPU or under torchrun (a sync, a collective)
                        # only where the loop synchronises anyway: logs and checkpoints
                        every_step = self.device.type == "cpu" and not self.world.distributed
                        if every_step or last or self.step % s.log_every == 0 or self.step % s.ckpt_every == 0:
                            bad = _non_finite(self.world, {**sums, **self._weight_sums()})
                            if bad is not None:
                                if s.nan_policy != "rollback" or rollbacks >= s.nan_retries:
                                    raise NonFiniteLoss(self._nan_message(bad, checked, rollbacks))
                                rollbacks += 1
                                self.rollback(bad, checked, log)
                                sums, counts, checked = {}, {}, self.step
                                tick, tick_step = time.perf_counter(), self.step
                                continue
                            checked = self.step
                        if self.evaluate is not None and self.eval_settings.every and (self.step % self.eval_settings.every == 0 or last):
                            numbers: dict[str, float] = {}
                            if main:  # rank 0 alone evaluates
                                numbers = self.evaluate(self.averaged_nets())
                                if last:  # the costly numbers, once (Evaluator.closing)
                                    numbers.update(self.evaluate.closing(self.averaged_nets()))
                                if self.averages:
                                    numbers.update(live_metrics(self.evaluate, self.nets))
                                log.scalars(self.step, numbers)
                                self.record_metrics(numbers)
                                self.last_evaluation = {"step": self.step, **{k: float(v) for k, v in numbers.items()}}
                            self._keep_best(numbers)  # on every rank: a checkpoint gathers every rank's state
                        if self.step % s.log_every == 0 or last:
                            means = log.scalars(
                                self.step, mean_over_ranks(self.world, {n: sums[n] / counts[n] for n in sums})
                            )  # the only GPU sync
                            advice = self.objective.advise(self.step, means, self.run_dir / "samples")
                            if advice is not None:
                                log.warn(advice)
                            sums, counts = {}, {}
                            now = time.perf_counter()
                            rate = (self.step - tick_step) / max(now - tick, 1e-9)
                            tick, tick_step = now, self.step
                            log.scalars(self.step, {"perf/steps_per_s": rate})
                            if s.lr_decay:  # the schedule's rates, to read beside the losses
                                log.scalars(
                                    self.step, {f"optim/lr_{name}": opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}
                                )
                            reported_skips = self._report_skipped(log, reported_skips)
                            if self.device.type == "cuda":
                                log.scalars(
                                    self.step, {"perf/cuda_max_allocated_mib": torch.cuda.max_memory_allocated(self.device) / 2**20}
                                )
                            log.advance(self.step, rate)
                        if main and (self.step % s.sample_every == 0 or last):
                            last_samples = self.write_samples(log)
                        if self.step % s.ckpt_every == 0 or last or events.keep_checkpoint:
                            last_ckpt = self.save(keep_as=events.keep_checkpoint)
                except KeyboardInterrupt:
                    interrupted = True
                    interrupts.hold_further()  # a second Ctrl-C must not cut this checkpoint short
                    last_ckpt = self.save()
                finally:
                    self.stream.close()
                    log.close()  # never raises: a failed TensorBoard write is kept in log.failure
            if log.failure is not None:
                raise log.failure
            result = result_now()
            files.release(self.run_dir)
            self.write_summary(result, finished=not interrupted)
        except NonFiniteLoss:
            files.release(self.run_dir)
            self.write_summary(
                result_now(),
                finished=False,
            )
            raise
        except OutputError as failure:  # a full disk, a read-only folder: one line, and what is intact
            stopped = result_now()
            raise self._cannot_write(failure, stopped) from None
        if interrupted:
            raise TrainingInterrupted(result)
        return result

    def best_by(self) -> str | None:
        """The metric best.pt is kept by: train.best_by, or the evaluation's own choice (FID where it is
        computed); None: no best.pt (no evaluation, or train.best_by=none)."""
        if self.settings.best_by == "none" or self.evaluate is None:
            return None
        return self.settings.best_by or self.evaluate.select_by

    def _keep_best(self, numbers: dict[str, float]) -> None:
        """Keep the checkpoint of the best evaluation so far by `best_by()` (lower or higher is better as the
        metric declares, gantrain/metrics/registry.py) as checkpoints/best.pt; a tie keeps the earlier one. Training
        resumes from last.pt all the same: best.pt is for the tasks (checkpoint=best).
        Called on every rank at every evaluation: under torchrun rank 0 alone has the numbers and says
        whether they improved, and all ranks then build the checkpoint, which gathers each rank's state."""
        key = self.best_by()
        if key is None:
            return
        if self.world.main and numbers and key not in numbers:  # a metric this evaluation does not compute:
            # said once; training goes on (stopping here would lose the steps since the last checkpoint)
            if not self._said_best_by_missing:
                console.notice(
                    f"train.best_by={key}: this run's evaluation reports {', '.join(sorted(numbers))}, not {key}, so no "
                    "best.pt is kept; choose one of those next time (or train.best_by=none)"
                )
                self._said_best_by_missing = True
        direction = metric(key)
        improved = key in numbers and (self.best is None or key not in self.best or direction.better(numbers[key], self.best[key]))
        if self.world.distributed:
            improved = bool(gather(self.world, improved)[0])  # rank 0's verdict, on every rank
        if not improved:
            return
        if self.world.main:
            self.best = {"step": self.step, **{name: float(value) for name, value in numbers.items()}}
        state = self.state_dict()  # (holding the new best: a run resumed from best.pt knows it)
        if self.world.main:
            save_checkpoint(state, self.run_dir / "checkpoints" / BEST)

    def _report_skipped(self, log: monitor.Monitor, reported: int) -> int:
        """data.on_error=skip: log data/skipped, say when new unreadable files were met, and list them all in
        run_dir/skipped_images.txt. Returns how many have been reported."""
        skipped = self.data.skipped() if self.world.main else {}
        if self.data.on_error == "skip":
            log.scalars(self.step, {"data/skipped": len(skipped)})
        if len(skipped) > reported:
            listing = self.run_dir / "skipped_images.txt"
            write_text(listing, "".join(f"{path}\t{why}\n" for path, why in sorted(skipped.items())), "the list of skipped images")
            first = list(skipped)[reported]  # the log is in the order the files were met
            log.warn(f"{len(skipped)} unreadable image(s) skipped so far (data.on_error=skip), e.g. {first}; all listed in {listing}")
        return len(skipped)

    def _weight_sums(self) -> dict[str, Tensor]:
        """Σ of each network's weights: NaN or Inf exactly when one of them is (checked before any checkpoint
        is written, so that a checkpoint never holds them)."""
        return {
            f"the weights of the {name}": torch.stack([p.detach().float().sum() for p in net.parameters()]).sum()
            for name, net in self.nets.items()
        }

    def _nan_message(self, bad: str, checked: int, rollbacks: int) -> str:
        when = f"step {self.step}" if checked == self.step - 1 else f"a step in {checked + 1}..{self.step}"
        last = self.run_dir / "checkpoints" / LAST
        kept = f"the last good checkpoint {display_path(last)} is kept" if last.is_file() else "no checkpoint had been written"
        tried = f" after {rollbacks} rollbacks (train.nan_retries)" if rollbacks else ""
        fix = "lower optim.lr (or a loss weight you raised)" + ("" if rollbacks else ", or set train.nan_policy=rollback")
        return f"{bad} became NaN or Inf at {when}{tried}; {kept}; {fix}"

    def rollback(self, bad: str, checked: int, log: monitor.Monitor) -> None:
        """Reload the last checkpoint (weights, optimisers, data position, RNG) and multiply both learning
        rates by train.nan_lr_factor: the same steps are retried, more cautiously."""
        from gantrain.training.checkpoint import load_checkpoint

        path = self.run_dir / "checkpoints" / LAST
        lrs = [[g["initial_lr"] for g in opt.param_groups] for opt in self.optimizers.values()]
        failed_at = self.step
        self.load_state_dict(load_checkpoint(path, map_location=self.device), path)
        factor = self.settings.nan_lr_factor
        for opt, before in zip(self.optimizers.values(), lrs):
            for group, lr in zip(opt.param_groups, before):
                group["initial_lr"] = lr * factor
        self._schedule_lr()
        torch.set_rng_state(self._torch_rng)  # the loop's own stream, as restored
        if self.device.type == "cuda" and self._cuda_rng is not None:
            torch.cuda.set_rng_state(self._cuda_rng, self.device)
        self._drop_metrics_after(self.step)
        rates = ", ".join(f"{name}'s {opt.param_groups[0]['lr']:.3g}" for name, opt in self.optimizers.items())
        log.warn(
            f"{bad} became NaN or Inf by step {failed_at}: rolled back to step {self.step} ({path}), "
            f"learning rates x{factor}, now {rates} (train.nan_policy=rollback)"
        )

    def initialize_from_data(self, n: int = 500) -> None:
        """Give networks with a data-dependent initialisation (`initialize_from_data(x)`, e.g. weight
        normalisation's) a fixed sample of n real images before the first step; no-op for the others."""
        nets = {name: net for name, net in self.nets.items() if isinstance(net, DataInitialised)}
        if not nets:
            return
        x = sample_images(self.data, n, seed=self.seed).to(self.device)
        for net in nets.values():
            net.train()
            net.initialize_from_data(x)
        for name, average in self.averages.items():  # an average starts from the initialised weights
            average.load_state_dict(self.nets[name].state_dict())

    def train_step(self) -> list[dict[str, Tensor]]:
        """One step: each phase of the objective in order, each as many times as it repeats. Returns the
        logged terms of each."""
        self._schedule_lr()
        for net in self.nets.values():
            net.train()
        logs: list[dict[str, Tensor]] = []
        batch = None
        for phase in self.phases:
            if not phase.runs_at(self.step):
                continue  # a lazy phase (every N steps) between its runs
            optimizer, scaler = self.optimizers[phase.name], self.scalers[phase.name]
            # the networks this phase does not train: gradients flow through them, not into their weights
            frozen = [net for name, net in self.nets.items() if name not in phase.trains]
            for _ in range(phase.repeats):
                if phase.new_batch or batch is None:
                    batch = next(self.stream)
                latent = None
                if self.prior is not None and phase.latent:
                    latent = self.prior.sample(len(batch.x), device=self.device, generator=self.z_generator)
                for net in frozen:
                    net.requires_grad_(False)
                try:
                    with self.precision.autocast():
                        terms = phase.loss(self._nets, batch, latent)
                    descend(terms.loss, optimizer, scaler)
                finally:
                    for net in frozen:
                        net.requires_grad_(True)
                for name in phase.trains:
                    if name in self.averages:
                        self.averages[name].update(self.nets[name], self._decay(name, len(batch.x)))
                logs.append(terms.logs)
        return logs

    def _decay(self, name: str, batch_images: int) -> float | None:
        """The decay of `name`'s average for this update: G's from train.g_ema / g_ema_images (a function of
        the step, so a resumed run follows it exactly), None (the average's own) for eval.ema's."""
        if name != self.objective.generator:
            return None
        world_batch = self.settings.batch_size * self.world.size  # images seen per step, all processes
        return self.settings.g_ema_decay(self.step * world_batch, batch_images * self.world.size)


def _non_finite(world: World, sums: dict[str, Tensor]) -> str | None:
    """The first logged term whose running sum is NaN or Inf (a NaN anywhere since the last check stays
    NaN in the sum), or None; under torchrun every rank gets the same answer."""
    names = sorted(sums, key=lambda n: (not n.startswith("loss/"), n))  # a loss is named first, then what fed it
    finite = (
        torch.stack([torch.isfinite(sums[n].detach().float().reshape(())) for n in names]) if names else torch.ones(0, dtype=torch.bool)
    )
    if world.distributed:
        import torch.distributed as dist

        flags = (~finite).float()
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        finite = flags == 0
    bad = [n for n, ok in zip(names, finite.tolist()) if not ok]
    return bad[0] if bad else None


class NonFiniteLoss(GantrainError):
    """A loss became NaN or Inf (train.nan_policy=stop, or rollbacks exhausted); checkpoints are kept."""


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM: a checkpoint was written; `result` says where."""

    def __init__(self, result: TrainResult) -> None:
        super().__init__("training interrupted")
        self.result = result
