"""Listing a dataset folder: layout detection and the image files of each class / split (no decoding)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..errors import BadInput
from .types import TEST, TRAIN, VALID, Problem

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
SKIP_NAMES = frozenset({"__MACOSX"})
SPLIT_NAMES = {"train": TRAIN, "training": TRAIN, "valid": VALID, "val": VALID, "validation": VALID,
               "test": TEST}


class DatasetError(BadInput):
    """The dataset cannot be used: path missing, nothing usable, or a bad labels CSV."""


@dataclass
class Entry:
    """One candidate image: path relative to the root (posix), its class and split (None = to be split)."""
    rel: str
    cls: str | None
    split: str | None


@dataclass
class Listing:
    root: Path
    layout: str                                   # class_folders | split_folders | csv
    entries: list = field(default_factory=list)   # list[Entry]
    class_dirs: dict = field(default_factory=dict)  # class name -> list of folder paths
    problems: list = field(default_factory=list)  # listing / CSV problems
    split_given: bool = False
    csv_path: str = ""


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTS


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in SKIP_NAMES


def walk_images(top: Path | str, errors: list | None = None) -> Iterator[str]:
    """Image files under ``top`` (recursive, sorted per folder). A linked folder is never entered
    (no loops, no image listed twice); it is named in ``errors`` instead. Linked image files are listed.

    Hidden files and folders are skipped. Anything else named like an image (a broken link, a link
    loop, a pipe) is yielded so the health check reports it rather than dropping it silently."""
    stack = [str(top)]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as e:
            if errors is not None:
                errors.append(Problem(str(d), "unreadable", f"{d}: cannot list folder ({e.strerror or e})"))
            continue
        subdirs = []
        for e in children:
            if _hidden(e.name):
                continue
            is_link = False
            try:
                is_link = e.is_symlink()
                if e.is_dir(follow_symlinks=False):
                    subdirs.append(e.path)
                    continue
                if is_link and _is_dir(e.path):
                    if errors is not None:
                        errors.append(Problem(e.path, "linked_folder", f"{e.path}: a link to a folder, not "
                                              f"followed (images are only searched in real folders)"))
                    continue
            except OSError:
                pass
            if is_image_name(e.name):
                yield e.path
        stack.extend(reversed(subdirs))


def _is_dir(path: str) -> bool:
    try:
        return os.path.isdir(path)
    except OSError:
        return False


def _subdirs(folder: Path) -> list[Path]:
    out = []
    try:
        with os.scandir(folder) as it:
            for e in it:
                try:
                    if not _hidden(e.name) and e.is_dir(follow_symlinks=True):
                        out.append(Path(e.path))
                except OSError:
                    continue
    except OSError:
        pass
    return sorted(out, key=lambda p: p.name)


def _loose_images(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as it:
            return sorted(Path(e.path) for e in it if not _hidden(e.name) and is_image_name(e.name)
                          and not e.is_dir(follow_symlinks=True))
    except OSError:
        return []


def split_dirs(root: Path) -> dict[str, Path]:
    """Split folders at the top of ``root`` (train / valid|val / test), case-insensitive."""
    found: dict[str, Path] = {}
    for d in _subdirs(root):
        split = SPLIT_NAMES.get(d.name.lower())
        if split and split not in found:
            found[split] = d
    if TRAIN not in found or not _subdirs(found[TRAIN]):
        return {}
    return found


def rel(root: Path, path: Path | str) -> str:
    """Path relative to ``root`` with '/' separators (fast path for paths listed under root)."""
    path, prefix = str(path), str(root).rstrip(os.sep) + os.sep
    r = path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, root)
    return r.replace(os.sep, "/") if os.sep != "/" else r


def _add_class_folders(listing: Listing, parent: Path, split: str | None) -> None:
    for cdir in _subdirs(parent):
        listing.class_dirs.setdefault(cdir.name, []).append(str(cdir))
        for p in walk_images(cdir, listing.problems):
            listing.entries.append(Entry(rel(listing.root, p), cdir.name, split))
    for p in _loose_images(parent):
        listing.problems.append(Problem(str(p), "no_label", f"{rel(listing.root, p)}: image outside any class "
                                        f"folder; put it in a class sub-folder or use a labels CSV"))


def list_folders(root: Path) -> Listing:
    """List a class-folder or split-folder dataset. Raises DatasetError when nothing is found."""
    splits = split_dirs(root)
    if splits:
        listing = Listing(root, "split_folders", split_given=VALID in splits)
        for split in (TRAIN, VALID, TEST):
            if split in splits:
                _add_class_folders(listing, splits[split], split if split != TRAIN or VALID in splits
                                   else None)
        return listing
    listing = Listing(root, "class_folders")
    _add_class_folders(listing, root, None)
    if not listing.class_dirs:
        loose = _loose_images(root)
        if loose:
            raise DatasetError(f"{root}: {len(loose)} images but no class sub-folders; put each class in its "
                               f"own sub-folder or give a labels CSV (data.labels_csv)")
        raise DatasetError(f"{root}: no class sub-folders with images found")
    return listing


def check_root(path: str) -> Path:
    """The dataset folder as an absolute resolved path, or DatasetError naming the problem."""
    if not path:
        raise DatasetError("no dataset folder given (data.path is empty)")
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise DatasetError(f"not a folder: {root}")
    return root.resolve()
