"""The sidebar's run list: the runs folder's runs, newest first, those of the open dataset before the
others (greyed, their dataset named in the tooltip). Names that share a long prefix (the dataset and
date of runs started the same day) are cut in the middle, so the distinct end (the time) stays
visible. Under each name a dim line tells runs apart by what they did ("stopped · 3/8 epochs · 72.5 %");
the whole name, folder, dataset, status and note are in the tooltip. Clicking a run opens it."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from .session_helpers import run_summary, same_dataset
from .widgets.common import key_shortcut

OTHER = QColor("#8a8f98")   # the text of another dataset's run
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 1   # the dim second line: status, epochs, accuracy


class TwoLineDelegate(QStyledItemDelegate):
    """The run's name (cut in the middle) over its summary line (smaller, dim, cut at the end)."""

    def paint(self, painter, option, index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        summary, opt.text = str(index.data(SUMMARY_ROLE) or ""), ""
        style = opt.widget.style() if opt.widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        r = option.rect.adjusted(4, 2, -4, -2)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        pal = option.palette
        fg = index.data(Qt.ItemDataRole.ForegroundRole)
        painter.save()
        painter.setFont(option.font)
        painter.setPen(pal.color(QPalette.ColorRole.HighlightedText) if selected
                       else (fg.color() if isinstance(fg, QBrush) else pal.color(QPalette.ColorRole.Text)))
        fm = painter.fontMetrics()
        top = QRect(r.left(), r.top(), r.width(), fm.height())
        painter.drawText(top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(str(index.data(Qt.ItemDataRole.DisplayRole) or ""), Qt.TextElideMode.ElideMiddle, r.width()))
        small = QFont(option.font)
        small.setPointSizeF(max(6.0, option.font.pointSizeF() * 0.85))
        painter.setFont(small)
        if not selected:
            painter.setPen(OTHER)
        fm2 = painter.fontMetrics()
        painter.drawText(QRect(r.left(), top.bottom() + 1, r.width(), fm2.height()),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         fm2.elidedText(summary, Qt.TextElideMode.ElideRight, r.width()))
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        fm = option.fontMetrics
        return QSize(10, fm.height() + int(fm.height() * 0.85) + 8)   # as wide as the list: cut, not clipped


class RunList(QListWidget):
    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("runs")
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names share a prefix: keep both ends
        self.setItemDelegate(TwoLineDelegate(self))
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
            item.setData(Qt.ItemDataRole.UserRole, str(info.run_dir))
            status = self.session.run_status(info)
            item.setData(SUMMARY_ROLE, run_summary(self.session.live_info(info), status))
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
