"""Atomic file writes: temp file in the same folder, fsync, rename over the target."""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp file path in the target's folder; when the block ends, the file written there is
    fsynced and renamed over ``path``. An error in the block removes the temp file; leftovers of
    earlier writes that were killed mid-way are removed after a successful one."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _remove_leftovers(p)


class DiskFullError(OSError):
    """Not enough disk space for a file; the message says how much is needed and free, and where."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def reserve_space(path: str | os.PathLike, nbytes: int, what: str, hint: str = "") -> None:
    """Give the existing file ``path`` ``nbytes`` of disk blocks now. A file that is then written
    through a memory map cannot run out of space mid-way, where the kernel would end the process
    (SIGBUS) instead of raising; a full disk is this clear error instead (``what`` names the file
    for the user, ``hint`` says what to do)."""
    folder = Path(path).parent
    free = shutil.disk_usage(folder).free
    try:
        if free < nbytes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        with open(path, "rb+") as fh:
            if hasattr(os, "posix_fallocate") and nbytes > 0:
                try:
                    os.posix_fallocate(fh.fileno(), 0, nbytes)
                    return
                except OSError as e:
                    if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):  # unsupported: a sparse file
                        raise
            fh.truncate(nbytes)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        raise DiskFullError(e.errno, f"not enough disk space for {what}: it needs {_size(nbytes)} in {folder}, "
                                     f"{_size(free)} free{'. ' + hint if hint else ''}") from None


def _size(n: float) -> str:
    """1234567 -> '1.2 MB'."""
    units = ("bytes", "KB", "MB", "GB", "TB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n, i = n / 1000, i + 1
    return f"{n:.0f} bytes" if i == 0 else f"{n:.1f} {units[i]}"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over the target."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _remove_leftovers(p: Path) -> None:
    """Temp files of earlier writes of the same file that were killed mid-way (never read by anyone)."""
    for stale in p.parent.glob(f".{p.name}.*.tmp"):
        try:
            stale.unlink()
        except OSError:
            pass


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
