"""Files a command writes into a folder the user chose (``export --out``, ``lr-find --out``): each one
is new there or was written by this program before, never a file of the user's.

What this program wrote into such a folder is listed in a small manifest beside it (``MANIFEST``:
name -> size and modification time when written). A file of the same name that is not listed, or
changed since, is the user's: the command refuses to replace it (``ForeignFileError``) unless
forced. Staging folders a killed command left (``.NAME-<pid>-*`` of a process that is gone) are
removed by the next run of the same command.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Iterable

from .atomic import STALE_SECONDS, _pid_alive, atomic_write_json

MANIFEST = ".workbench-written.json"


class ForeignFileError(FileExistsError):
    """A file the command would write exists and was not written by this program."""


def _read(folder: Path) -> dict:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [int(st.st_size), int(st.st_mtime_ns)]


def written_by_us(folder: str | os.PathLike, name: str) -> bool:
    """Whether ``folder/name`` is a file this program wrote there and nobody changed since."""
    folder = Path(folder)
    stamp = _stamp(folder / name)
    return stamp is not None and _read(folder).get(name) == stamp


def claim(folder: str | os.PathLike, names: Iterable[str], force: bool = False, flag: str = "--force") -> None:
    """``ForeignFileError`` naming the first of ``names`` in ``folder`` that exists and was not
    written by this program (nothing is checked with ``force``)."""
    folder = Path(folder)
    if force or not folder.is_dir():
        return
    for name in names:
        p = folder / name
        if (p.exists() or p.is_symlink()) and not written_by_us(folder, name):
            raise ForeignFileError(f"{p} exists and was not written by workbench: choose another output folder, "
                                   f"or add {flag} to replace it")


def record(folder: str | os.PathLike, names: Iterable[str]) -> None:
    """Note ``names`` (just written into ``folder``) in the folder's manifest."""
    folder = Path(folder)
    files = _read(folder)
    for name in names:
        stamp = _stamp(folder / name)
        if stamp is not None:
            files[name] = stamp
    atomic_write_json(folder / MANIFEST, {"format": "workbench-written", "files": files})


def staging_name(prefix: str) -> str:
    """The prefix of a staging folder of this process (``mkdtemp(prefix=...)``), e.g. '.export-123-'."""
    return f".{prefix}-{os.getpid()}-"


def remove_stale_staging(folder: str | os.PathLike, prefix: str) -> list[Path]:
    """Remove staging folders ``.<prefix>-*`` in ``folder`` that a killed run left: those of a process
    that is gone, and those without a pid older than an hour. Returns them."""
    removed = []
    pattern = re.compile(rf"^\.{re.escape(prefix)}-(?:(\d+)-)?")
    try:
        entries = list(Path(folder).glob(f".{prefix}-*"))
    except OSError:
        return removed
    for d in entries:
        m = pattern.match(d.name)
        if not m or not d.is_dir() or d.is_symlink():
            continue
        if m.group(1):
            pid = int(m.group(1))
            stale = pid != os.getpid() and not _pid_alive(pid)
        else:
            try:
                stale = time.time() - d.stat().st_mtime > STALE_SECONDS
            except OSError:
                stale = False
        if stale:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed
