"""The console: what a run prints (rich), kept free of torch so that errors print without loading it."""

import os

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Under torchrun only rank 0 speaks (RANK is torchrun's; read here, before torch loads); errors are said by all.
_RANK = int(os.environ.get("RANK", "0"))
console = Console(stderr=False, highlight=False, soft_wrap=True, quiet=_RANK != 0)  # soft wrap: log files keep whole lines


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
    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {where}{one_line}", soft_wrap=True)
