"""The sidebar's run list: the runs folder's runs, newest first, those of the open dataset before the
others (greyed, their dataset named in the tooltip). Names that share a long prefix (the dataset and
date of runs started the same day) are cut in the middle, so the distinct end (the time) stays
visible; the whole name, folder, dataset, status and note are in the tooltip. Clicking a run opens it."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from ..run.runs import status_words
from .session_helpers import same_dataset
from .widgets.common import key_shortcut

OTHER = QColor("#8a8f98")   # the text of another dataset's run


class RunList(QListWidget):
    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("runs")
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names share a prefix: keep both ends
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.itemActivated.connect(self._open)
        enter = key_shortcut(self, ["Return", "Enter"], "Open the selected run",
                             lambda: self.currentItem() and self._open(self.currentItem()))
        enter.setProperty("group", "Run list (sidebar)")
        self.itemClicked.connect(self._open)
        self.infos: list = []
        session.runs_listed.connect(self.fill)
        session.dataset_changed.connect(lambda ds: ds is not None and self.fill(self.infos))

    def fill(self, infos: list) -> None:
        self.infos = list(infos)
        self.clear()
        open_now = self.session.config.data.path

        def dataset(info) -> str:
            cfg = getattr(info, "config", None)
            return str(cfg.data.path or "") if cfg is not None else ""
        mine = {id(i): bool(open_now) and bool(dataset(i)) and same_dataset(dataset(i), open_now) for i in infos}
        for info in sorted(infos, key=lambda i: not mine[id(i)]):   # stable: newest first in each group
            item = QListWidgetItem(str(getattr(info, "name", Path(info.run_dir).name)))
            item.setSizeHint(QSize(10, self.fontMetrics().height() + 6))  # as wide as the list: cut, not clipped
            item.setData(Qt.ItemDataRole.UserRole, str(info.run_dir))
            status = status_words(getattr(info, "status", ""))
            note = getattr(info, "note", "")
            data = dataset(info)
            where = f"\ndataset: {data}" if data else ""
            if open_now and not mine[id(info)]:
                item.setForeground(QBrush(OTHER))
                where += " (not the open dataset)"
            item.setToolTip(f"{item.text()}\n{info.run_dir}{where}\nstatus: {status}" + (f"\n\n{note}" if note else "")
                            + "\n\nF2 or right-click: rename / note")
            self.addItem(item)

    def current_dir(self) -> str:
        item = self.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ""

    def _open(self, item: QListWidgetItem) -> None:
        self.session.open_run(item.data(Qt.ItemDataRole.UserRole))
