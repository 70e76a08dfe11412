"""Relabel / quarantine / keep sidecar: hard-example decisions kept apart from the images, never on them.
A "keep" records that a file was looked at and is right as it is (the scan leaves it as it is).

File: by default ``data_home()/projects/<sha1 of the dataset's resolved path>/changes.json`` (per user,
so a shared or read-only dataset is never written); with ``data.changes_beside_data`` it is
``<root>/.workbench/changes.json`` (shared with everyone who uses the folder), falling back to the
per-user file when writing there fails. Paths are stored relative to the root so the folder can move.
"""
from __future__ import annotations

import calendar
import contextlib
import json
import os
import time
from pathlib import Path

from ..runtime.atomic import atomic_write_json
from ..runtime.paths import project_dir

VERSION = 1
RELABEL, QUARANTINE, KEEP = "relabel", "quarantine", "keep"
TO_LABEL = "to_label"  # marked for a person to label; the image keeps its class until relabelled
ACTIONS = (RELABEL, QUARANTINE, KEEP, TO_LABEL)


def local_path(root: Path) -> Path:
    return root / ".workbench" / "changes.json"


def fallback_path(root: Path) -> Path:
    """The per-user sidecar of a dataset folder (the default location)."""
    return project_dir(root) / "changes.json"


user_path = fallback_path


class ChangeSet:
    """Relabels and quarantines for one dataset folder, with undo. Call save() to write them."""

    def __init__(self, root: str | os.PathLike, location: Path, changes: dict | None = None,
                 history: list | None = None) -> None:
        self.root = Path(root)
        self._location = location
        self._changes: dict[str, dict] = dict(changes or {})
        self._history: list[dict] = list(history or [])
        self._step = max((int(h.get("step", 0) or 0) for h in self._history), default=0)
        self._in_action = False

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, root: str | os.PathLike, beside_data: bool = False) -> "ChangeSet":
        """Read the sidecar of ``root`` (an empty ChangeSet when there is none yet).

        Default: the per-user file; a sidecar found beside the data (written with the option on, or
        by someone else) is read when there is no per-user one, and later saves go to the per-user
        file. ``beside_data``: the file beside the data is read and written (saving falls back to the
        per-user file when the folder refuses the write)."""
        root = Path(root).expanduser().resolve()
        local, user = local_path(root), user_path(root)
        if beside_data:
            read, write = (local if local.is_file() or not user.is_file() else user), local
        else:
            read, write = (user if user.is_file() or not local.is_file() else local), user
        if not read.is_file():
            return cls(root, write)
        try:
            data = json.loads(read.read_text(encoding="utf-8"))
            changes, history = dict(data.get("changes", {})), list(data.get("history", []))
        except (OSError, ValueError, AttributeError, TypeError, RecursionError) as e:
            raise ValueError(f"{read}: cannot read the relabel/quarantine file ({e})") from e
        for rel, change in changes.items():
            why = _bad_change(change)
            if why:
                raise ValueError(f"{read}: the change of {rel!r} {why}, not {change!r:.80}; fix or delete the file")
        history = [h for h in history if isinstance(h, dict) and isinstance(h.get("path"), str)
                   and (h.get("before") is None or not _bad_change(h.get("before")))]  # undo steps only
        return cls(root, write, changes, history)

    @property
    def location(self) -> Path:
        """Where save() writes (and load() read) the sidecar file."""
        return self._location

    # ------------------------------------------------------------------ actions
    def _rel(self, path: str | os.PathLike) -> str:
        p = Path(path)
        if p.is_absolute():
            p = Path(os.path.relpath(p, self.root))
        r = p.as_posix()
        if r.startswith("../") or r == "..":
            raise ValueError(f"{path} is not inside the dataset folder {self.root}")
        return r

    @contextlib.contextmanager
    def action(self):
        """One user action over several files (``with cs.action(): ...``): one undo takes it all back.
        Outside such a block every change is an action of its own."""
        self._step += 1
        self._in_action = True
        try:
            yield self
        finally:
            self._in_action = False

    def _set(self, rel: str, change: dict | None) -> None:
        if not self._in_action:
            self._step += 1
        self._history.append({"path": rel, "before": self._changes.get(rel), "step": self._step,
                              "time": (change or {}).get("time") or _now()})
        if change is None:
            self._changes.pop(rel, None)
        else:
            self._changes[rel] = change

    def relabel(self, path: str | os.PathLike, new_class: str, classes: tuple | list | None = None) -> None:
        """Give ``path`` the class ``new_class`` (must be one of ``classes`` when they are given)."""
        new_class = str(new_class).strip()
        if not new_class:
            raise ValueError("the new class name is empty")
        if classes is not None and new_class not in classes:
            raise ValueError(f"'{new_class}' is not an existing class ({', '.join(classes)})")
        self._set(self._rel(path), {"action": RELABEL, "new_class": new_class, "time": _now()})

    def quarantine(self, path: str | os.PathLike) -> None:
        """Leave ``path`` out of training and validation (the file itself stays where it is)."""
        self._set(self._rel(path), {"action": QUARANTINE, "new_class": None, "time": _now()})

    def mark_to_label(self, path: str | os.PathLike, predicted: str = "", probability: float | None = None) -> None:
        """Mark ``path`` for labelling (the try-it view's unsure images): it stays in training with
        its current class; relabel or quarantine it later. ``predicted`` / ``probability``: what the
        model said."""
        change = {"action": TO_LABEL, "new_class": None, "time": _now(), "predicted": str(predicted)}
        if probability is not None:
            change["probability"] = round(float(probability), 6)
        self._set(self._rel(path), change)

    def remove(self, path: str | os.PathLike) -> bool:
        """Take the change of ``path`` off the list (undoable like any action); False when it had none."""
        rel = self._rel(path)
        if rel not in self._changes:
            return False
        self._set(rel, None)
        return True

    def keep(self, path: str | os.PathLike) -> None:
        """Keep ``path`` as it is: replaces any relabel or quarantine of it, and records that it was
        looked at (an undoable change of its own; the scan leaves the file as it is)."""
        self._set(self._rel(path), {"action": KEEP, "new_class": None, "time": _now()})

    @property
    def can_undo(self) -> bool:
        """Whether an action is recorded that ``undo`` can take back."""
        return bool(self._history)

    def undo(self) -> list[dict]:
        """Undo the last action (every file it changed); returns what was undone, one
        dict(path, action) per file ([] when there is nothing to undo)."""
        if not self._history:
            return []
        step = self._history[-1].get("step")
        undone = []
        while self._history:
            last = self._history.pop()
            rel = last["path"]
            undone.append({"path": str(self.root / rel), "action": (self._changes.get(rel) or {}).get("action", "")})
            if last.get("before") is None:
                self._changes.pop(rel, None)
            else:
                self._changes[rel] = last["before"]
            if step is None or not self._history or self._history[-1].get("step") != step:
                break
        return undone

    # ------------------------------------------------------------------ reading
    def get(self, path: str | os.PathLike) -> dict | None:
        return self._changes.get(self._rel(path))

    def by_rel(self) -> dict[str, dict]:
        """Changes keyed by path relative to the root (posix)."""
        return dict(self._changes)

    def as_of(self, when: float) -> dict[str, dict]:
        """The changes as they stood at ``when`` (seconds since the epoch), keyed like ``by_rel``: a
        change made later is replaced by the one it replaced (the undo history keeps it), so a run's
        validation set can be rebuilt as it was trained."""
        records: dict[str, list] = {}
        for h in self._history:   # per file: its changes, oldest first
            records.setdefault(h["path"], []).append(h)
        out = {}
        for rel in set(self._changes) | set(records):
            hs = records.get(rel, [])
            states = [h.get("before") for h in hs] + [self._changes.get(rel)]
            state = states[0]     # what the file had before its first recorded change
            if not hs and state is not None and _seconds(state.get("time")) > when:
                state = None      # no record of what it replaced (an older list): made later, so not then
            for h, after in zip(hs, states[1:]):
                if _seconds(h.get("time") or (after or {}).get("time")) > when:
                    break
                state = after
            if state is not None:
                out[rel] = state
        return out

    @property
    def entries(self) -> list[dict]:
        """One dict(path, action, new_class, time) per changed file; path is absolute."""
        return [{"path": str(self.root / rel), "action": c["action"], "new_class": c.get("new_class"),
                 "time": c.get("time", "")} for rel, c in sorted(self._changes.items())]

    def __len__(self) -> int:
        return len(self._changes)

    # ------------------------------------------------------------------ writing
    def save(self) -> Path:
        """Write atomically; beside the data, falls back to the per-user file when the write fails
        (tried, not guessed from permission bits: root may write a chmod a-w folder, a network
        share may refuse what os.access allowed)."""
        data = {"version": VERSION, "root": str(self.root), "changes": self._changes,
                "history": self._history[-1000:]}
        try:
            atomic_write_json(self._location, data)
        except OSError:
            fb = fallback_path(self.root)
            if self._location == fb:
                raise
            self._location = fb
            atomic_write_json(fb, data)
        return self._location


