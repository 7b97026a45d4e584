"""bench/semi_supervised.py's pre-flight check: overrides that a resumed run would drop are refused."""

import subprocess
import sys
from pathlib import Path

from conftest import ROOT, bench_module

BENCH = ROOT / "bench" / "semi_supervised.py"


def _stopped_run(results: Path, name: str, seed: int, overrides: list[str]) -> None:
    folder = results / name / f"seed{seed}"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.pt").write_bytes(b"")  # only its presence matters here
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


def test_only_overrides_a_resumed_run_was_not_started_with_are_named(tmp_path: Path) -> None:
    m = bench_module("semi_supervised")
    _stopped_run(tmp_path, "sgan", 0, ["model=sgan", "data.label_seed=0", "loss.fresh_batch=true"])
    jobs = [("sgan", 0), ("sgan", 1)]  # seed 1 has not run: it starts new and takes every override
    assert m.unapplied_overrides(tmp_path, jobs, ["loss.fresh_batch=true"]) == []
    lines = m.unapplied_overrides(tmp_path, jobs, ["loss.fresh_batch=true", "eval.ema=0.999"])
    assert lines == [f"{tmp_path / 'sgan' / 'seed0'} resumes with its own settings and was started without eval.ema=0.999"]


def test_the_harness_refuses_before_starting_anything(tmp_path: Path) -> None:
    _stopped_run(tmp_path, "sgan", 0, ["model=sgan", "data.label_seed=0"])
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--mnist",
            str(tmp_path),
            "--results",
            str(tmp_path),
            "--runs",
            "sgan",
            "--seeds",
            "0",
            "--steps",
            "10",
            "eval.ema=0.999",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "started without eval.ema=0.999" in done.stderr
    assert "--results bench/results/NEW_NAME" in done.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing ran, nothing written
