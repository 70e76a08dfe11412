"""*Resume a run...*: the runs of the runs folder that can continue (stopped, failed, or cut off by a
closed app or a crash), with their status, epochs done / planned and dataset; another folder can
still be picked."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QFileDialog, QHeaderView,
                               QLabel, QMessageBox, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from ..session_helpers import STATUS_WORDS, run_epochs
from .run_compare import created_words

FINISHED = ("completed", "early_stopped")
STATUS_TEXT = {**STATUS_WORDS, "running": "cut off (app closed or crashed)"}


def confirm_data_changes(parent: QWidget, session, run_dir: str) -> bool:
    """Before a resume: when images were relabelled or quarantined since the run last scanned its
    dataset, say that its remaining epochs train and validate on the changed data, and ask."""
    n = session.data_changes_since(run_dir)
    if not n:
        return True
    return QMessageBox.question(
        parent, "Resume", f"{n} image(s) of its dataset were relabelled or quarantined since {Path(run_dir).name} "
        "last scanned it. Its remaining epochs will train and validate on the changed data, so its curves and "
        "its final accuracy mix the two (Retrain with changes starts a clean run instead). Resume anyway?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No) == QMessageBox.StandardButton.Yes


def resumable(infos: list) -> list:
    """The runs that have epochs left to train, newest first (finished runs are left out)."""
    out = []
    for info in infos:
        done, planned = run_epochs(info)
        if str(info.status) not in FINISHED and done < planned:
            out.append(info)
    return out


class ResumeDialog(QDialog):
    """Pick a run to resume; ``chosen`` is its folder after ``accept``."""

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Resume a run")
        self.session = session
        self.chosen = ""
        self.infos: list = []
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Run", "Status", "Epochs", "Started", "Dataset"])
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.cellDoubleClicked.connect(lambda *_: self._accept_row())
        self.note = QLabel("Reading the runs folder…")
        self.note.setObjectName("dim")
        self.note.setWordWrap(True)
        self.other_btn = QPushButton("Other folder…")
        self.other_btn.setToolTip("Pick a run folder outside the runs folder")
        self.other_btn.clicked.connect(self._pick_folder)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.resume_btn = box.addButton("Resume", QDialogButtonBox.ButtonRole.AcceptRole)
        self.resume_btn.setEnabled(False)
        box.addButton(self.other_btn, QDialogButtonBox.ButtonRole.ActionRole)
        box.accepted.connect(self._accept_row)
        box.rejected.connect(self.reject)
        self.table.itemSelectionChanged.connect(
            lambda: self.resume_btn.setEnabled(bool(self.table.selectionModel().selectedRows())))
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Runs in {session.config.runs_dir} that can continue from their last checkpoint:"))
        lay.addWidget(self.table, 1)
        lay.addWidget(self.note)
        lay.addWidget(box)
        self.resize(760, 360)
        session.runs_listed.connect(self.set_runs)
        session.refresh_runs()

    def set_runs(self, infos: list) -> None:
        self.infos = resumable(infos)
        t = self.table
        t.setRowCount(len(self.infos))
        for r, info in enumerate(self.infos):
            done, planned = run_epochs(info)
            name = QTableWidgetItem(info.name)
            name.setToolTip(str(info.run_dir))
            t.setItem(r, 0, name)
            t.setItem(r, 1, QTableWidgetItem(STATUS_TEXT.get(str(info.status), str(info.status))))
            t.setItem(r, 2, QTableWidgetItem(f"{done}/{planned}"))
            t.setItem(r, 3, QTableWidgetItem(created_words(info)))
            data = getattr(info.config.data, "path", "")
            item = QTableWidgetItem(Path(data).name if data else "")
            item.setToolTip(data)
            t.setItem(r, 4, item)
        self.note.setText("" if self.infos else "No run to resume here: every run has finished. "
                          "Use “Other folder…” for a run folder elsewhere.")
        if self.infos:
            t.selectRow(0)

    def _accept_row(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.chosen = str(self.infos[rows[0].row()].run_dir)
            self.accept()

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Resume a run folder", self.session.config.runs_dir)
        if folder:
            self.chosen = folder
            self.accept()

    def done(self, result: int) -> None:  # noqa: D401 - QDialog API
        try:
            self.session.runs_listed.disconnect(self.set_runs)
        except (RuntimeError, TypeError):
            pass
        super().done(result)
