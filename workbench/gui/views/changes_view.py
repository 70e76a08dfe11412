"""The "Changes" panel: relabels, quarantines and keeps of hard examples, kept in the dataset's sidecar.

Actions go through ``workbench.data.sidecar.ChangeSet`` (saved atomically after each action); the
image files themselves are never touched. The next scan (open_dataset) applies the changes, so
"Retrain with changes" only asks the session to start a new run.
"""
from __future__ import annotations

import time
from typing import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..session_helpers import ChangeSet, mark_words, same_dataset
from ..widgets.common import key_shortcut

ACTION_TEXT = {"relabel": "relabel", "quarantine": "quarantine", "keep": "keep", "to_label": "to label"}


def mark_text(entry: dict) -> str:
    """Short caption mark of a change: '→ square' or 'quarantined' (``data.sidecar.mark_words``)."""
    return mark_words(entry)


def undone_text(undone: list[dict]) -> str:
    """One line saying what an undo took back."""
    if not undone:
        return "Nothing to undo."
    action = undone[0].get("action") or ""
    name = Path(undone[0]["path"]).name if len(undone) == 1 else f"{len(undone)} images"
    if not action:   # the undone step had taken a change off the list: it is back
        return f"Undone: the removal from the list; the change of {name} is back."
    return f"Undone: the {ACTION_TEXT.get(action, action)} of {name}."