def data_effect(state: dict[str, dict]) -> dict[str, tuple]:
    """What of a change list's state (``ChangeSet.by_rel`` or ``as_of``) changes the images a scan gives:
    {path: (action, new class)} of its relabels and quarantines (a keep or a 'to label' mark leaves the
    data as it is). Two states with the same effect give the same dataset."""
    return {k: (c.get("action"), c.get("new_class")) for k, c in state.items() if c.get("action") in (RELABEL, QUARANTINE)}


def mark_words(change: dict | None) -> str:
    """The short mark a change puts on an image's thumbnail: "→ square", "quarantined", "✓ kept",
    "to label" ("" for none): every gallery and Try it say the same."""
    action = (change or {}).get("action")
    if action == RELABEL:
        return f"→ {(change or {}).get('new_class', '')}"
    return {QUARANTINE: "quarantined", KEEP: "✓ kept", TO_LABEL: "to label"}.get(action, "")


def _bad_change(change) -> str:
    """Why ``change`` is not a change this program writes ('' when it is one)."""
    if not isinstance(change, dict):
        return "must be a table with an action"
    if change.get("action") not in ACTIONS:
        return f"must have one of the actions {', '.join(repr(a) for a in ACTIONS)}"
    if change["action"] == RELABEL and not (isinstance(change.get("new_class"), str) and change["new_class"].strip()):
        return "is a relabel without a class name (new_class)"
    return ""


def _seconds(stamp) -> float:
    """A change's time stamp (ISO, UTC, or epoch seconds) in seconds since the epoch; 0 when unreadable."""
    try:
        return float(stamp)
    except (TypeError, ValueError):
        pass
    try:
        return float(calendar.timegm(time.strptime(str(stamp)[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return 0.0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
