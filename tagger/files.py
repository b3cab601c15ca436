"""Atomic, durable writing: a file or folder appears under its name only once complete.

The data is flushed to disk (fsync) before the rename and the folder entry after it, so that
after a crash or power loss the name holds either the old content or the whole new one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sync_path(path: Path) -> None:
    """fsync a file or folder by name (a folder: its entries, e.g. after a rename)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: Path, binary: bool = False) -> Iterator[TextIO | BinaryIO]:
    """Write a UTF-8 text file (or a binary one) beside `path`, renamed to it only if the
    block succeeds."""
    folder = path.absolute().parent
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=folder)
    try:
        with (os.fdopen(handle, "wb") if binary else
              os.fdopen(handle, "w", encoding="utf-8")) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
        sync_path(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Fill a fresh folder beside `path`; on success it replaces `path` (if any)."""
    parent = path.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=parent))
    try:
        yield tmp
        for file in sorted(tmp.rglob("*")):
            sync_path(file)
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700
        sync_path(tmp)
        if path.exists():
            old = tmp.with_suffix(".old")
            os.rename(path, old)
            os.rename(tmp, path)
            sync_path(parent)
            shutil.rmtree(old)
        else:
            os.rename(tmp, path)
            sync_path(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def writes_in_place(path: Path) -> bool:
    """Whether output to `path` must go straight to it rather than through a temporary file.

    Pipes, character devices (/dev/null, a terminal), sockets and the process's own streams
    (/dev/stdout, /dev/fd/N) are written as they are: renaming a file over them would replace
    the device node or leave a reader waiting on a pipe nobody writes.
    """
    name = str(path)
    if name.startswith(("/dev/std", "/dev/fd/", "/proc/self/fd/")):
        return True
    try:
        mode = path.stat().st_mode  # follows symlinks: a link to a pipe is a pipe
    except OSError:
        return False  # a new file
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)
