"""Where the program keeps its own files (never inside the user's dataset)."""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path


def cache_root(configured: str = "") -> Path:
    """Cache folder: the configured one, else $WORKBENCH_CACHE_DIR, else $WORKBENCH_HOME/cache (one
    variable moves all the program's files), else ~/.cache/workbench."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get("WORKBENCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    home = os.environ.get("WORKBENCH_HOME")
    if home:
        return Path(home).expanduser() / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "workbench"


def data_home() -> Path:
    """Per-user data folder (demo dataset, default runs folder of the app)."""
    env = os.environ.get("WORKBENCH_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "workbench"


def safe_component(name: str, fallback: str = "run") -> str:
    """``name`` as one harmless file name: separators, control and reserved characters become '_',
    leading / trailing dots and spaces go (no '..', no hidden folder, nothing outside its parent)."""
    out = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', "_", str(name)).strip(" .")
    return out[:200] or fallback


def display_text(text: str) -> str:
    """``text`` for showing: a file name that is not valid UTF-8 (undecodable bytes kept by Python as
    surrogate escapes) gets U+FFFD for those bytes instead of losing them (Qt drops them)."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
def project_dir(dataset_root: str | os.PathLike) -> Path:
    """Per-user folder of one dataset (its working recipe, its relabel / quarantine sidecar), keyed
    by a digest of the dataset's resolved path, so nothing is written into the dataset folder."""
    root = str(Path(dataset_root).expanduser().resolve())  # a name that is not UTF-8 keeps its own bytes
    return data_home() / "projects" / hashlib.sha1(root.encode("utf-8", "surrogateescape")).hexdigest()
