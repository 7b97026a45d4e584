"""bench/lost_game.py replays a run's logged d/fake through the training's lost-game watch."""

from pathlib import Path

from conftest import bench_module
from torch.utils.tensorboard import SummaryWriter


def test_a_logged_fall_is_found_where_the_watch_would_have_said_it(tmp_path: Path) -> None:
    m = bench_module("lost_game")
    writer = SummaryWriter(str(tmp_path / "tb"))
    for step in range(50, 3050, 50):  # healthy to step 1000, then D rejects every sample
        writer.add_scalar("d/fake", 0.3 if step < 1000 else 1e-4, step)
    writer.close()
    curve = m.d_fake_curve(tmp_path)
    assert len(curve) == 60
    assert m.said(curve) == [(1000, 2000)]  # 1,000 steps under 0.01
    assert m.said(curve, steps=5000) == []
