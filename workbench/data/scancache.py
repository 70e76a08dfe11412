"""Scan cache: per-file health records and dataset stats, kept under cache_root()/scans/.

Health records are keyed by the dataset root and the health settings (min_side, max_pixels); each
record is reused only while the file's size and mtime are unchanged, so re-opening a large folder
costs a listing and a stat per file, and an edited or added file is the only one decoded again.
Split settings (valid_pct, seed) and the labels CSV are applied after the cache (no decode needed).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..runtime.atomic import atomic_write_json
from ..runtime.paths import cache_root
from .health import FileRecord

CACHE_VERSION = 2   # 2: the one_colour note (blank / placeholder pictures)


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()  # any file name


def scans_dir(cache_dir: str = "") -> Path:
    return cache_root(cache_dir) / "scans"


def health_cache_path(cache_dir: str, root: Path, min_side: int, max_pixels: int) -> Path:
    key = json.dumps([CACHE_VERSION, str(root), int(min_side), int(max_pixels)])
    return scans_dir(cache_dir) / f"health-{_sha1(key)[:20]}.json"


def load_records(path: Path, root: Path) -> dict[str, FileRecord]:
    """Cached records by relative path; an unreadable or foreign cache file counts as empty."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != CACHE_VERSION or data.get("root") != str(root):
            return {}
        return {k: FileRecord.from_list(v) for k, v in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return {}


def save_records(path: Path, root: Path, records: dict[str, FileRecord]) -> None:
    files = {k: r.to_list() for k, r in sorted(records.items()) if r.mtime_ns}
    atomic_write_json(path, {"version": CACHE_VERSION, "root": str(root), "files": files})


def stats_cache_path(cache_dir: str, fingerprint: str) -> Path:
    return scans_dir(cache_dir) / f"stats-{fingerprint[:24]}.json"


def fingerprint(parts: list) -> str:
    return _sha1(json.dumps([CACHE_VERSION] + parts, separators=(",", ":")))


def load_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
