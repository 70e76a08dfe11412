"""Confusion matrix as a heatmap table plus the most-confused pairs list.

The view draws arrays the core computed (counts CxC with rows = true class, and a list of
(true, pred, count)); clicking a cell or a pair emits ``cellChosen(true_idx, pred_idx)``.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QListWidget, QListWidgetItem, QStyle,
                               QStyleOptionHeader, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..widgets.common import key_shortcut, pane, splitter


PAIRS_MAX = 360   # px: the widest the most-confused list grows to fit its pairs


def cell_colour(frac: float, diagonal: bool) -> QColor:
    """Row-normalized share -> background colour: blue scale on the diagonal, red scale off it."""
    f = float(np.clip(frac, 0.0, 1.0))
    if diagonal:
        base, full = np.array([246, 248, 252]), np.array([33, 102, 172])
    else:
        base, full = np.array([252, 248, 246]), np.array([190, 40, 40])
    rgb = (base + (full - base) * f).astype(int)
    return QColor(*rgb)


class RotatedHeader(QHeaderView):
    """Column titles written bottom to top, so long class names stay whole in narrow columns; a name
    longer than MAX px is cut in the middle (its tooltip is whole)."""
    MAX = 180

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

    def texts(self) -> list[str]:
        m = self.model()
        return [str(m.headerData(i, self.orientation()) or "") for i in range(self.count())] if m else []

    def sizeHint(self) -> QSize:  # noqa: N802
        widest = max((self.fontMetrics().horizontalAdvance(t) for t in self.texts()), default=0)
        return QSize(super().sizeHint().width(), min(widest, self.MAX) + 14)

    def shown_text(self, index: int) -> str:
        return self.fontMetrics().elidedText(self.texts()[index], Qt.TextElideMode.ElideMiddle, self.height() - 14)

    def paintSection(self, painter, rect, index: int) -> None:  # noqa: N802
        opt = QStyleOptionHeader()
        self.initStyleOption(opt)
        opt.rect, opt.section, opt.text = rect, index, ""
        self.style().drawControl(QStyle.ControlElement.CE_Header, opt, painter, self)
        fm = self.fontMetrics()
        painter.save()
        painter.translate(rect.left() + (rect.width() + fm.ascent() - fm.descent()) / 2, rect.bottom() - 7)
        painter.rotate(-90)
        painter.drawText(0, 0, self.shown_text(index))
        painter.restore()


class ConfusionView(QWidget):
    """Heatmap table (true rows x predicted columns) and a clickable most-confused list."""
    cellChosen = Signal(int, int)   # true class index, predicted class index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes: tuple = ()
        self.counts = np.zeros((0, 0), dtype=np.int64)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.table.setHorizontalHeader(RotatedHeader(self.table))
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Rows: true class, columns: predicted class. Click a cell (or move to it and press Enter) to see those images.")
        self.table.cellClicked.connect(self._clicked)
        self.table.cellActivated.connect(self._clicked)   # Enter on the current cell: no mouse needed
        key_shortcut(self.table, ["Return", "Enter"], "Show the images of the current cell of the confusion matrix",
                     lambda: self._clicked(self.table.currentRow(), self.table.currentColumn()))
        self.pairs = QListWidget()
        self.pairs.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.pairs.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.pairs.setToolTip("Pairs of classes the model mixes up most (true -> predicted). Click to see them.")
        self.pairs.itemClicked.connect(self._pair_clicked)
        self.pairs.itemActivated.connect(self._pair_clicked)
        key_shortcut(self.pairs, ["Return", "Enter"], "Show the images of the selected most-confused pair",
                     lambda: self.pairs.currentItem() and self._pair_clicked(self.pairs.currentItem()))
        self.caption = QLabel("Rows = true class, columns = predicted class (names written upwards); "
                              "colour = share of the row.")
        self.caption.setWordWrap(True)
        left = pane(QLabel("<b>Confusion matrix</b>"), (self.table, 1), self.caption)
        right = pane(QLabel("<b>Most confused</b>"), (self.pairs, 1))
        split = splitter(Qt.Orientation.Horizontal, left, right, stretch=(4, 1))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

    def set_data(self, counts: np.ndarray, classes: tuple, pairs: list[tuple]) -> None:
        """counts: CxC (rows true); pairs: [(true_name_or_idx, pred_name_or_idx, count)]."""
        self.counts = np.asarray(counts, dtype=np.int64)
        self.classes = tuple(classes)
        n = len(self.classes)
        t = self.table
        t.clear()
        t.setRowCount(n)
        t.setColumnCount(n)
        t.setHorizontalHeaderLabels(list(self.classes))
        t.setVerticalHeaderLabels(list(self.classes))
        for j, c in enumerate(self.classes):
            t.horizontalHeaderItem(j).setToolTip(f"predicted {c}")
            t.verticalHeaderItem(j).setToolTip(f"true {c}")
        t.horizontalHeader().updateGeometry()
        rows = self.counts.sum(axis=1)
        for i in range(n):
            for j in range(n):
                c = int(self.counts[i, j])
                frac = c / rows[i] if rows[i] else 0.0
                item = QTableWidgetItem(str(c))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                bg = cell_colour(frac, i == j)
                item.setBackground(QBrush(bg))
                item.setForeground(QBrush(QColor("white") if frac > 0.55 else QColor(30, 30, 30)))
                item.setToolTip(f"true {self.classes[i]}, predicted {self.classes[j]}: {c} image(s) "
                                f"({frac:.0%} of {int(rows[i])} {self.classes[i]})")
                t.setItem(i, j, item)
        self.pairs.clear()
        for true, pred, count in pairs:
            ti, pi = self._index(true), self._index(pred)
            it = QListWidgetItem(f"{int(count)} × {self.classes[ti]} → {self.classes[pi]}")  # the count never cut
            it.setData(Qt.ItemDataRole.UserRole, (ti, pi))
            it.setSizeHint(QSize(10, self.pairs.fontMetrics().height() + 6))   # as wide as the list: cut, not clipped
            it.setToolTip(f"{int(count)} {self.classes[ti]} image(s) predicted as {self.classes[pi]}")
            self.pairs.addItem(it)
        if not pairs:
            self.pairs.addItem(QListWidgetItem("no confusions"))
        self._fit_pairs()

    def _fit_pairs(self) -> None:
        """The most-confused list as wide as its longest line (up to PAIRS_MAX px): the pairs stay whole
        without a horizontal scroll; a longer one is cut in the middle (its tooltip is whole)."""
        self.pairs.ensurePolished()   # the style sheet's font, which the list draws with
        fm = self.pairs.fontMetrics()
        widest = max((fm.horizontalAdvance(self.pairs.item(i).text()) for i in range(self.pairs.count())), default=0)
        extra = 2 * self.pairs.frameWidth() + self.pairs.verticalScrollBar().sizeHint().width() + 16
        self.pairs.setMinimumWidth(min(widest + extra, PAIRS_MAX))

    def _index(self, v) -> int:
        return self.classes.index(v) if isinstance(v, str) else int(v)

    def cell_text(self, i: int, j: int) -> str:
        return self.table.item(i, j).text()

    def choose(self, i: int, j: int) -> None:
        """Select a cell as a click would."""
        self.table.setCurrentCell(i, j)
        self._clicked(i, j)

    def _clicked(self, i: int, j: int) -> None:
        if 0 <= i < len(self.classes) and 0 <= j < len(self.classes):
            self.cellChosen.emit(i, j)

    def _pair_clicked(self, item: QListWidgetItem) -> None:
        data = item.data(Qt.ItemDataRole.UserRole)
        if data:
            self.table.setCurrentCell(*data)
            self.cellChosen.emit(*data)
