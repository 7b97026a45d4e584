"""Every file a run or a task writes goes through here: written whole or not at all, and a failure (a full
disk, a read-only folder, a quota) is one `OutputError` naming the file and the reason.

Why bytes first: `torch.save` and PIL report a full disk in their own ways (PyTorch's zip writer raises
`RuntimeError: unexpected pos ...`, which hides ENOSPC), so each file is made in memory and then written
with plain `os.write`, whose failure carries the operating system's errno. Checkpoints, the one kind of
file as large as the model, are streamed instead (`write_streamed`): their writer's first OSError is
kept and reported, whatever the zip writer turns it into, so a checkpoint never needs a copy in memory. Each file goes to a temporary
name beside its target, is flushed and fsync'ed, then renamed over it: a kill or a full disk at any moment
leaves the previous file (or none), never half of one.
"""

import errno
import io
import os
import re
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from torch import Tensor

from gantrain.core.errors import OutputError


def display_path(path: str | os.PathLike) -> str:
    """A path as the user would type it: relative to the working folder when it lies inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") and os.path.isabs(path) else relative


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file (mkstemp's are 0600)


def shell_word(path: str | os.PathLike) -> str:
    """A path that can be pasted into a shell as one word (quoted when it has spaces, brackets, quotes)."""
    return shlex.quote(display_path(path))


def override_word(key: str, path: str | os.PathLike) -> str:
    """`key=PATH` as one shell word that Hydra reads back as PATH: quoted for Hydra when the path holds
    anything its override grammar treats specially (spaces, brackets, commas, quotes, `${`), then for the shell."""
    value = display_path(path)
    if not re.fullmatch(r"[\w./+@%-]+", value):
        value = '"' + value.replace('"', '\\"').replace("${", "\\${") + '"'  # (OmegaConf reads \${ as a plain ${)
    return shlex.quote(f"{key}={value}")


def resume_command(run_dir: str | os.PathLike) -> str:
    """The command that continues the run in `run_dir`, ready to paste."""
    return f"gantrain {override_word('train.resume', run_dir)}"


def reason(e: BaseException) -> str:
    """An OSError's cause in words ("No space left on device"), or the exception's first line."""
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def is_disk_full(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


class _Sink:
    """A file object over a descriptor that keeps the first OSError of its writes (the caller's own
    library may swallow or rename it)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.error = fd, None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as e:
            self.error = self.error or e
            raise
        return len(data)

    def flush(self) -> None:
        pass


def write_streamed(path: Path, what: str, make: Callable[[BinaryIO], Any]) -> None:
    """Write what `make(file)` writes (torch.save of a checkpoint) to `path` atomically: straight to a
    temporary file beside it (nothing made in memory first), fsync, rename. On failure the temporary file
    is removed, `path` keeps what it held, and OutputError says "cannot write WHAT PATH (REASON)", REASON
    from the first OSError of the writes (ENOSPC, not the writer's own words for it)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        sink = _Sink(fd)
        try:
            os.fchmod(fd, _FILE_MODE)
            try:
                make(sink)
            except Exception:
                if sink.error is not None:
                    raise sink.error from None
                raise
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {what} {display_path(path)} ({reason(e)})") from None
    except BaseException:  # Ctrl-C half-way, or make() failing on its own: no temporary file left behind
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_bytes(path: Path, data: bytes, what: str) -> None:
    """Write `data` to `path` atomically, as write_streamed does."""
    write_streamed(path, what, lambda file: file.write(data))


def write_text(path: Path, text: str, what: str) -> None:
    write_bytes(path, text.encode("utf-8", "surrogateescape"), what)  # (a file name that is not UTF-8: its own bytes)


def append_line(path: Path, line: str, what: str) -> None:
    """Add one line to a small text file (metrics.jsonl), atomically: the file is rewritten whole."""
    try:
        old = path.read_bytes() if path.is_file() else b""
    except OSError as e:
        raise OutputError(f"cannot read {what} {display_path(path)} ({reason(e)})") from None
    write_bytes(path, old + line.rstrip("\n").encode() + b"\n", what)


def write_with(path: Path, what: str, make: Callable[[BinaryIO], Any]) -> None:
    """Write what `make(file)` writes (PIL's save, matplotlib's savefig, numpy's save), made in memory
    first and then written atomically, so that their own ways of failing on a full disk never show."""
    buffer = io.BytesIO()
    make(buffer)
    write_bytes(path, buffer.getbuffer(), what)


def png_bytes(grid: Tensor) -> bytes:
    """A (C, H, W) float image in [0, 1] (or a batch, tiled as torchvision does) as PNG bytes."""
    from torchvision.utils import save_image

    buffer = io.BytesIO()
    save_image(grid, buffer, format="png")
    return buffer.getvalue()


def save_png(path: Path, grid: Tensor, what: str = "image") -> None:
    write_bytes(path, png_bytes(grid), what)


RESERVE = ".gantrain-reserve"  # a run's spare room on its disk (see reserve)
RESERVE_BYTES = 256 << 10


def reserve(folder: Path) -> None:
    """Keep some room on `folder`'s disk: a file of RESERVE_BYTES that `release` deletes when a write fails
    for want of space, so that the run can still record where it stopped (summary.json). Best effort: on
    a disk already too full for it, nothing is kept."""
    path = folder / RESERVE
    try:
        if path.is_file() and path.stat().st_size == RESERVE_BYTES:
            return
        with open(path, "wb", buffering=0) as f:
            f.write(b"\0" * RESERVE_BYTES)  # written, not truncated: sparse files keep no room
    except OSError:
        path.unlink(missing_ok=True)


def release(folder: Path) -> None:
    (folder / RESERVE).unlink(missing_ok=True)


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (where the file system allows opening a folder)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def byte_size(n: float) -> str:
    """A size in words: 812 KiB, 3.4 MiB, 1.25 GiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.{2 if unit == 'GiB' else 1 if unit == 'MiB' else 0}f} {unit}"
    return f"{int(n)} bytes"
