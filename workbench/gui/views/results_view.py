"""Results summary of one run: headline metrics, sortable per-class table, training curves."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..widgets.common import fit_columns, pane, splitter
from .plots import TRAIN_COLOUR, VALID_COLOUR, legend_below
from .result_texts import SMOOTHED

EDGE = 14   # px right of a history plot where the last epoch's number is written whole
CURVE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


class NumItem(QTableWidgetItem):
    """Table item that sorts by its numeric value."""

    def __init__(self, value: float, text: str) -> None:
        super().__init__(text)
        self.value = float(value)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, NumItem):
            return self.value < other.value
        return super().__lt__(other)


def fmt(v, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.1%}" if pct else f"{v:.4g}"


def history_column(history: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of one history key, skipping rows without a number."""
    xs, ys = [], []
    for i, row in enumerate(history):
        v = row.get(key)
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            xs.append(float(row.get("epoch", i)) + 1)  # history epochs are 0-based; people count from 1
            ys.append(v)
    return np.asarray(xs), np.asarray(ys)


def make_plot(title: str, ylabel: str, legend_bottom: bool = False) -> pg.PlotWidget:
    """A history plot; ``legend_bottom`` for rising curves (accuracy), whose ends are top right."""
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#333")
    w.setLabel("bottom", "epoch")
    w.setLabel("left", ylabel)
    w.showGrid(x=True, y=True, alpha=0.25)
    legend_below(w.getPlotItem())  # under the x axis: never over a curve
    w.setMinimumHeight(160)
    for axis in ("left", "bottom"):
        w.getAxis(axis).enableAutoSIPrefix(False)
    # the last epoch's number may reach past the axis end: room for it right of the plot
    w.getAxis("bottom").setStyle(hideOverlappingLabels=EDGE)
    w.getPlotItem().layout.setContentsMargins(1, 1, EDGE, 1)
    return w


