"""The console: what a run prints (rich), kept free of torch so that errors print without loading it."""

import io
import os
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Under torchrun only rank 0 speaks (RANK is torchrun's; read here, before torch loads); errors are said by all.
_RANK = int(os.environ.get("RANK", "0"))


class Outliving(io.TextIOBase):
    """sys.stdout or sys.stderr (looked up at each write, as rich does), outliving its reader: once a write
    fails (`gantrain ... | head` has exited, the terminal or the ssh session is gone, a full disk under
    `> log`), the rest of that output is dropped and the run goes on; its results are in its folder.
    Python's own last flush of the stream then goes to /dev/null instead of printing a BrokenPipeError."""

    def __init__(self, name: str) -> None:
        self.name, self.lost = name, False

    def _stream(self) -> "io.TextIOBase":
        return getattr(sys, self.name)

    def _drop(self) -> None:
        self.lost = True
        try:
            stream = self._stream()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            pass

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                self._stream().write(text)
            except (OSError, ValueError):  # EPIPE, EIO, ENOSPC; ValueError: the stream was closed
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._stream().flush()
            except (OSError, ValueError):
                self._drop()

    def isatty(self) -> bool:
        try:
            return not self.lost and self._stream().isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream().fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream(), "encoding", None) or "utf-8"


STDOUT, STDERR = Outliving("stdout"), Outliving("stderr")
console = Console(file=STDOUT, highlight=False, soft_wrap=True, quiet=_RANK != 0)  # soft wrap: log files keep whole lines


def summary_table(title: str, rows: dict[str, str]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")  # a long path wraps onto the next line instead of ending in "…"
    for key, value in rows.items():
        table.add_row(key, value)
    return table


def notice(message: str) -> None:
    console.print(f"[yellow]note:[/] {message}")


def info(message: str) -> None:
    console.print(message)


def error(message: str) -> None:
    """One line on stderr, whatever the message embeds (a library's multi-line error, say)."""
    one_line = escape(" ".join(message.split()))  # escape: "[Errno 2]" is text, not rich markup
    where = f"rank {_RANK}: " if _RANK else ""
    Console(file=STDERR, highlight=False).print(f"[bold red]error:[/] {where}{one_line}", soft_wrap=True)
