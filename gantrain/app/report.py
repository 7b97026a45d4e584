"""The sweep report: one table of a `-m` sweep's runs, their overrides against their final numbers.

Printed (rich) at the end of every `gantrain -m ...` (SweepReportCallback, a Hydra callback), and on
demand for any folder of runs:

    gantrain task=report sweep=multirun/DATE/TIME

and written beside the runs as report.md and report.csv. A run's final numbers are the last line of
its metrics.jsonl (the held-out `eval/*` numbers); a run without evaluations shows the last training
scalars from its summary.json instead.
"""

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from gantrain.core.errors import ConfigError, DataError
from gantrain.core.files import write_text, write_with

TRAINING_SCALARS = ("loss/d", "loss/g", "d/real", "d/fake")


@dataclass
class RunRow:
    folder: Path
    overrides: dict[str, str]  # key -> value, as typed on the command line
    step: int | None  # the last step it evaluated or logged
    metrics: dict[str, float]
    seconds: float | None = None  # wall time of its last invocation


@dataclass
class SweepReport:
    folder: Path
    rows: list[RunRow]
    swept: list[str]  # override keys whose value differs between runs
    common: dict[str, str]  # override keys every run shares, with their value
    metrics: list[str] = field(default_factory=list)  # metric columns, in order

    def header(self) -> list[str]:
        return ["run", *self.swept, "step", *self.metrics, "time (s)"]

    def cells(self, row: RunRow) -> list[str]:
        return [
            row.folder.name,
            *(row.overrides.get(k, "-") for k in self.swept),
            "-" if row.step is None else str(row.step),
            *(_number(row.metrics.get(m)) for m in self.metrics),
            "-" if row.seconds is None else f"{row.seconds:.0f}",
        ]


def _number(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def read_run(folder: Path) -> RunRow | None:
    """One run folder's overrides and final numbers; None when it is not a run folder; DataError naming
    the file when one of its records cannot be read (a damaged overrides.yaml, summary.json, metrics line)."""
    overrides_file = folder / ".hydra" / "overrides.yaml"
    if not overrides_file.is_file():
        return None
    try:
        return _read_run(folder, overrides_file)
    except Exception as e:  # noqa: BLE001 -- YAML, JSON, encoding, a file that is a folder: the run's records are unreadable
        raise DataError(f"{folder}: cannot read its records ({' '.join(str(e).split()) or type(e).__name__})") from None


def _read_run(folder: Path, overrides_file: Path) -> RunRow:
    from omegaconf import OmegaConf

    overrides: dict[str, str] = {}
    for text in OmegaConf.load(overrides_file) or []:
        key, _, value = str(text).partition("=")
        if not key.startswith("hydra.") and key.lstrip("+~") != "train.resume":
            overrides[key.lstrip("+~")] = value
    step, metrics, seconds = None, {}, None
    summary = folder / "summary.json"
    if summary.is_file():
        done = json.loads(summary.read_text())
        step, seconds = done.get("step"), done.get("seconds")
        metrics = {k: v for k, v in done.get("metrics", {}).items() if k in TRAINING_SCALARS}
    lines = (folder / "metrics.jsonl").read_text().splitlines() if (folder / "metrics.jsonl").is_file() else []
    if lines and lines[-1].strip():
        last = json.loads(lines[-1])
        step = last.pop("step", step)
        metrics = {k: float(v) for k, v in last.items()}
    return RunRow(folder, overrides, step, metrics, seconds)


def sweep_report(folder: str | Path | None) -> SweepReport:
    """The report of every run folder directly under `folder` (a multirun folder's 0/, 1/, ...)."""
    if folder is None or str(folder).strip() == "":
        raise ConfigError("task=report needs sweep=FOLDER: the folder of a -m sweep, e.g. sweep=multirun/DATE/TIME")
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"sweep={folder} is not a folder: pass a multirun folder, e.g. multirun/DATE/TIME")
    children = sorted(
        (p for p in folder.iterdir() if p.is_dir()), key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name)
    )
    rows = []
    for child in children:
        try:
            row = read_run(child)
        except DataError as e:
            from gantrain.core import console

            console.notice(f"{e}; that run is left out of the report")
            continue
        if row is not None:
            rows.append(row)
    if not rows:
        raise DataError(f"no runs under {folder}: a run folder holds .hydra/overrides.yaml (made by gantrain -m ...)")
    keys = list(dict.fromkeys(k for row in rows for k in row.overrides))
    swept = [k for k in keys if len({row.overrides.get(k) for row in rows}) > 1]
    common = {k: rows[0].overrides[k] for k in keys if k not in swept}
    evaluated = list(dict.fromkeys(m for row in rows for m in row.metrics if m.startswith("eval/")))
    metrics = evaluated or [m for m in TRAINING_SCALARS if any(m in row.metrics for row in rows)]
    return SweepReport(folder, rows, swept, common, metrics)


