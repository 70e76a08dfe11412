"""Rename a run and keep a note on it: the dialog, and the F2 / context-menu action the run lists share.

The work happens in the session (``Session.edit_run`` -> ``workbench.run.runs.edit_run``: one atomic folder
rename, refused while the run is in use; the note in ``note.txt``); the dialog stays open until the
session answers and shows a refusal in place.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPlainTextEdit,
                               QVBoxLayout, QWidget)

from ..run.runs import read_note

SHORTCUT = "F2"


class RunEditDialog(QDialog):
    """Name and note of one run; OK asks the session and closes when it has done it."""

    def __init__(self, session, run_dir: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.run_dir = session, str(run_dir)
        self.setWindowTitle("Rename run / note")
        self.name = QLineEdit(Path(self.run_dir).name)
        self.name.selectAll()
        self.note = QPlainTextEdit(read_note(self.run_dir).rstrip("\n"))
        self.note.setPlaceholderText("What this run tried, what you saw… (kept in note.txt in the run folder)")
        self.note.setTabChangesFocus(True)
        self.error = QLabel("", wordWrap=True)
        self.error.setStyleSheet("color: #b42318")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.apply)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Note", self.note)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"<span style='color:#64748b'>{Path(self.run_dir).parent}</span>"))
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.resize(520, 300)
        session.run_edited.connect(self._done)

    def apply(self) -> None:
        self.error.setText("")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.session.edit_run(self.run_dir, self.name.text(), self.note.toPlainText())

    def _done(self, run_dir: str, new: str, error: str) -> None:
        if run_dir != self.run_dir or not self.isVisible():
            return
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        if error:
            self.error.setText(error)
        else:
            self.run_dir = new
            self.accept()


def rename_action(widget: QWidget, session, run_dir: Callable[[], str]) -> QAction:
    """A "Rename / note…" action (F2 while ``widget`` has the focus, and in its context menu) that
    edits the run ``run_dir()`` names ("" = none selected)."""
    act = QAction("Rename / note…", widget)
    act.setShortcut(QKeySequence(SHORTCUT))
    act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    act.setToolTip("Rename the selected run folder and keep a note on it (F2)")
    act.setProperty("group", "Run lists (sidebar, Runs page)")

    def edit() -> None:
        folder = run_dir()
        if folder:
            dlg = RunEditDialog(session, folder, widget.window())
            dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            act.dialog = dlg  # the open dialog (tests reach it here)
            dlg.open()
    act.triggered.connect(edit)
    widget.addAction(act)
    widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
    return act
