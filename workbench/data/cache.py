"""Presized uint8 image cache: decode every image once into a memory-mapped (N, S, S, 3) array.

Each image is decoded with Pillow (JPEG draft mode), EXIF-rotated, converted to RGB, resized so its
short side is S and centre-cropped to a square. The cache lives under ``cache_root/"presize"/`` and is
keyed by the presize and every file's (path, mtime_ns, size), so it survives restarts and an edited
file gives a new key. Rows of unchanged files are copied from older caches instead of decoded again.
A cache is written to a temp file and renamed when complete; its metadata (written atomically after
the rename) is what marks it usable, so a half-built cache is never opened. The caches of all
datasets together stay under a size budget ($WORKBENCH_CACHE_GB, default 20): after a build, the
least recently used ones beyond it are deleted (they are rebuilt when needed again).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageOps

from ..runtime.atomic import atomic_path, atomic_write_json, remove_stale_temps, reserve_space
from ..runtime.events import LogMessage, Progress
from ..runtime.locks import wait_lock

FORMAT_VERSION = 1
DEFAULT_BUDGET_GB = 20.0
COPY_CHUNK = 512  # rows copied per step from an older cache (bounds memory)


# --------------------------------------------------------------------------- decoding
def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: alpha over white, 16/32-bit and float rescaled."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = _scale_to_u8(np.asarray(img, dtype=np.float64), mode)
        g = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(g[:, :, None], 3, axis=2), "RGB")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        bg = Image.new("RGB", img.size, (255, 255, 255))
        bg.paste(img, mask=img.getchannel("A"))
        return bg
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV, ...


def _scale_to_u8(a: np.ndarray, mode: str) -> np.ndarray:
    """Single-channel 16-bit, 32-bit integer or float pixels -> 0..255 by their real range: 8-bit
    values stay, 16-bit ones are divided by 257, floats within 0..1 are multiplied by 255; anything
    else (32-bit integers beyond 16 bits, floats beyond 0..255, negative values) is stretched from its
    minimum to its maximum, so no pixel is clipped."""
    finite = a[np.isfinite(a)]
    if not finite.size:
        return np.zeros_like(a)
    lo, hi = float(finite.min()), float(finite.max())
    a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
    if lo >= 0 and mode == "F" and hi <= 1.0:
        return a * 255.0
    if lo >= 0 and hi <= 255:
        return a
    if lo >= 0 and hi <= 65535 and mode != "F":
        return a / 257.0  # 16-bit range -> 8-bit
    return (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)


def load_rgb(path: str, draft_size: int | None = None) -> Image.Image:
    """Open an image as 8-bit RGB with EXIF orientation applied (the cache's exact decoding).

    ``draft_size`` lets JPEG decoding skip resolution it does not need (result stays >= that size).
    """
    with Image.open(path) as im:
        if draft_size and im.format == "JPEG":
            im.draft("RGB", (draft_size, draft_size))
        im = ImageOps.exif_transpose(im)
        im.load()
        return _to_rgb(im)


def decode_presized(path: str, presize: int) -> np.ndarray:
    """Decode one file to a (presize, presize, 3) uint8 array: short side resized, centre-cropped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. large-image warnings; the scanner reports those
        img = load_rgb(path, draft_size=presize)
    return presize_image(img, presize)


def thumbnail(path: str, size: int) -> np.ndarray:
    """The picture of one file for display or colour statistics: (h, w, 3) uint8 no larger than
    ``size`` a side (aspect kept, never enlarged), decoded exactly as training decodes it (16-bit
    rescaled, EXIF orientation, CMYK / palette converted, alpha over white). Every thumbnail of the
    app and the dataset statistics come from here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. large-image warnings; the scanner reports those
        img = load_rgb(path, draft_size=size)
    if max(img.size) > size:
        img.thumbnail((size, size), Image.Resampling.LANCZOS)
    return np.array(img, dtype=np.uint8)


def presize_image(img: Image.Image, presize: int) -> np.ndarray:
    """An RGB image -> (presize, presize, 3) uint8: the centred square of its short side, resized."""
    w, h = img.size
    if w < 1 or h < 1:
        raise ValueError("image has no pixels")
    side = min(w, h)
    left, top = (w - side) / 2.0, (h - side) / 2.0
    out = img.resize((presize, presize), Image.BILINEAR, box=(left, top, left + side, top + side))
    return np.asarray(out, dtype=np.uint8)


# --------------------------------------------------------------------------- keys and metadata
def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size
    except OSError:
        return -1, -1


def _cache_key(presize: int, entries: list[tuple[str, int, int]]) -> str:
    h = hashlib.sha1(f"v{FORMAT_VERSION}|{presize}\n".encode())
    for p, m, s in entries:
        h.update(f"{p}\0{m}\0{s}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:24]


def _read_meta(meta_path: Path) -> dict | None:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("version") != FORMAT_VERSION:
        return None
    data = meta_path.with_suffix(".u8")
    n, s = meta.get("n", -1), meta.get("presize", -1)
    try:
        if n > 0 and data.stat().st_size != n * s * s * 3:
            return None
    except OSError:
        return None
    return meta


class PresizeCache:
    """A built cache: ``images`` (memmap uint8 (N, S, S, 3)), ``ok`` (bool (N,)), ``paths``, ``presize``."""

    def __init__(self, paths: list[str], presize: int, images: np.ndarray, ok: np.ndarray,
                 errors: dict[int, str], file: Path | None, reused: int = 0, decoded: int = 0) -> None:
        self.paths = paths
        self.presize = presize
        self.images = images
        self.ok = ok
        self.errors = errors    # row -> why the file could not be decoded
        self.file = file        # the memmap file (None for an empty cache)
        self.reused = reused    # rows copied from an older cache while building
        self.decoded = decoded  # rows decoded while building (0 when the cache was simply reopened)

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"PresizeCache(n={len(self)}, presize={self.presize}, bad={int((~self.ok).sum())}, file={self.file})"

    # ----------------------------------------------------------------------- build / open
    @classmethod
    def build(cls, paths: Sequence[str], presize: int, cache_root: Path, sink: Callable | None = None,
              control=None, workers: int | None = None) -> "PresizeCache":
        """Open the cache for ``paths`` at ``presize``, building (or incrementally updating) it if needed."""
        paths = [str(p) for p in paths]
        presize = int(presize)
        if presize < 1:
            raise ValueError(f"presize must be positive, got {presize}")
        folder = Path(cache_root) / "presize"
        folder.mkdir(parents=True, exist_ok=True)
        entries = [(p, *_stat(p)) for p in paths]
        key = _cache_key(presize, entries)
        meta_path = folder / f"p{presize}-{key}.json"
        n = len(paths)
        if n == 0:
            return cls([], presize, np.zeros((0, presize, presize, 3), np.uint8), np.zeros(0, bool), {}, None)
        want = [list(e) for e in entries]
        meta = _read_meta(meta_path)
        if meta is not None and meta.get("entries") == want:
            return cls._open(meta_path, meta)

        def on_wait() -> None:
            if sink:
                sink(LogMessage(f"waiting for another process that builds the same image cache ({n} images)"))

        # one process builds a cache; another one that needs the same cache waits, then opens it
        with wait_lock(meta_path.with_suffix(".lock"), on_wait, control.check if control is not None else None,
                       remove=True):
            meta = _read_meta(meta_path)
            if meta is not None and meta.get("entries") == want:
                return cls._open(meta_path, meta)
            remove_stale_temps(folder, ".p*-*.u8.*.tmp")  # killed builds (they would escape the budget)
            return _Builder(paths, entries, presize, folder, meta_path, sink, control, workers).run(cls)

    @staticmethod
    def meta_path_for(paths: Sequence[str], presize: int, cache_root: Path) -> Path:
        """The metadata file a cache of ``paths`` at ``presize`` has (its lock: the same name, .lock)."""
        entries = [(str(p), *_stat(str(p))) for p in paths]
        return Path(cache_root) / "presize" / f"p{int(presize)}-{_cache_key(int(presize), entries)}.json"

    @classmethod
    def _open(cls, meta_path: Path, meta: dict) -> "PresizeCache":
        try:
            os.utime(meta_path)  # marks the cache as used (evict_caches removes the least recent first)
        except OSError:
            pass
        n, s = meta["n"], meta["presize"]
        images = np.memmap(meta_path.with_suffix(".u8"), dtype=np.uint8, mode="r", shape=(n, s, s, 3))
        ok = np.array(meta["ok"], dtype=bool)
        errors = {int(k): v for k, v in meta.get("errors", {}).items()}
        paths = [e[0] for e in meta["entries"]]
        return cls(paths, s, images, ok, errors, meta_path.with_suffix(".u8"))


class _Builder:
    """One build: copy reusable rows, decode the rest in a thread pool, rename, write metadata."""

    def __init__(self, paths, entries, presize, folder, meta_path, sink, control, workers) -> None:
        self.paths, self.entries, self.presize = paths, entries, presize
        self.folder, self.meta_path = folder, meta_path
        self.sink, self.control = sink, control
        self.workers = workers or min(8, os.cpu_count() or 1)
        self.n = len(paths)
        self.ok = np.zeros(self.n, dtype=bool)
        self.errors: dict[int, str] = {}
        self.done = 0
        self._last_emit = -1
        self._lock = threading.Lock()

    def _progress(self, force: bool = False) -> None:
        step = max(1, self.n // 100)
        if self.sink and (force or self.done - self._last_emit >= step):
            self._last_emit = self.done
            self.sink(Progress(task="cache", done=self.done, total=self.n, message="decoding images"))

    def _check(self) -> None:
        if self.control is not None:
            self.control.check()

    def run(self, cls):
        s = self.presize
        with atomic_path(self.meta_path.with_suffix(".u8")) as tmp:
            reserve_space(tmp, self.n * s * s * 3, f"the image cache ({self.n} images at {s} px)",
                          "Free some space, or set the cache folder (cache_dir, or $WORKBENCH_CACHE_DIR) "
                          "to a larger disk.")
            images = np.memmap(tmp, dtype=np.uint8, mode="r+", shape=(self.n, s, s, 3))
            self._progress(force=True)
            todo = self._reuse(images)
            self._decode(images, todo)
            images.flush()
            del images
        meta = {"version": FORMAT_VERSION, "presize": s, "n": self.n,
                "entries": [list(e) for e in self.entries], "ok": self.ok.tolist(),
                "errors": {str(k): v for k, v in self.errors.items()}}
        atomic_write_json(self.meta_path, meta)
        self._progress(force=True)
        self._prune(meta)
        evict_caches(self.folder, keep=self.meta_path)
        cache = cls._open(self.meta_path, meta)
        cache.reused, cache.decoded = self.n - len(self._todo), len(self._todo)
        return cache

    # ------------------------------------------------------------------- reuse older caches
    def _older_metas(self) -> list[tuple[Path, dict]]:
        def newest_first(p: Path) -> float:
            try:
                return -p.stat().st_mtime
            except OSError:  # removed meanwhile by another process
                return 0.0

        out = []
        for mp in sorted(self.folder.glob(f"p{self.presize}-*.json"), key=newest_first):
            if mp == self.meta_path:
                continue
            meta = _read_meta(mp)
            if meta is not None and meta.get("presize") == self.presize:
                out.append((mp, meta))
        return out

    def _reuse(self, images: np.ndarray) -> list[int]:
        """Copy rows of unchanged files from older caches; return the rows still to decode."""
        want: dict[tuple, list[int]] = {}
        for i, e in enumerate(self.entries):
            if e[1] >= 0:
                want.setdefault(tuple(e), []).append(i)
        copied = np.zeros(self.n, dtype=bool)
        for mp, meta in self._older_metas():
            if not want:
                break
            dst, src = [], []
            for j, e in enumerate(meta["entries"]):
                rows = want.pop(tuple(e), None)
                if rows is None:
                    continue
                for i in rows:
                    dst.append(i)
                    src.append(j)
                    self.ok[i] = bool(meta["ok"][j])
                    if str(j) in meta.get("errors", {}):
                        self.errors[i] = meta["errors"][str(j)]
            if not dst:
                continue
            try:
                old = np.memmap(mp.with_suffix(".u8"), dtype=np.uint8, mode="r",
                                shape=(meta["n"], self.presize, self.presize, 3))
            except (OSError, ValueError):
                continue  # vanished meanwhile (another process pruned it): decode those rows
            for k in range(0, len(dst), COPY_CHUNK):
                self._check()
                d, sr = np.array(dst[k:k + COPY_CHUNK]), np.array(src[k:k + COPY_CHUNK])
                images[d] = old[sr]
                copied[d] = True
                self.done += len(d)
                self._progress()
            del old
        self._todo = [i for i in range(self.n) if not copied[i]]
        self.ok[self._todo] = False
        for i in self._todo:
            self.errors.pop(i, None)
        return self._todo

    # ------------------------------------------------------------------- decoding
    def _decode_row(self, images: np.ndarray, i: int) -> None:
        path = self.paths[i]
        if self.entries[i][1] < 0:
            self.errors[i] = f"{path}: file not found or not readable"
            return
        try:
            images[i] = decode_presized(path, self.presize)
            self.ok[i] = True
        except Exception as e:  # any decoding failure marks the row bad; the rest goes on
            self.errors[i] = f"{path}: cannot decode image ({type(e).__name__}: {e})"

    def _decode(self, images: np.ndarray, todo: list[int]) -> None:
        if not todo:
            return
        window = self.workers * 4  # bounded number of rows in flight
        it = iter(todo)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="presize") as pool:
            pending: set[Future] = set()
            try:
                for i in it:
                    pending.add(pool.submit(self._decode_row, images, i))
                    if len(pending) >= window:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        self._finish(finished)
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    self._finish(finished)
            except BaseException:
                for f in pending:
                    f.cancel()
                raise

    def _finish(self, finished: set[Future]) -> None:
        for f in finished:
            f.result()
        self.done += len(finished)
        self._progress()
        self._check()

    # ------------------------------------------------------------------- housekeeping
    def _prune(self, meta: dict) -> None:
        """Delete older caches of this presize that can no longer serve anything: each of their rows
        is either in the new cache or belongs to a file that has since changed or vanished."""
        have = {tuple(e) for e in meta["entries"]}

        def obsolete(e: list) -> bool:
            return tuple(e) in have or tuple(_stat(e[0])) != (e[1], e[2])

        for mp, old in self._older_metas():
            if all(obsolete(e) for e in old["entries"]):
                _remove_cache(mp)


def cache_budget() -> float:
    """Bytes all presize caches may take together ($WORKBENCH_CACHE_GB, default 20 GB)."""
    try:
        return float(os.environ.get("WORKBENCH_CACHE_GB", DEFAULT_BUDGET_GB)) * 1e9
    except ValueError:
        return DEFAULT_BUDGET_GB * 1e9


def evict_caches(folder: Path, keep: Path | None = None, budget: float | None = None) -> list[Path]:
    """Delete the least recently used caches in ``folder`` until all together fit ``budget`` bytes
    (``cache_budget()``); never ``keep`` (the metadata file of the cache just built). Returns the
    metadata files of the deleted caches."""
    budget = cache_budget() if budget is None else budget
    caches = []
    for mp in Path(folder).glob("p*-*.json"):
        try:
            caches.append((mp.stat().st_mtime, mp, mp.with_suffix(".u8").stat().st_size))
        except OSError:
            continue  # removed meanwhile, or metadata without data: not counted
    total = sum(size for _, _, size in caches)
    deleted = []
    for _, mp, size in sorted(caches, key=lambda c: c[0]):  # least recently used first
        if total <= budget:
            break
        if (keep is None or mp != keep) and _remove_cache(mp):
            total -= size
            deleted.append(mp)
    return deleted


def _remove_cache(meta_path: Path) -> bool:
    """Delete a cache's data, then its metadata (metadata without its data is never opened).
    False when the data cannot be deleted (in use on a platform that forbids deleting open files)."""
    try:
        meta_path.with_suffix(".u8").unlink()
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        meta_path.unlink()
    except OSError:
        pass
    return True
