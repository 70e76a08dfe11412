"""The Data page's health report: one row per skipped file or note (file, problem, details) and a
preview of the selected file (or why it cannot be shown). A note's file is decoded in the side pool
(``widgets.thumbs.request_thumb``); a file the health check left out is never decoded here."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from ..session_helpers import display_text
from ..widgets.common import splitter
from ..widgets.thumbs import request_thumb


class HealthPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["File", "Problem", "Details"])
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._show_problem)
        self.path = QLabel()
        self.path.setWordWrap(True)
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(200, 200)
        self.image.setWordWrap(True)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.addWidget(self.path)
        sl.addWidget(self.image, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(splitter(Qt.Orientation.Horizontal, self.table, side, stretch=(3, 1)))
        self._paths: list[str] = []
        self._messages: list[str] = []
        self._skipped: list[bool] = []
        self._shown = ""     # the file whose picture is asked for

    def clear(self) -> None:
        self.table.setRowCount(0)
        self._paths, self._skipped, self._shown = [], [], ""
        self.path.setText("")
        self.image.clear()

    def fill(self, problems: list) -> int:
        """Show ``problems`` (Problem objects); returns how many of them are skipped files."""
        self.clear()
        self.table.setRowCount(len(problems))
        self._paths = [pr.path for pr in problems]  # Python strings: Qt would drop surrogate escapes
        self._messages = [display_text(pr.message) for pr in problems]
        self._skipped = [bool(pr.skipped) for pr in problems]
        for r, pr in enumerate(problems):
            name = QTableWidgetItem(display_text(Path(pr.path).name))
            name.setData(Qt.ItemDataRole.UserRole, r)
            name.setToolTip(display_text(pr.path))
            kind = QTableWidgetItem(pr.kind + ("" if pr.skipped else " (note)"))
            self.table.setItem(r, 0, name)
            self.table.setItem(r, 1, kind)
            self.table.setItem(r, 2, QTableWidgetItem(display_text(pr.message)))
        self.table.resizeColumnsToContents()
        return sum(1 for p in problems if p.skipped)

    def _show_problem(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        i = self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        path = self._paths[i]
        self.path.setText(f"{display_text(path)}\n\n{self._messages[i]}")   # what is wrong, in words, by the picture
        self.image.clear()
        self._shown = path
        if self._skipped[i]:   # rejected: its problem says why; the app never opens it
            self.image.setText("Left out by the health check: not shown.")
        elif not Path(path).is_file():
            self.image.setText("Not a file (folder or missing).")
        else:
            self.image.setText("loading…")
            request_thumb(path, 256, self._thumb_loaded)

    def _thumb_loaded(self, result) -> None:
        path, img = result
        if path != self._shown:
            return
        if isinstance(img, Exception):  # the file is broken: say so instead of showing it
            self.image.setText(f"Cannot be decoded:\n{type(img).__name__}: {img}")
        else:
            self.image.setPixmap(QPixmap.fromImage(img))
