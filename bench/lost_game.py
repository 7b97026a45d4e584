"""Replays runs' logged mean D(G(z)) (TensorBoard's `d/fake`) through the watch that training uses
(`gantrain.losses.lost_game.LostGameWatch`) and prints, per run, where it would have said that G lost the game,
with the lowest d/fake logged: a check of the watch's threshold on real curves, old runs included.

    python bench/lost_game.py RUN [RUN ...]
"""

import argparse
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gantrain.losses.lost_game import LOST_GAME_D_FAKE, LOST_GAME_STEPS, LostGameWatch


def said(curve: list[tuple[int, float]], threshold: float = LOST_GAME_D_FAKE, steps: int = LOST_GAME_STEPS) -> list[tuple[int, int]]:
    """(the step the fall began, the step it would have been said) for each note on this (step, d/fake) curve."""
    watch = LostGameWatch(threshold, steps)
    notes = []
    for step, value in curve:
        since = watch.update(step, value)
        if since is not None:
            notes.append((since, step))
    return notes


def d_fake_curve(run: Path) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars("d/fake")] if "d/fake" in events.Tags()["scalars"] else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (each with tb/)")
    args = parser.parse_args()
    for run in args.runs:
        curve = d_fake_curve(run)
        if not curve:
            print(f"{run}: no d/fake logged")
            continue
        notes = ", ".join(f"at step {step} (fell at {since})" for since, step in said(curve)) or "never"
        print(f"{run}: {len(curve)} logs to step {curve[-1][0]}, lowest d/fake {min(v for _, v in curve):.2g}; said {notes}")


if __name__ == "__main__":
    main()
