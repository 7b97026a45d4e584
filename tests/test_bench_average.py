"""bench/average_checkpoints.py's weighted average of D's states (the benchmark's arithmetic)."""

from pathlib import Path

import torch
from conftest import bench_module


def test_the_average_weighs_float_tensors_and_keeps_the_last_counters() -> None:
    m = bench_module("average_checkpoints")
    a = {"w": torch.tensor([0.0, 4.0]), "n": torch.tensor(1)}
    b = {"w": torch.tensor([8.0, 0.0]), "n": torch.tensor(7)}
    out = m.averaged_state([a, b], [0.25, 0.75])
    assert torch.equal(out["w"], torch.tensor([6.0, 1.0]))  # 0.25*a + 0.75*b, element by element
    assert out["w"].dtype == torch.float32
    assert int(out["n"]) == 7


def test_checkpoints_are_ordered_by_their_step() -> None:
    m = bench_module("average_checkpoints")
    assert m.step_of(Path("x/step_0061800.pt")) == 61800
    assert sorted([Path("step_0010000.pt"), Path("step_0009000.pt")], key=m.step_of)[0].name == "step_0009000.pt"
