"""Data layer: open a dataset folder (scan, health check, split, sidecar changes), stats, demo data.

Public API::

    open_dataset(cfg: DataConfig, seed=42, sink=None, control=None, check_health=True,
                 apply_changes=True) -> Dataset
    compute_stats(ds, sink=None, control=None, sample=500) -> DatasetStats
    dataset_report(ds, stats) -> dict
    generate_demo(path, seed=0) -> Path;  demo_path() -> Path
    ChangeSet.load(root)  (relabel / quarantine sidecar);  DatasetError
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ..config import DataConfig
from ..runtime.control import RunControl
from ..runtime.events import LogMessage, Progress
from .csvlabels import list_csv
from .demo import demo_path, generate_demo
from .health import NOTE_TEXT, FileRecord, check_file, run_health
from .report import dataset_report, summary_text
from .scan import IMAGE_EXTS, DatasetError, Entry, Listing, check_root, list_folders
from .scancache import health_cache_path, load_records, save_records
from .sidecar import QUARANTINE, RELABEL, ChangeSet
from .split import stratified_split
from .stats import DatasetStats, compute_stats
from .types import TEST, TRAIN, VALID, Dataset, Item, Problem, ScanInfo

__all__ = ["open_dataset", "compute_stats", "dataset_report", "summary_text", "generate_demo", "demo_path",
           "ChangeSet", "DatasetError", "DatasetStats", "Dataset", "Item", "Problem", "IMAGE_EXTS",
           "check_file", "TRAIN", "VALID", "TEST"]

_SPLIT_ORDER = {TRAIN: 0, None: 0, VALID: 1, TEST: 2}


def open_dataset(cfg: DataConfig, seed: int = 42, sink: Callable | None = None,
                 control: RunControl | None = None, check_health: bool = True,
                 apply_changes: bool = True, changes_until: float | None = None) -> Dataset:
    """Scan ``cfg.path`` and return the usable images with every problem and note found.

    Health results are cached per file (size + mtime), so a second open only lists and stats files.
    With ``check_health=False`` no image is decoded: cached results are still used, other files are
    assumed good. ``changes_until`` (seconds since the epoch): the sidecar's changes as they stood then
    (a run's data as it was trained), not as they are now. Raises DatasetError when the folder or CSV is unusable or no usable image remains."""
    root = check_root(cfg.path)
    emit = sink or (lambda e: None)
    emit(Progress("scan", 0, 0, f"listing {root}"))
    listing = list_csv(root, cfg.labels_csv) if cfg.labels_csv else list_folders(root)
    emit(Progress("scan", len(listing.entries), len(listing.entries), f"found {len(listing.entries)} images"))

    records = _health(listing, cfg, sink, control, check_health, emit)
    problems, notes = list(listing.problems), []
    usable: list[Entry] = []
    for e in listing.entries:
        r = records.get(e.rel)
        path = _join(root, e.rel)
        if r is not None and r.kind:
            problems.append(Problem(path, r.kind, f"{e.rel}: {r.message}"))
            continue
        for n in (r.notes if r else ()):
            notes.append(Problem(path, n, f"{e.rel}: {NOTE_TEXT.get(n, n)}", False))
        usable.append(e)
    usable = _dedupe(usable, records, root, problems)

    counts: dict[str, int] = {c: 0 for c in listing.class_dirs}
    for e in usable:
        counts[e.cls] = counts.get(e.cls, 0) + 1
    classes = tuple(sorted(c for c, n in counts.items() if n > 0))
    _class_problems(listing, counts, usable, root, problems)

    pool = {}
    for e in usable:
        if e.split is None:
            pool.setdefault(e.cls, []).append(e.rel)
    valid = stratified_split(pool, cfg.valid_pct, seed) if pool else set()
    index = {c: i for i, c in enumerate(classes)}
    items = {e.rel: Item(_join(root, e.rel), index[e.cls],
                         e.split or (VALID if e.rel in valid else TRAIN)) for e in usable}
    if apply_changes:
        _apply_changes(root, items, classes, notes, problems, cfg.changes_beside_data, changes_until)
    if not items:
        raise DatasetError(f"{root}: no usable images found" + _problem_summary(problems))
    trained = {it.label for it in items.values() if it.split == TRAIN}
    for c in classes:
        if index[c] not in trained:
            problems.append(Problem(str(root), "no_train_images",
                                    f"class '{c}' has no training images", False))
    ordered = sorted(items.items(), key=lambda kv: (_SPLIT_ORDER[kv[1].split], kv[0]))
    given = listing.split_given
    source = ("folders" if listing.layout == "split_folders" else "csv") if given else "random"
    return Dataset(str(root), classes, tuple(it for _, it in ordered), tuple(problems), tuple(notes),
                   source, listing.layout, ScanInfo(cfg.cache_dir, {_join(root, k): v for k, v in records.items()}))


def _join(root: Path | str, rel: str) -> str:
    return f"{str(root).rstrip('/')}/{rel}" if os.sep == "/" else os.path.join(root, rel)


def _health(listing: Listing, cfg: DataConfig, sink, control, check_health: bool, emit) -> dict:
    """FileRecord per relative path: cached where size + mtime match, decoded otherwise."""
    root = listing.root
    cpath = health_cache_path(cfg.cache_dir, root, cfg.min_side, cfg.max_pixels)
    cached = load_records(cpath, root)
    records: dict[str, FileRecord] = {}
    todo = []
    for e in listing.entries:
        path = _join(root, e.rel)
        try:
            st = os.stat(path)
        except OSError as ex:
            records[e.rel] = FileRecord(0, 0, "unreadable", f"cannot read the file ({ex.strerror or ex})")
            continue
        c = cached.get(e.rel)
        if c is not None and c.size == st.st_size and c.mtime_ns == st.st_mtime_ns:
            records[e.rel] = c
        elif check_health:
            todo.append((e.rel, path))
    stale = len(cached) != sum(1 for k in records if k in cached)
    try:
        run_health(todo, records, cfg.min_side, cfg.max_pixels, sink, control)
    finally:
        if todo or stale:
            try:
                save_records(cpath, root, records)
            except OSError as ex:
                emit(LogMessage(f"could not write the scan cache {cpath}: {ex}", "warning"))
    return records


def _dedupe(usable: list[Entry], records: dict, root: Path, problems: list) -> list[Entry]:
    """Keep the first file of each content hash; later copies are duplicates or train/valid leaks."""
    first: dict[str, Entry] = {}
    out = []
    for e in sorted(usable, key=lambda e: (_SPLIT_ORDER[e.split], e.rel)):
        r = records.get(e.rel)
        if r is None or not r.digest:
            out.append(e)
            continue
        f = first.get(r.digest)
        if f is None:
            first[r.digest] = e
            out.append(e)
            continue
        path = _join(root, e.rel)
        other = f" with a different class ('{f.cls}' vs '{e.cls}')" if f.cls != e.cls else ""
        if e.split in (VALID, TEST) and f.split in (TRAIN, None):
            problems.append(Problem(path, "train_valid_leak", f"{e.rel}: same content as the training image "
                                    f"{f.rel}{other}; left out of {e.split}"))
        else:
            problems.append(Problem(path, "duplicate", f"{e.rel}: same content as {f.rel}{other}; "
                                    f"only the first copy is used"))
    return out


def _class_problems(listing: Listing, counts: dict, usable: list, root: Path, problems: list) -> None:
    for c in sorted(counts):
        n = counts[c]
        where = listing.class_dirs.get(c) or [listing.csv_path or str(root)]
        if n == 0:
            problems.append(Problem(where[0], "empty_class", f"class '{c}' has no usable images ({where[0]})"))
        elif n == 1:
            only = next(e for e in usable if e.cls == c)
            problems.append(Problem(_join(root, only.rel), "single_image_class",
                                    f"class '{c}' has only one image ({only.rel}); it cannot be validated", False))


def _apply_changes(root: Path, items: dict, classes: tuple, notes: list, problems: list,
                   beside_data: bool = False, until: float | None = None) -> None:
    """Leave out quarantined files and give relabelled files their new class (existing classes only);
    ``until``: the changes as they stood at that time."""
    try:
        cs = ChangeSet.load(root, beside_data)
    except ValueError as ex:  # training without the relabels / quarantines chosen would be silently wrong
        raise DatasetError(str(ex)) from None
    for rel, ch in sorted((cs.by_rel() if until is None else cs.as_of(until)).items()):
        it = items.get(rel)
        if it is None:
            continue
        if ch.get("action") == QUARANTINE:
            del items[rel]
            notes.append(Problem(it.path, "quarantined", f"{rel}: quarantined, left out", True))
        elif ch.get("action") == RELABEL:
            new = ch.get("new_class")
            if new in classes:
                old = classes[it.label]
                items[rel] = Item(it.path, classes.index(new), it.split)
                notes.append(Problem(it.path, "relabelled", f"{rel}: relabelled from '{old}' to '{new}'", False))
            else:
                notes.append(Problem(it.path, "relabel_ignored", f"{rel}: relabel to unknown class "
                                     f"'{new}' ignored", False))


def _problem_summary(problems: list) -> str:
    if not problems:
        return ""
    kinds: dict[str, int] = {}
    for p in problems:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    first = "; ".join(p.message for p in problems[:3])
    return f" ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}; e.g. {first})"