class ResultsView(QWidget):
    """Shows summary numbers, the per-class report and the loss / accuracy curves of a run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel("<b>No run open</b>")
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.values: dict[str, QLabel] = {}
        self._plain_loss = None   # the headline's plain cross-entropy (set_summary)
        self.names: dict[str, QLabel] = {}
        box = QGroupBox("Summary")
        grid = QGridLayout(box)
        for col, (key, label) in enumerate((("accuracy", "Accuracy"), ("balanced_accuracy", "Balanced accuracy"),
                                            ("valid_loss", "Validation loss"), ("top5", "Top-5 accuracy"),
                                            ("n", "Validation images"))):
            name = QLabel(label)
            name.setAlignment(Qt.AlignmentFlag.AlignCenter)
            val = QLabel("–")
            val.setAlignment(Qt.AlignmentFlag.AlignCenter)
            f = val.font()
            f.setPointSizeF(f.pointSizeF() * 1.6)
            f.setBold(True)
            val.setFont(f)
            grid.addWidget(val, 0, col)
            grid.addWidget(name, 1, col)
            self.values[key], self.names[key] = val, name
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Support"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the names get
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # what the numbers leave (set_report fits them)
        self.table.setWordWrap(False)   # a cut name stays on one line ("cassette…player"), never half a second
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.setToolTip("Click a column header to sort")
        self.loss_plot = make_plot("Loss", "loss")
        self.acc_plot = make_plot("Accuracy", "accuracy", legend_bottom=True)
        plots = pane(self.loss_plot, self.acc_plot)
        table_box = pane(QLabel("<b>Per class</b>"), self.table)
        split = splitter(Qt.Orientation.Horizontal, table_box, plots, stretch=(2, 3), sizes=[480, 760])
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(box)
        lay.addWidget(split, 1)
        self.set_report([])   # the empty table's numbers as narrow as their titles: "Class" stays whole

    def set_summary(self, summary: dict, heading: str = "") -> None:
        """summary keys: accuracy, balanced_accuracy, valid_loss, top5 (absent or None hides it: with 5
        classes or fewer it is always 100 %), n."""
        if heading:
            self.heading.setText(heading)
        for key, lab in self.values.items():
            v = summary.get(key)
            if key == "top5":
                lab.setHidden(v is None)
                self.names[key].setHidden(v is None)
            if key == "valid_loss":
                self._plain_loss = v
            if key == "n":
                lab.setText(str(int(v)) if v is not None else "–")
            else:
                lab.setText(fmt(v, pct=key != "valid_loss"))

    def set_loss_kind(self, smoothing: float, trained: float | None = None) -> None:
        """Say which loss each number is. With label smoothing the headline is the loss the run trained
        with (the number of the Train log and the curves), with the plain cross-entropy of the same
        predictions beside it; without, both are the same plain cross-entropy."""
        plain = self._plain_loss
        name, value = self.names["valid_loss"], self.values["valid_loss"]
        if smoothing > 0 and trained is not None:
            value.setText(fmt(trained))
            name.setText(f"Validation loss\n{SMOOTHED}\n(plain cross-entropy {fmt(plain)})")
            name.setToolTip(f"The validation loss the run trained with (cross-entropy with label smoothing "
                            f"{smoothing:g}), as in the Train log and the loss curve; the plain cross-entropy "
                            "of the same predictions is lower, since smoothing never lets the loss reach 0")
        else:
            value.setText(fmt(plain))
            name.setText("Validation loss\n(plain cross-entropy)")
            name.setToolTip("Mean cross-entropy of the validation predictions of the model shown "
                            "(no label smoothing)")
        short = SMOOTHED if smoothing > 0 else "cross-entropy, as in the headline"
        self.loss_plot.setTitle(f"Loss per epoch ({short})", color="#333")
        self.loss_plot.setToolTip(
            f"The loss the run trained with: cross-entropy with label smoothing {smoothing:g}, the headline's "
            "validation loss; it stays above the plain cross-entropy" if smoothing > 0 else
            "Plain cross-entropy per epoch, the same quantity as the headline's validation loss")

    def set_report(self, report: list[dict]) -> None:
        t = self.table
        t.setSortingEnabled(False)
        t.setRowCount(len(report))
        for r, row in enumerate(report):
            t.setItem(r, 0, QTableWidgetItem(str(row["class"])))
            for c, key in enumerate(("precision", "recall", "f1"), start=1):
                t.setItem(r, c, NumItem(row[key], fmt(row[key], pct=True)))
            t.setItem(r, 4, NumItem(row["support"], str(int(row["support"]))))
        t.setSortingEnabled(True)
        t.sortItems(0, Qt.SortOrder.AscendingOrder)
        for r in range(t.rowCount()):
            t.item(r, 0).setToolTip(t.item(r, 0).text())
        fit_columns(t)
        # the table asks for the fitted numbers plus the longest class name (the splitter gives the
        # curves the rest), so a name like "english_springer" is never cut while there is room
        # measured from the names (the stretched column's own width is whatever the splitter gave it)
        fm = t.fontMetrics()
        names = max((fm.horizontalAdvance(str(row["class"])) + 24 for row in report), default=0)
        names = max(names, fm.horizontalAdvance("Class") + 32) if report else 0
        t.setMinimumWidth(min(names + sum(t.columnWidth(c) for c in range(1, 5)) + 2 * t.frameWidth()
                              + t.verticalScrollBar().sizeHint().width(), 640))

    def set_history(self, runs: list[tuple[str, list[dict]]]) -> None:
        """Draw the curves of one or several runs: [(name, history rows)]."""
        draw_history(self.loss_plot, self.acc_plot, runs)

    def column_values(self, col: int) -> list[str]:
        return [self.table.item(r, col).text() for r in range(self.table.rowCount())]


def draw_history(loss_plot: pg.PlotWidget, acc_plot: pg.PlotWidget, runs: list[tuple[str, list[dict]]]) -> None:
    """Train/valid loss and accuracy per epoch; one colour per run, dashed = training loss."""
    for p in (loss_plot, acc_plot):
        p.clear()
    single = len(runs) == 1
    for p in (loss_plot, acc_plot):   # run names are long: one per row, so the legend never widens the plot
        legend = p.getPlotItem().legend
        if legend is not None:
            legend.setColumnCount(4 if single else 1)
    n_epochs = int(max((history_column(h, key)[0].max(initial=0) for _, h in runs
                        for key in ("valid_loss", "train_loss", "accuracy")), default=0))   # the last epoch drawn
    for p in (loss_plot, acc_plot):
        # whole epochs only: every epoch up to 10, then labels every 5 with a tick per epoch
        spacing = (1, 1) if 0 < n_epochs <= 10 else (5, 1) if n_epochs <= 40 else (None, None)
        p.getAxis("bottom").setTickSpacing(*spacing)
    dashed = False
    for k, (name, history) in enumerate(runs):
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        x, y = history_column(history, "valid_loss")
        vcol = VALID_COLOUR if single else colour   # one run: the Train page's colours
        if len(x):
            loss_plot.plot(x, y, pen=pg.mkPen(vcol, width=2), symbol="o", symbolSize=5,
                           symbolBrush=vcol, name="valid" if single else name)
        x, y = history_column(history, "train_loss")
        if len(x):
            tcol = TRAIN_COLOUR if single else colour
            loss_plot.plot(x, y, pen=pg.mkPen(tcol, width=2, style=Qt.PenStyle.DashLine),
                           name="train" if single else None)   # several runs: one legend row each
            dashed = dashed or not single

        x, y = history_column(history, "accuracy")
        if len(x):
            acc_plot.plot(x, y, pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5,
                          symbolBrush=colour, name="accuracy" if single else name)
    if dashed:   # several runs: the legend says what the dashes are (the title stays short, whole)
        loss_plot.plot([], [], pen=pg.mkPen("#64748b", width=2, style=Qt.PenStyle.DashLine), name="dashed: training")
    fit_runs(loss_plot, acc_plot, n_epochs, 1 if single else len(runs) + dashed)


def fit_runs(loss_plot: pg.PlotWidget, acc_plot: pg.PlotWidget, n_epochs: int, legend_rows: int) -> None:
    """Every selected run in view: the x axis spans all their epochs and both axes follow the data
    again (a zoom or pan of the previous selection does not stay); the plots are tall enough for the
    title, the curves and one legend row per run."""
    row = loss_plot.fontMetrics().height() + 6
    for p in (loss_plot, acc_plot):
        p.setMinimumHeight(160 + row * min(legend_rows, 8))
        vb = p.getPlotItem().getViewBox()
        vb.enableAutoRange(x=True, y=True)
        if n_epochs:   # the widest run decides; half an epoch each side keeps the end points whole
            vb.setXRange(0.5, max(2, n_epochs) + 0.5, padding=0)
        vb.enableAutoRange(y=True)
