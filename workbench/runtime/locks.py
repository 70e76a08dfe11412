"""Inter-process locks (``filelock``: flock on POSIX, msvcrt on Windows): a run folder is used by one
process at a time (its lock file ``.lock`` stays in the folder), and one presize cache is built by one
process while the others wait for it."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock, Timeout

from ..errors import BadInput

RUN_LOCK = ".lock"  # inside a run folder


class BusyError(BadInput, RuntimeError):
    """The folder is in use by another process; the message says which and what to do."""


def busy_message(folder: str | Path) -> str:
    return (f"{folder} is in use by another training process: wait for it to finish, stop it, "
            f"or choose another run folder")


@contextmanager
def run_folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold the run folder for this process; ``BusyError`` at once when another one holds it."""
    lock = FileLock(str(Path(folder) / RUN_LOCK), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise BusyError(busy_message(folder)) from None
    try:
        yield
    finally:
        lock.release()  # the file stays: deleting it would let two processes lock different files


def is_busy(folder: str | Path) -> bool:
    """Whether another process holds ``folder``'s run lock now."""
    if not (Path(folder) / RUN_LOCK).is_file():
        return False
    try:
        with run_folder_lock(folder):
            return False
    except BusyError:
        return True


@contextmanager
def wait_lock(path: str | Path, on_wait: Callable[[], None] | None = None,
              check: Callable[[], None] | None = None, poll: float = 0.25, remove: bool = False) -> Iterator[None]:
    """Hold the lock file ``path``, waiting for another process that holds it. ``on_wait`` is called
    once when waiting starts; ``check`` between polls (it may raise, e.g. to cancel). Re-entrant in
    the thread that holds it; other threads and processes wait."""
    lock = FileLock(str(path), is_singleton=True)
    waited = False
    while True:
        try:
            lock.acquire(timeout=poll)
            break
        except Timeout:
            if not waited and on_wait:
                on_wait()
            waited = True
            if check:
                check()
    try:
        yield
    finally:
        if remove and lock.lock_counter == 1:
            try:
                Path(path).unlink()
            except OSError:
                pass
        lock.release()
