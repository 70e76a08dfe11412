"""The recent-datasets list of the app (UI state in QSettings): one spelling per folder, newest
first, only folders that still exist."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 8


def norm(folder: str) -> str:
    """One spelling per folder (no trailing slash, ~ expanded, symlinks and .. resolved)."""
    return str(Path(folder).expanduser().resolve())


def recent_folders(st: QSettings) -> list[str]:
    value = st.value("recent", [])
    if isinstance(value, str):
        value = [value]
    out: list[str] = []
    for v in value or []:
        f = norm(str(v))
        if f not in out and Path(f).is_dir():
            out.append(f)
    return out


def add_recent(st: QSettings, folder: str) -> list[str]:
    folder = norm(folder)
    recent = [folder] + [f for f in recent_folders(st) if f != folder]
    st.setValue("recent", recent[:MAX_RECENT])
    return recent[:MAX_RECENT]
