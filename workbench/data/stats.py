"""Dataset statistics: class counts per split, image size histograms, per-channel mean / std."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from ..runtime.atomic import atomic_write_json
from ..runtime.control import RunControl
from ..runtime.events import Progress
from .cache import thumbnail
from .scancache import fingerprint, load_json, stats_cache_path
from .types import Dataset

THUMB = 64


@dataclass
class DatasetStats:
    """Plain numbers and numpy arrays; the GUI draws them, the report serialises them."""
    counts: dict                      # split -> {class name: count}
    widths: np.ndarray                # per item, upright size in px
    heights: np.ndarray
    aspects: np.ndarray               # width / height
    width_hist: tuple                 # (counts, bin edges)
    height_hist: tuple
    aspect_hist: tuple
    mean: tuple = (0.0, 0.0, 0.0)     # RGB in [0, 1], on a downsized sample
    std: tuple = (0.0, 0.0, 0.0)
    n_sampled: int = 0
    extra: dict = field(default_factory=dict)

    def size_summary(self) -> dict:
        """min / median / max of width, height and aspect."""
        out = {}
        for name, a in (("width", self.widths), ("height", self.heights), ("aspect", self.aspects)):
            out[name] = ({"min": float(a.min()), "median": float(np.median(a)), "max": float(a.max())}
                         if len(a) else {"min": 0.0, "median": 0.0, "max": 0.0})
        return out

    def to_dict(self) -> dict:
        def h(t):
            return {"counts": [int(x) for x in t[0]], "edges": [float(x) for x in t[1]]}
        return {"counts": self.counts, "sizes": self.size_summary(),
                "widths": self.widths.tolist(), "heights": self.heights.tolist(),
                "width_hist": h(self.width_hist), "height_hist": h(self.height_hist),
                "aspect_hist": h(self.aspect_hist), "mean": list(self.mean), "std": list(self.std),
                "n_sampled": self.n_sampled}

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetStats":
        w = np.asarray(d["widths"], dtype=np.int64)
        hgt = np.asarray(d["heights"], dtype=np.int64)
        def h(x):
            return (np.asarray(x["counts"], dtype=np.int64), np.asarray(x["edges"], dtype=np.float64))
        return cls(d["counts"], w, hgt, _aspects(w, hgt), h(d["width_hist"]), h(d["height_hist"]),
                   h(d["aspect_hist"]), tuple(d["mean"]), tuple(d["std"]), int(d["n_sampled"]))


def _aspects(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.where(h > 0, w / np.maximum(h, 1), 0.0).astype(np.float64)


def histogram(a: np.ndarray, bins: int = 20) -> tuple:
    if not len(a):
        return np.zeros(0, dtype=np.int64), np.zeros(1)
    lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    c, e = np.histogram(a, bins=bins, range=(lo, hi))
    return c.astype(np.int64), e


def _sample_pixels(path: str) -> np.ndarray | None:
    """Sum and sum of squares per channel, and pixel count, of a downsized copy (None if unreadable)."""
    try:
        a = thumbnail(path, THUMB).astype(np.float64).reshape(-1, 3) / 255.0
    except Exception:  # noqa: BLE001 - a file changed since the scan; leave it out of the sample
        return None
    return np.concatenate([a.sum(0), (a * a).sum(0), [len(a)]])


def _header_size(path: str) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                w, h = h, w
            return w, h
    except Exception:  # noqa: BLE001
        return 0, 0


def compute_stats(ds: Dataset, sink: Callable | None = None, control: RunControl | None = None,
                  sample: int = 500) -> DatasetStats:
    """Counts, size histograms and mean / std on up to ``sample`` downsized images (cached)."""
    info = ds.scan
    records = info.records if info else {}
    parts = [ds.root, list(ds.classes), sample]
    for it in ds.items:
        try:
            st = os.stat(it.path)
            parts.append([it.path, it.label, it.split, st.st_size, st.st_mtime_ns])
        except OSError:
            parts.append([it.path, it.label, it.split, -1, -1])
    cpath = stats_cache_path(info.cache_dir if info else "", fingerprint(parts))
    cached = load_json(cpath)
    if cached:
        try:
            return DatasetStats.from_dict(cached)
        except (KeyError, TypeError, ValueError):
            pass
    counts = {s: ds.counts(s) for s in ("train", "valid", "test") if any(it.split == s for it in ds.items)}
    sizes = []
    for it in ds.items:
        r = records.get(it.path)
        sizes.append((r.width, r.height) if r is not None and r.width else _header_size(it.path))
    w = np.asarray([s[0] for s in sizes], dtype=np.int64)
    h = np.asarray([s[1] for s in sizes], dtype=np.int64)
    a = _aspects(w, h)
    mean, std, n = _mean_std(ds, sink, control, sample)
    stats = DatasetStats(counts, w, h, a, histogram(w), histogram(h), histogram(a), mean, std, n)
    try:
        atomic_write_json(cpath, stats.to_dict())
    except OSError:
        pass
    return stats


def _mean_std(ds: Dataset, sink, control, sample: int) -> tuple[tuple, tuple, int]:
    pool = [it.path for it in ds.items if it.split == "train"] or [it.path for it in ds.items]
    if len(pool) > sample:
        idx = np.random.default_rng(0).choice(len(pool), size=sample, replace=False)
        pool = [pool[i] for i in sorted(idx)]
    total = np.zeros(7)
    n = 0
    ex = ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1)), thread_name_prefix="stats")
    try:
        for i, res in enumerate(ex.map(_sample_pixels, pool)):
            if control is not None:
                control.check()
            if res is not None:
                total += res
                n += 1
            if sink and (i % 25 == 0 or i + 1 == len(pool)):
                sink(Progress("stats", i + 1, len(pool), "colour statistics"))
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
    if total[6] == 0:
        return (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 0
    m = total[:3] / total[6]
    var = np.maximum(total[3:6] / total[6] - m * m, 0.0)
    return tuple(float(x) for x in m), tuple(float(x) for x in np.sqrt(var)), n