class ChangesView(QWidget):
    """Lists the change set and performs relabel / quarantine / keep / undo on it."""
    changed = Signal()            # after every action or undo
    undone = Signal(str)          # what an undo took back (or a removal took off), one line
    reloaded = Signal()           # another view wrote the list: this one shows it as it is now
    retrainRequested = Signal()   # "Retrain with changes"
    failed = Signal(str)          # readable message (e.g. the sidecar could not be written)

    def __init__(self, session=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.changeset = None
        self.root = ""
        self._beside = self._writing = False
        self.session = session   # says every write (changes_written) and reloads on another view's
        if session is not None:
            session.changes_edited.connect(self._edited)
        self.info = QLabel("No dataset: open a run or a dataset to collect changes.")
        self.info.setWordWrap(True)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["File", "Action", "New class", "When"])
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        rows = self.table.verticalHeader().defaultSectionSize()   # never cramped to one row: three at least
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + 3 * rows + 6)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.remove_btn = QPushButton("Remove selected (Del)")
        self.remove_btn.setToolTip("Take the selected change(s) off the list: those images are used as they are "
                                   "(one Undo brings them back)")
        self.remove_btn.clicked.connect(self.remove_selected)
        key_shortcut(self.table, [QKeySequence.StandardKey.Delete, QKeySequence(Qt.Key.Key_Backspace)],
                     "Remove the selected changes from the change list", self.remove_selected)
        self.undo_btn = QPushButton("Undo last action (Ctrl+Z)")
        self.undo_btn.setToolTip("Undo the last action, whichever row is selected: the last relabel / quarantine / "
                                 "keep / removal (all the images it changed)")
        self.undo_btn.clicked.connect(self.undo)
        self.retrain_btn = QPushButton("Retrain with changes")
        self.retrain_btn.setToolTip("Start a new run with the current recipe; the new scan applies these changes "
                                    "(relabelled images get their new class, quarantined ones are left out)")
        self.retrain_btn.clicked.connect(self.retrainRequested)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("<b>Changes</b>"))
        bar.addStretch(1)
        bar.addWidget(self.remove_btn)
        bar.addWidget(self.undo_btn)
        bar.addWidget(self.retrain_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.info)
        lay.addWidget(self.table, 1)
        self.refresh()

    def open_root(self, root: str, beside_data: bool = False) -> None:
        """Load the change set of a dataset folder (the sidecar is created on the first action)."""
        self.root, self._beside = str(root), beside_data
        try:
            self.changeset = ChangeSet.load(self.root, beside_data)
        except Exception as e:  # a broken sidecar must not block the results
            self.changeset = None
            self.failed.emit(f"cannot read the change list of {root}: {e}")
        self.refresh()

    def entries(self) -> list[dict]:
        return list(self.changeset.entries) if self.changeset is not None else []

    def marks(self, paths: list[str] | None = None) -> dict[str, str]:
        """{path: caption mark} for the changed files (keyed like ``paths`` when given)."""
        if paths is None or self.changeset is None:
            return {e["path"]: mark_text(e) for e in self.entries() if mark_text(e)}
        out = {}
        for p in paths:
            try:
                e = self.changeset.get(p)
            except ValueError:  # a file outside the dataset folder has no change
                e = None
            if e and mark_text(e):
                out[p] = mark_text(e)
        return out

    def apply(self, action: str, paths: list[str], new_class: str = "", classes: tuple | None = None) -> bool:
        """Relabel / quarantine / keep the given files and save the sidecar (new_class must be in classes)."""
        return self.apply_each([(action, p, new_class) for p in paths], classes)

    def apply_each(self, changes: list[tuple[str, str, str]], classes: tuple | None = None) -> bool:
        """(action, path, new class) per file as ONE action (one Ctrl+Z undoes them all), e.g. accepting
        each selected image's own suggested class; the sidecar is saved once."""
        cs = self.changeset
        if cs is None or not changes:
            return False

        def do(action: str, p: str, new_class: str) -> None:
            if action == "relabel":
                cs.relabel(p, new_class, classes)
            elif action == "quarantine":
                cs.quarantine(p)
            elif action == "keep":
                cs.keep(p)
            else:
                raise ValueError(f"unknown action {action!r}")
        return self._write_action([(c[0], lambda c=c: do(*c)) for c in changes])

    def _write_action(self, steps: list[tuple[str, Callable[[], None]]]) -> bool:
        """Run ``steps`` ((what, do)) as ONE action of the change list (one Ctrl+Z undoes them all) and
        save it once; a failure is said with the step's name and the list is shown as it is."""
        cs, what = self.changeset, steps[0][0]
        try:
            with cs.action():
                for what, step in steps:
                    step()
            cs.save()
        except Exception as e:
            self.failed.emit(f"{what} failed: {e}")
            self.refresh()
            return False
        self._written()
        return True

    def selected_paths(self) -> list[str]:
        rows = sorted({ix.row() for ix in self.table.selectionModel().selectedRows()})
        return [self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in rows]

    def _selection_changed(self) -> None:
        self.remove_btn.setEnabled(self.changeset is not None and bool(self.selected_paths()))

    def remove_selected(self) -> bool:
        """Take the selected rows' changes off the list, as ONE action (Undo brings them all back)."""
        cs, paths = self.changeset, self.selected_paths()
        if cs is None or not paths or not self._write_action([("remove", lambda p=p: cs.remove(p)) for p in paths]):
            return False
        name = Path(paths[0]).name if len(paths) == 1 else f"{len(paths)} images"
        self.undone.emit(f"Removed the change of {name} from the list; Undo brings it back.")
        return True

    def undo(self) -> bool:
        cs = self.changeset
        if cs is None:
            return False
        try:
            undone = cs.undo()
            if undone:
                cs.save()
        except Exception as e:
            self.failed.emit(f"undo failed: {e}")
            return False
        if undone:   # nothing undone: nothing was written, so no page is told the list changed
            self._written()
        self.undone.emit(undone_text(undone))
        return bool(undone)

    def _written(self) -> None:
        """After a write: this list refreshed, and every other view of the dataset's list told."""
        self.refresh()
        self.changed.emit()
        if self.session is not None and self.root:
            self._writing = True
            try:
                self.session.changes_written(self.root)
            finally:
                self._writing = False

    def _edited(self, root: str) -> None:
        """Another view (Audit, Results, Try it, an undo) wrote the change list of a dataset: this one
        reloads when it shows that dataset's."""
        if not self._writing and same_dataset(self.root, root):
            self.open_root(self.root, self._beside)
            self.changed.emit()
            self.reloaded.emit()

    def refresh(self) -> None:
        entries = self.entries()
        self.table.clearSelection()   # the rows are rebuilt: a selection kept would point at other changes
        self.table.setRowCount(len(entries))
        base = Path(self.root) if self.root else None
        for r, e in enumerate(entries):
            path = str(e.get("path", ""))
            try:
                shown = str(Path(path).relative_to(base)) if base else path
            except ValueError:
                shown = path
            item = QTableWidgetItem(shown)
            item.setToolTip(path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.table.setItem(r, 0, item)
            self.table.setItem(r, 1, QTableWidgetItem(ACTION_TEXT.get(e.get("action"), str(e.get("action")))))
            self.table.setItem(r, 2, QTableWidgetItem(str(e.get("new_class") or "")))
            self.table.setItem(r, 3, QTableWidgetItem(_when(e.get("time"))))
        if self.changeset is None:
            self.info.setText("No dataset: open a run or a dataset to collect changes.")
        else:
            where = getattr(self.changeset, "location", "")
            self.info.setText(f"{len(entries)} change(s), stored in {where}. The image files are never touched; "
                              "the next scan applies the changes.")
        self.undo_btn.setEnabled(self.changeset is not None and self.changeset.can_undo)
        self._selection_changed()
        self.retrain_btn.setEnabled(bool(entries))


def _when(t) -> str:
    """Time stamp of a change: epoch seconds or an ISO string, shown to the second."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(t)))
    except (TypeError, ValueError):
        return str(t or "").replace("T", " ")[:19]
