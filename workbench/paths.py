"""Where the program keeps its own files (never inside the user's dataset)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root(configured: str = "") -> Path:
    """Cache folder: the configured one, else $WORKBENCH_CACHE_DIR, else ~/.cache/workbench."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get("WORKBENCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "workbench"


def data_home() -> Path:
    """Per-user data folder (demo dataset, default runs folder of the app)."""
    env = os.environ.get("WORKBENCH_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "workbench"


def project_dir(dataset_root: str | os.PathLike) -> Path:
    """Per-user folder of one dataset (its working recipe, its relabel / quarantine sidecar), keyed
    by a digest of the dataset's resolved path, so nothing is written into the dataset folder."""
    import hashlib
    root = str(Path(dataset_root).expanduser().resolve())
    return data_home() / "projects" / hashlib.sha1(root.encode("utf-8")).hexdigest()
