""""Send to labelling": images the model is unsure about, kept for a person to label. Files are never
moved or copied.

An image inside the model's dataset folder gets a ``to_label`` entry in the dataset's relabel /
quarantine sidecar (``workbench.data.sidecar``; listed on the Results page's Changes tab, where it can
be relabelled or quarantined; until then it trains with its folder's class). An image outside the
dataset cannot be named in that sidecar (its paths are relative to the dataset), so it goes to the
dataset's *to-label list*, ``to_label.csv`` in the per-user project folder of the dataset (beside the
sidecar: ``data_home()/projects/<hash>/``), one row per image: path, predicted, probability, added.
"""
from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..runtime.atomic import atomic_write_text
from ..data.sidecar import KEEP, QUARANTINE, RELABEL, ChangeSet, mark_words
from ..runtime.paths import project_dir

LIST_FILE = "to_label.csv"
COLUMNS = ("path", "predicted", "probability", "added")


@dataclass
class SentToLabel:
    """What ``send_to_labelling`` did: files marked in the sidecar, files added to the to-label list,
    files left as they were (already relabelled / quarantined there, or already listed)."""
    in_dataset: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    sidecar: str = ""
    list_file: str = ""

    def summary(self) -> str:
        parts = []
        if self.in_dataset:
            parts.append(f"{len(self.in_dataset)} image(s) of the dataset marked 'to label' in its change list "
                         f"({self.sidecar})")
        if self.outside:
            parts.append(f"{len(self.outside)} image(s) from outside the dataset added to {self.list_file}")
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} already relabelled, quarantined, kept or listed (left as they are)")
        return "; ".join(parts) + "." if parts else "Nothing to send."


def list_path(dataset_root: str | os.PathLike) -> Path:
    """The to-label list of a dataset folder (per user; never inside the dataset)."""
    return project_dir(dataset_root) / LIST_FILE


def read_list(dataset_root: str | os.PathLike) -> list[dict]:
    """Rows of the dataset's to-label list (empty when there is none)."""
    f = list_path(dataset_root)
    if not f.is_file():
        return []
    try:
        with f.open(newline="", encoding="utf-8", errors="surrogateescape") as fh:
            return [dict(r) for r in csv.DictReader(fh) if r.get("path")]
    except (OSError, ValueError, csv.Error) as e:
        raise ValueError(f"{f}: cannot read the to-label list ({e})") from e


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _real_folder(path: str | os.PathLike) -> Path:
    """``path`` absolute with its folders resolved but not the file itself: an image that is a link
    inside the dataset stays inside it (the scanner names it by the link's path)."""
    p = Path(os.path.abspath(Path(path).expanduser()))
    return p.parent.resolve() / p.name


def labelling_marks(dataset_root: str | os.PathLike, paths: Iterable[str], beside_data: bool = False) -> dict[str, str]:
    """{path: mark} for those of ``paths`` with a decision already: "to label" for an image waiting for a
    label (marked in the dataset's change list or listed in its to-label list, by any earlier send, this
    session or not), and an image of the dataset relabelled, quarantined or kept has the galleries' mark
    (``sidecar.mark_words``: "→ cat", "quarantined", "✓ kept")."""
    if not dataset_root:
        return {}
    root = Path(dataset_root).expanduser().resolve()
    try:
        changes = ChangeSet.load(root, beside_data)
        listed = {r["path"] for r in read_list(root)}
    except (OSError, ValueError):
        return {}
    out = {}
    for path in paths:
        p = _real_folder(path)
        inside = _inside(p, root)
        mark = mark_words(changes.get(p)) if inside else ("to label" if str(p) in listed else "")
        if mark:
            out[str(path)] = mark
    return out


def send_to_labelling(dataset_root: str | os.PathLike, items: Iterable[tuple[str, str, float]],
                      beside_data: bool = False) -> SentToLabel:
    """Record ``items`` ((path, predicted class, probability)) for labelling; see the module docstring.
    Both files are written atomically; an image file is never touched."""
    if not dataset_root:
        raise ValueError("the model's recipe names no dataset folder, so there is no change list to send to")
    root = Path(dataset_root).expanduser().resolve()
    out = SentToLabel()
    changes = ChangeSet.load(root, beside_data)
    listed = {r["path"]: r for r in read_list(root)}
    new_rows = []
    with changes.action():   # one send is one action of the change list: one undo takes it all back
        for path, predicted, prob in items:
            p = _real_folder(path)
            if _inside(p, root):
                if (changes.get(p) or {}).get("action") in (RELABEL, QUARANTINE, KEEP):
                    out.unchanged.append(str(path))  # a decision already made (a keep too) stays
                    continue
                changes.mark_to_label(p, predicted, prob)
                out.in_dataset.append(str(path))
            elif str(p) in listed:
                out.unchanged.append(str(path))
            else:
                row = {"path": str(p), "predicted": predicted, "probability": f"{float(prob):.4f}",
                       "added": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                listed[str(p)] = row
                new_rows.append(row)
                out.outside.append(str(path))
    if out.in_dataset:
        out.sidecar = str(changes.save())
    if new_rows:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(listed.values())
        atomic_write_text(list_path(root), buf.getvalue())
        out.list_file = str(list_path(root))
    return out


def take_back(dataset_root: str | os.PathLike, sent: SentToLabel, beside_data: bool = False) -> int:
    """Undo one ``send_to_labelling``: its rows leave the to-label list and its 'to label' marks leave
    the change list (one action there; a mark replaced since by a relabel or quarantine stays).
    Returns how many images were taken back; both files are written atomically."""
    root = Path(dataset_root).expanduser().resolve()
    n = 0
    if sent.in_dataset:
        changes = ChangeSet.load(root, beside_data)
        with changes.action():
            for path in sent.in_dataset:
                p = _real_folder(path)
                if (changes.get(p) or {}).get("action") == "to_label" and changes.remove(p):
                    n += 1
        if n:
            changes.save()
    if sent.outside:
        gone = {str(_real_folder(p)) for p in sent.outside}
        rows = read_list(root)
        kept = [r for r in rows if r["path"] not in gone]
        if len(kept) != len(rows):
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
            w.writeheader()
            w.writerows(kept)
            atomic_write_text(list_path(root), buf.getvalue())
            n += len(rows) - len(kept)
    return n
