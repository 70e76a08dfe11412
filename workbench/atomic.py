"""Atomic file writes: temp file in the same folder, fsync, rename over the target."""
from __future__ import annotations

import json
import os
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