def write_report(report: SweepReport) -> tuple[Path, Path]:
    """report.md and report.csv in the sweep folder."""
    header = report.header()
    table = [report.cells(row) for row in report.rows]
    markdown = [f"| {' | '.join(header)} |", f"| {' | '.join('---' for _ in header)} |", *(f"| {' | '.join(r)} |" for r in table)]
    if report.common:
        markdown.append("")
        markdown.append("Every run: " + " ".join(f"`{k}={v}`" for k, v in report.common.items()))
    md = report.folder / "report.md"
    write_text(md, "\n".join(markdown) + "\n", "sweep report")
    csv_path = report.folder / "report.csv"
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    for row in report.rows:  # full precision in the CSV
        writer.writerow(
            [row.folder.name, *(row.overrides.get(k, "") for k in report.swept), "" if row.step is None else row.step]
            + [row.metrics.get(m, "") for m in report.metrics]
            + ["" if row.seconds is None else round(row.seconds, 1)]
        )
    write_text(csv_path, text.getvalue(), "sweep report")
    return md, csv_path


def print_report(report: SweepReport) -> None:
    from rich.table import Table

    from gantrain.core import console

    common = " ".join(f"{k}={v}" for k, v in report.common.items())
    table = Table(title=f"sweep {report.folder}" + (f" ({common})" if common else ""), title_justify="left")
    for name in report.header():
        table.add_column(name, justify="left" if name == "run" or name in report.swept else "right", overflow="fold")
    for row in report.rows:
        table.add_row(*report.cells(row))
    console.console.print(table)


def plot_report(report: SweepReport, metric: str | None = None) -> Path | None:
    """report.png: `metric` (default: the first metric column) against the swept parameter, one point
    per run; None when nothing was swept or no run has the metric. Several swept keys: the x axis
    names each run's combination."""
    from gantrain.core.errors import ConfigError

    if metric is not None and metric not in report.metrics:
        raise ConfigError(f"metric={metric} is not in this sweep's table: choose one of {', '.join(report.metrics) or '(none)'}")
    metric = metric or (report.metrics[0] if report.metrics else None)
    rows = [r for r in report.rows if metric is not None and metric in r.metrics]
    if not report.swept or not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [", ".join(r.overrides.get(k, "-") for k in report.swept) for r in rows]
    values = [r.metrics[metric] for r in rows]
    try:  # one numeric parameter: a curve over its values, in order
        xs = [float(label) for label in labels]
        numeric = len(report.swept) == 1
    except ValueError:
        numeric = False
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if numeric:
        order = sorted(range(len(xs)), key=xs.__getitem__)
        ax.plot([xs[i] for i in order], [values[i] for i in order], "o-")
        if min(xs) > 0 and max(xs) / min(xs) >= 20:
            ax.set_xscale("log")
        ax.set_xticks([xs[i] for i in order], [labels[i] for i in order])
    else:
        ax.plot(range(len(values)), values, "o")
        ax.set_xticks(range(len(values)), labels, rotation=30, ha="right")
    ax.set_xlabel(", ".join(report.swept))
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{metric} against {', '.join(report.swept)}")
    fig.tight_layout()
    path = report.folder / "report.png"
    write_with(path, "sweep chart", lambda f: fig.savefig(f, dpi=100, format="png"))
    plt.close(fig)
    return path


def report_sweep(folder: str | Path | None, metric: str | None = None) -> SweepReport:
    """Build, print and write the report of one sweep folder (table and plot)."""
    from gantrain.core import console

    report = sweep_report(folder)
    if metric is not None and metric not in report.metrics:  # before anything is printed or written
        plot_report(report, metric)
    print_report(report)
    md, csv_path = write_report(report)
    plot = plot_report(report, metric)
    console.info(
        f"report: {md} and {csv_path}" + (f"; {metric or report.metrics[0]} against {', '.join(report.swept)}: {plot}" if plot else "")
    )
    return report


class SweepReportCallback(Callback):
    """Hydra callback: after the last job of a `-m` sweep, the report of its runs."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        from gantrain.core import console
        from gantrain.core.errors import GantrainError

        try:
            report_sweep(Path(str(config.hydra.sweep.dir)))
        except GantrainError as e:  # no run got far enough to report: say so, the sweep itself is done
            console.notice(f"no sweep report ({e})")
