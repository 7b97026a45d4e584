"""What a run shows: TensorBoard event files (curves, sample grids, hyperparameters) and a rich console
(progress bar with it/s, ETA and live losses; a summary table at the end).

Scalars arrive as device tensors and are turned into numbers only here, at logging time, so the
training loop synchronises with the GPU once per `log_every` steps rather than every step.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from gantrain.core.console import console
from gantrain.core.errors import OutputError
from gantrain.core.files import display_path, reason

PLAIN_EVERY = 15.0  # seconds between progress lines when the console is not a terminal (CI, SLURM logs)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        elif value is None:
            out[name] = "none"
        else:
            out[name] = str(value)
    return out


def _quiet_writer_threads() -> None:
    """TensorBoard writes from a thread of its own; when that write fails (a full disk) the thread would
    print its own traceback, and the main thread gets the same error at its next write, where gantrain
    says it in one line. Silence the thread's copy (once per process; other threads are reported as before)."""
    if getattr(threading.excepthook, "gantrain", False):
        return
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if type(args.thread).__module__.startswith("tensorboard.") and isinstance(args.exc_value, OSError):
            return
        previous(args)

    hook.gantrain = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def _events(tb_dir: Path, call: Callable[[], Any]) -> Any:
    """Run one TensorBoard writer call; a failed write (a full disk) becomes one OutputError."""
    try:
        return call()
    except (OSError, RuntimeError) as e:
        raise OutputError(f"cannot write TensorBoard events in {display_path(tb_dir)} ({reason(e)})") from None


@contextmanager
def event_writer(tb_dir: Path) -> Iterator[SummaryWriter]:
    """A TensorBoard writer that adds to a run's existing curves (a task scoring the run, say), closed after."""
    _quiet_writer_threads()
    writer = _events(tb_dir, lambda: SummaryWriter(str(tb_dir)))
    try:
        yield writer
    finally:
        _events(tb_dir, writer.close)


class Monitor:
    """TensorBoard writer plus console progress for one run."""

    def __init__(self, tb_dir: Path | None, *, total_steps: int, start_step: int = 0, show_progress: bool = True) -> None:
        # purge_step drops events a crashed run wrote after its last checkpoint, so curves do not fork.
        # Those of the checkpoint's own step stay: they were logged before it was written (the evaluation
        # at a resume point among them). No tb_dir: numbers are kept (latest) but nothing is written, as on
        # the ranks other than 0.
        _quiet_writer_threads()
        self.tb_dir = tb_dir
        self.writer = None
        if tb_dir is not None:
            self.writer = _events(tb_dir, lambda: SummaryWriter(str(tb_dir), purge_step=start_step + 1 if start_step > 0 else None))
        self.failure: OutputError | None = None  # a TensorBoard write that failed while closing
        self.total_steps = total_steps
        self.latest: dict[str, float] = {}
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._plain = show_progress and not console.is_terminal  # a log file: lines, not a live bar
        self._last_line = time.monotonic()
        if show_progress and not self._plain:
            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[losses]}"),
                console=console,
                refresh_per_second=4,
            )
            self._task = self._progress.add_task("train", total=total_steps, completed=start_step, rate="", losses="")
            self._progress.start()

    def hyperparameters(self, params: dict[str, Any], metrics: list[str]) -> None:
        """Record the run's settings for TensorBoard's HParams tab, linked to the named scalar curves."""
        if self.writer is None:
            return
        experiment, session_start, session_end = hparams(_flat(params), {m: 0.0 for m in metrics})
        for summary in (experiment, session_start, session_end):
            self._write(lambda writer: writer.file_writer.add_summary(summary))

    def _write(self, call: Callable[[SummaryWriter], Any]) -> None:
        if self.writer is not None and self.tb_dir is not None:
            writer = self.writer
            _events(self.tb_dir, lambda: call(writer))

    def scalars(self, step: int, values: dict[str, Tensor | float]) -> dict[str, float]:
        numbers = {k: float(v.item() if isinstance(v, Tensor) else v) for k, v in values.items()}
        for name, number in numbers.items():
            self._write(lambda writer: writer.add_scalar(name, number, step))
        self.latest.update(numbers)
        return numbers

    def image(self, tag: str, grid: Tensor, step: int) -> None:
        """grid: (3, H, W) float in [0, 1]."""
        self._write(lambda writer: writer.add_image(tag, grid, step))

    def advance(self, step: int, rate: float | None = None) -> None:
        if self._plain:  # at most one line per PLAIN_EVERY seconds, and the last step
            now = time.monotonic()
            if now - self._last_line >= PLAIN_EVERY or step == self.total_steps:
                self._last_line = now
                losses = "  ".join(f"{k} {v:.3f}" for k, v in self.latest.items() if k.startswith(("loss/", "d/", "eval/")))
                speed = f"  {rate:.1f} it/s" if rate is not None else ""
                console.print(f"step {step}/{self.total_steps}{speed}  {losses}")
        if self._progress is not None and self._task is not None:
            losses = "  ".join(f"{k} {v:.3f}" for k, v in self.latest.items() if k.startswith(("loss/", "d/", "eval/")))
            fields: dict[str, Any] = {"losses": losses}
            if rate is not None:
                fields["rate"] = f"{rate:.1f} it/s"
            self._progress.update(self._task, completed=step, **fields)

    def warn(self, message: str) -> None:
        """A line above the progress bar (rank 0 only, like everything the console says)."""
        from rich.markup import escape

        console.print(f"[yellow]note:[/] {escape(message)}")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        if self.writer is not None:
            try:
                self._write(lambda writer: writer.flush())
            except OutputError as e:
                self.failure = e
            try:
                self.writer.close()
            except Exception:  # the same failure again (the writer thread has stopped): said once
                pass
            self.writer = None
