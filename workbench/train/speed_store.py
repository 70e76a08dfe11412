"""Speed measurements kept for reuse on this machine, in the cache folder (``speed.json``).

Two kinds, both keyed by the machine (CPU model, cores, torch version, GPU):
- the planner's probe of a recipe (``remember_probe`` / ``recalled_probe``): ``workbench suggest
  --budget-minutes`` (and ``train --plan-only``) probes the recipe it prints; a run of the same recipe
  on the same data started within ``PROBE_REUSE_S`` plans from that probe instead of a second one;
- which precision and memory layout train an architecture fastest at a size (``remember_layout`` /
  ``recalled_layout``): a property of the CPU, kept ``LAYOUT_REUSE_S``.
A probe is only reused for the same dataset folder, image size, batch size, model, precision, device,
threads and the tricks that change a step's cost (the key is ``recipe_key``). Unreadable files are
treated as empty; writes are atomic.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path

from ..runtime.atomic import atomic_write_json
from ..config import RunConfig
from ..runtime.paths import cache_root

FILE = "speed.json"
PROBE_REUSE_S = 30 * 60          # a probe is reused by a run started within this time
LAYOUT_REUSE_S = 30 * 24 * 3600  # the precision / layout comparison of an architecture and size
_TRAIN_KEYS = ("precision", "device", "threads", "compile", "grad_accum", "grad_clip", "optimizer")
_TRICK_KEYS = ("progressive_resize", "prog_start_size", "prog_end_pct", "freeze_epochs")


def machine_id() -> str:
    """This machine as the speed sees it: CPU model, usable cores, torch version, GPU name."""
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    return f"{cpu} | {cores} cores | torch {torch.__version__} | {gpu}"


def recipe_key(cfg: RunConfig) -> str:
    """What a probe of ``cfg`` depends on: not the seed, the epochs, the rates, the augmentation's
    strengths, weight averaging, MixUp / CutMix or class balancing (the suggester sets those from the
    probed speed; their share of a step is small: an average of the weights, a blend of two batches)."""
    d, m = cfg.data, cfg.model
    parts = {"machine": machine_id(), "path": str(Path(d.path).expanduser().resolve()) if d.path else "",
             "labels_csv": d.labels_csv, "valid_pct": d.valid_pct, "image_size": d.image_size, "presize": d.presize,
             "batch_size": d.batch_size, "arch": m.arch, "pretrained": m.pretrained, "weights": m.weights,
             "channels_last": m.channels_last, "augment": cfg.augment.enabled,
             "train": {k: cfg.get(f"train.{k}") for k in _TRAIN_KEYS},
             "tricks": {k: cfg.get(f"tricks.{k}") for k in _TRICK_KEYS}}
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _path(root: str | os.PathLike | None) -> Path:
    return Path(root) / FILE if root else cache_root() / FILE


def _load(root=None) -> dict:
    try:
        data = json.loads(_path(root).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _store(section: str, key: str, value: dict, max_age: float, root=None) -> None:
    data = _load(root)
    now = time.time()
    entries = {k: v for k, v in (data.get(section) or {}).items()
               if isinstance(v, dict) and now - float(v.get("at", 0)) <= max_age}
    entries[key] = {**value, "at": now}
    data[section] = entries
    try:
        _path(root).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(_path(root), data)
    except OSError:
        pass  # a cache: the next command measures again


def _recall(section: str, key: str, max_age: float, root=None) -> dict | None:
    entry = (_load(root).get(section) or {}).get(key)
    if not isinstance(entry, dict) or not 0 <= time.time() - float(entry.get("at", 0)) <= max_age:
        return None
    return entry


def remember_probe(cfg: RunConfig, measured: dict, root=None) -> None:
    """Keep a probe (``planner.Measured`` as a dict) of ``cfg`` for a run of the same recipe."""
    _store("probes", recipe_key(cfg), {"measured": measured}, PROBE_REUSE_S, root or cfg.data.cache_dir or None)


def recalled_probe(cfg: RunConfig, max_age: float = PROBE_REUSE_S, root=None) -> tuple[dict, float] | None:
    """(the measured dict, its age in seconds) of a probe of this recipe on this machine, if recent."""
    entry = _recall("probes", recipe_key(cfg), max_age, root or cfg.data.cache_dir or None)
    if entry is None or not isinstance(entry.get("measured"), dict):
        return None
    return entry["measured"], time.time() - float(entry["at"])


def forget_probes(root=None) -> None:
    """Drop the kept probes (a benchmark that measures the probe itself)."""
    data = _load(root)
    if data.pop("probes", None) is not None:
        try:
            atomic_write_json(_path(root), data)
        except OSError:
            pass


def layout_key(arch: str, size: int, batch: int, device: str) -> str:
    return f"{machine_id()} | {arch} | {size} px | batch {batch} | {device}"


def remember_layout(arch: str, size: int, batch: int, device: str, speeds: dict, root=None) -> None:
    """Keep ``speeds`` {(precision, channels_last): images/s} of an architecture at a size."""
    rows = [[p, bool(cl), float(v)] for (p, cl), v in speeds.items()]
    _store("layouts", layout_key(arch, size, batch, device), {"speeds": rows}, LAYOUT_REUSE_S, root)


def recalled_layout(arch: str, size: int, batch: int, device: str, root=None) -> dict | None:
    entry = _recall("layouts", layout_key(arch, size, batch, device), LAYOUT_REUSE_S, root)
    if entry is None:
        return None
    try:
        return {(str(p), bool(cl)): float(v) for p, cl, v in entry["speeds"]}
    except (KeyError, TypeError, ValueError):
        return None
