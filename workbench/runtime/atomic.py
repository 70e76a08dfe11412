"""Atomic file writes: temp file in the same folder, fsync, rename over the target.

Temp files are named ``.NAME.<pid>-<random>.tmp``. Leftovers of killed writes are removed only when
they are provably stale: their process is gone (or it is this process and the file is not being
written), or, for names without a pid, they are older than STALE_SECONDS. Another process's file
still being written is never touched. The final file gets the usual mode (0666 less the umask, or
the mode of the file it replaces), not mkstemp's 0600.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

STALE_SECONDS = 3600.0  # temp files without an owner pid older than this are leftovers
_ACTIVE: set[str] = set()  # temp files this process is writing now
_ACTIVE_LOCK = threading.Lock()


def _read_umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, for a moment, for every thread)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


UMASK = _read_umask()


def _final_mode(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~UMASK


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp file path in the target's folder; when the block ends, the file written there is
    fsynced and renamed over ``path``. An error in the block removes the temp file; leftovers of
    earlier writes that were killed mid-way are removed after a successful one."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}-", suffix=".tmp", dir=p.parent)
    os.close(fd)
    with _ACTIVE_LOCK:
        _ACTIVE.add(tmp)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            os.chmod(tmp, _final_mode(p))
        except OSError:
            pass  # e.g. a file system without modes
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(tmp)
    _remove_leftovers(p)


class DiskFullError(OSError):
    """Not enough disk space for a file; the message says how much is needed and free, and where."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def check_space(folder: str | os.PathLike, nbytes: int, what: str, hint: str = "") -> int:
    """Raise ``DiskFullError`` when ``folder``'s disk has less than ``nbytes`` free; returns the free
    bytes. ``what`` names the file for the user, ``hint`` says what to do."""
    free = shutil.disk_usage(folder).free
    if free < nbytes:
        raise _disk_full(errno.ENOSPC, nbytes, folder, free, what, hint)
    return free


def _disk_full(code: int, nbytes: int, folder, free: int, what: str, hint: str) -> DiskFullError:
    return DiskFullError(code, f"not enough disk space for {what}: it needs {_size(nbytes)} in {folder}, "
                               f"{_size(free)} free{'. ' + hint if hint else ''}")


def reserve_space(path: str | os.PathLike, nbytes: int, what: str, hint: str = "") -> None:
    """Give the existing file ``path`` ``nbytes`` of disk blocks now. A file that is then written
    through a memory map cannot run out of space mid-way, where the kernel would end the process
    (SIGBUS) instead of raising; a full disk is a ``DiskFullError`` here instead."""
    free = check_space(Path(path).parent, nbytes, what, hint)
    with open(path, "rb+") as fh:
        if hasattr(os, "posix_fallocate") and nbytes > 0:
            try:
                os.posix_fallocate(fh.fileno(), 0, nbytes)
                return
            except OSError as e:
                if e.errno in FULL:
                    raise _disk_full(e.errno, nbytes, Path(path).parent, free, what, hint) from None
                if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):  # unsupported: a sparse file
                    raise
        fh.truncate(nbytes)


def _size(n: float) -> str:
    """1234567 -> '1.2 MB'."""
    units = ("bytes", "KB", "MB", "GB", "TB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n, i = n / 1000, i + 1
    return f"{n:.0f} bytes" if i == 0 else f"{n:.1f} {units[i]}"


def atomic_write_bytes(path: str | os.PathLike, data: bytes, what: str = "", hint: str = "") -> None:
    """Write to a temp file in the same folder, fsync, then rename over the target. With ``what`` (the
    file's name for the user) a full disk is a ``DiskFullError`` that says how much space is needed."""
    with atomic_path(path) as tmp:
        free = check_space(tmp.parent, len(data), what, hint) if what else 0
        try:
            tmp.write_bytes(data)
        except OSError as e:
            if what and e.errno in FULL:
                raise _disk_full(e.errno, len(data), tmp.parent, free, what, hint) from None
            raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's) or cannot tell: keep its files
    return True


def is_stale_temp(tmp: Path, now: float | None = None) -> bool:
    """Whether ``tmp`` (a ``.NAME.<pid>-<random>.tmp`` file) is a leftover no one is writing."""
    m = re.search(r"\.(\d+)-[A-Za-z0-9_]+\.tmp$", tmp.name)
    if m:
        pid = int(m.group(1))
        if pid == os.getpid():
            with _ACTIVE_LOCK:
                return str(tmp) not in _ACTIVE
        return not _pid_alive(pid)
    try:
        return (now or time.time()) - tmp.stat().st_mtime > STALE_SECONDS
    except OSError:
        return False


def remove_stale_temps(folder: Path, pattern: str) -> list[Path]:
    """Delete the stale temp files matching ``pattern`` in ``folder``; returns them."""
    removed = []
    for tmp in Path(folder).glob(pattern):
        if is_stale_temp(tmp):
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


def _remove_leftovers(p: Path) -> None:
    """Temp files of earlier writes of the same file that were killed mid-way (never those that
    another process or thread is still writing)."""
    remove_stale_temps(p.parent, f".{p.name}.*.tmp")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))  # file names as their own bytes


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
