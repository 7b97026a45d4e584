"""Ctrl-C, SIGTERM and SIGHUP, from a process's first line to its last.

Two modes. Outside the training loop (importing torch, composing the config, loading data, building the
networks, writing the summary) a signal ends the process at once: the command's `tidy` function removes
what it made for a run that never trained and returns the one line to say, and the process exits 130
(Ctrl-C) or 143 (SIGTERM). It must not raise KeyboardInterrupt there: raised in the middle of an import,
libraries catch it and turn it into errors of their own (Hydra's "Error locating target", numpy's
half-imported module), and the user would read those instead. Inside the training loop
(`checkpointing()`) the signal raises KeyboardInterrupt, which the loop turns into a checkpoint and a
line saying how to resume.

`install()` is the `gantrain` command's first act (gantrain/app/entry.py); a program that imports gantrain
without it keeps Python's own handling, which `checkpointing()` then leaves alone.
"""

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

SIGNALLED: list[int] = []  # the signals received, in order
# Ctrl-C, `kill` (and a scheduler's stop), the terminal closing (ssh dropped, the window shut)
HANDLED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
NOTHING_WRITTEN = "interrupted while starting, before any training: nothing was written"
_tidy: list[Callable[[], str]] = []  # the command's current way to tidy up and say what happened


def exit_code() -> int:
    """128 + the first signal's number, the shell's convention: 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP."""
    return 128 + int(SIGNALLED[0]) if SIGNALLED else 130


def say(line: str) -> None:
    """One line on stderr, without rich (it may be half-imported when the signal comes)."""
    red = "\033[1;31m" if sys.stderr.isatty() else ""
    try:
        sys.stderr.write(f"{red}error:{chr(27) + '[0m' if red else ''} {' '.join(line.split())}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed terminal
        pass


def _note(signum: int, frame: Any) -> None:
    SIGNALLED.append(signum)


def _exit_now(signum: int, frame: Any) -> None:
    SIGNALLED.append(signum)
    for each in HANDLED:  # a second Ctrl-C while tidying up: noted, not acted on
        signal.signal(each, _note)
    line = NOTHING_WRITTEN
    if _tidy:
        try:
            line = _tidy[-1]()
        except Exception as e:  # noqa: BLE001 -- whatever tidying meets, the line and the exit code still come
            line = f"interrupted ({NOTHING_WRITTEN.split(': ')[0]}; tidying up failed: {e})"
    say(line)
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    # not sys.exit: no exception may travel through half-imported libraries, and their exit handlers
    # (torch's among them) would print lines of their own
    os._exit(exit_code())


def _raise(signum: int, frame: Any) -> None:
    SIGNALLED.append(signum)
    raise KeyboardInterrupt


def install(tidy: Callable[[], str] | None = None) -> None:
    """Make the HANDLED signals end the process with one line (and `tidy`'s work) from now on."""
    if tidy is not None:
        _tidy.append(tidy)
    for each in HANDLED:
        signal.signal(each, _exit_now)


def on_interrupt(tidy: Callable[[], str]) -> None:
    """From now on, an interruption outside the loop calls `tidy` (which returns the line to say)."""
    _tidy.append(tidy)


def installed() -> bool:
    return signal.getsignal(signal.SIGINT) in (_exit_now, _raise, _note)


def hold_further() -> None:
    """After the first interruption, while the loop writes its checkpoint and the summary: further signals
    are noted (for the exit code), not acted on, so a second Ctrl-C cannot cut the checkpoint short or
    make the command say twice what happened."""
    if installed():
        for each in HANDLED:
            signal.signal(each, _note)


@contextmanager
def checkpointing() -> Iterator[None]:
    """The training loop: a signal raises KeyboardInterrupt, for the loop to checkpoint and stop."""
    if not installed():
        yield
        return
    previous = {each: signal.getsignal(each) for each in HANDLED}
    for each in HANDLED:
        signal.signal(each, _raise)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is _raise:  # (after hold_further, signals stay noted until the exit)
            for each, handler in previous.items():
                signal.signal(each, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Inside checkpointing(): a signal while a checkpoint is written is held until the write is done, then
    raised. torch.save's C++ writer cannot take an exception from the Python file it writes to: raised half-way,
    the file's zip records come out inconsistent and torch says "unexpected pos" instead of stopping."""
    if signal.getsignal(signal.SIGINT) is not _raise:
        yield
        return
    before = len(SIGNALLED)
    for each in HANDLED:
        signal.signal(each, _note)
    try:
        yield
    finally:
        for each in HANDLED:
            signal.signal(each, _raise)
    if len(SIGNALLED) > before:
        raise KeyboardInterrupt
