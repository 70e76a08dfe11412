"""LR finder page: the smoothed loss vs log lr grows while the range test runs; suggestions are marked
and listed; clicking the plot (or a suggestion) picks that lr and sets train.lr in the recipe."""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QVBoxLayout, QWidget)

from ...events import Event, LRFindStep
from ..widgets.common import page_header, set_icon
from .plots import LivePlot

SUGGESTION_COLORS = {"valley": "#10b981", "steep": "#f97316", "minimum": "#a855f7", "slide": "#06b6d4"}


class LRFindView(QWidget):
    lr_picked = Signal(float)

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.run_btn = QPushButton("Run LR finder")
        self.run_btn.setObjectName("primary")
        set_icon(self.run_btn, "search")
        self.stop_btn = QPushButton("Stop")
        set_icon(self.stop_btn, "stop")
        self.run_btn.clicked.connect(self.run)
        self.stop_btn.clicked.connect(session.stop)

        self.plot = LivePlot("Loss vs learning rate (click to pick)", "learning rate (log scale)", "smoothed loss")
        self.plot.getPlotItem().setLogMode(x=True)
        self.plot.add_curve("smoothed loss", "#3b82f6")
        self.plot.add_curve("loss", "#94a3b8", width=1)
        self.marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#dc2626", width=2))
        self.marker.setVisible(False)
        self.plot.addItem(self.marker, ignoreBounds=True)
        self._suggestion_items: list = []
        self.plot.scene().sigMouseClicked.connect(self._on_click)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.suggestions = QListWidget()
        self.suggestions.setToolTip("Click a suggestion to use it as the learning rate")
        self.suggestions.itemClicked.connect(self._on_suggestion)
        self.picked_label = QLabel()
        self.picked_label.setWordWrap(True)
        self.status = QLabel("Runs a short range test from lr_find.start_lr to lr_find.end_lr and restores "
                             "the weights afterwards.")
        self.status.setObjectName("dim")
        self.status.setWordWrap(True)

        head = QHBoxLayout()
        head.addWidget(page_header("LR finder", "Pick the learning rate where the loss falls fastest."), 1)
        head.addWidget(self.run_btn)
        head.addWidget(self.stop_btn)
        side = QVBoxLayout()
        side.addWidget(QLabel("<b>Suggestions</b>"))
        side.addWidget(self.suggestions, 1)
        side.addWidget(self.picked_label)
        side_w = QWidget()
        side_w.setLayout(side)
        side_w.setMaximumWidth(300)
        body = QHBoxLayout()
        body.addWidget(self.plot, 1)
        body.addWidget(side_w)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.status)
        lay.addWidget(self.progress)
        lay.addLayout(body, 1)

        session.runner.started.connect(lambda job: self._update_buttons())
        session.runner.finished.connect(self._on_finished)
        session.runner.event.connect(self._on_event)
        session.lr_result.connect(self.show_result)
        session.config_changed.connect(lambda cfg: self._show_lr(cfg.train.lr))
        self._show_lr(session.config.train.lr)
        self._update_buttons()

    # ----------------------------------------------------------------- actions
    @Slot()
    def run(self) -> None:
        problems = self.session.problems()
        if problems:
            self.status.setText("Cannot run: " + "; ".join(problems))
            return
        self.reset()
        if self.session.run_lr_find():
            self.status.setText("Running the range test...")

    def reset(self) -> None:
        self.plot.clear_data()
        self.suggestions.clear()
        for item in self._suggestion_items:
            self.plot.removeItem(item)
        self._suggestion_items = []
        self.progress.setValue(0)
        self.plot.getPlotItem().enableAutoRange()

    def pick(self, lr: float) -> None:
        """Use ``lr`` as train.lr in the recipe and mark it on the plot."""
        lr = float(f"{lr:.3g}")
        self.session.set_option("train.lr", lr)
        self.lr_picked.emit(lr)

    # ----------------------------------------------------------------- events
    @Slot(str, object)
    def _on_event(self, job: str, ev: Event) -> None:
        if job == "lr_find" and isinstance(ev, LRFindStep):
            self.add_step(ev)

    def add_step(self, ev: LRFindStep) -> None:
        self.plot.append("smoothed loss", ev.lr, ev.smooth_loss)
        self.plot.append("loss", ev.lr, ev.loss)
        self.progress.setValue(int(100 * (ev.step + 1) / max(1, ev.total)))
        if ev.step % 5 == 0:
            self.plot.redraw()
            self.fit_y()

    @Slot(object)
    def show_result(self, result) -> None:
        """Mark and list the suggestions of an LRFindResult; select the recipe's default one."""
        self.plot.redraw()
        self.fit_y()
        self.suggestions.clear()
        for item in self._suggestion_items:
            self.plot.removeItem(item)
        self._suggestion_items = []
        for i, (name, lr) in enumerate(result.suggestions.items()):
            if not lr or not math.isfinite(lr):
                continue
            color = SUGGESTION_COLORS.get(name, "#64748b")
            line = pg.InfiniteLine(pos=math.log10(lr), angle=90, pen=pg.mkPen(color, width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
                                   label=name, labelOpts={"position": 0.92 - 0.07 * i, "color": color})
            self.plot.addItem(line, ignoreBounds=True)
            self._suggestion_items.append(line)
            item = QListWidgetItem(f"{name}: {lr:.2e}{'  (default)' if name == result.best else ''}")
            item.setData(256, lr)
            self.suggestions.addItem(item)
        n = len(result.lrs) if hasattr(result, "lrs") else 0
        note = " (stopped early: the loss diverged)" if getattr(result, "stopped_early", False) else ""
        self.status.setText(f"Range test done: {n} steps{note}. Click the plot or a suggestion to pick.")
        self.progress.setValue(100)
        best = result.suggestions.get(result.best)
        if best and math.isfinite(best):
            self.pick(best)

    def fit_y(self) -> None:
        """Scale y to the smoothed loss (the raw loss and the final divergence would flatten it)."""
        y = self.plot.buffers["smoothed loss"].y
        if len(y) < 2:
            return
        lo, start = float(y.min()), float(y[0])
        hi = min(float(y.max()), lo + 2.0 * max(start - lo, 0.05 * abs(start)))
        pad = 0.05 * (hi - lo or 1.0)
        self.plot.getPlotItem().setYRange(lo - pad, hi + pad, padding=0)

    @Slot(str, str)
    def _on_finished(self, job: str, status: str) -> None:
        if job == "lr_find" and status != "completed":
            self.status.setText(f"LR finder {status}.")
        self._update_buttons()

    def _on_click(self, mouse_event) -> None:
        vb = self.plot.getPlotItem().vb
        pos = mouse_event.scenePos()
        if not vb.sceneBoundingRect().contains(pos):
            return
        x = vb.mapSceneToView(pos).x()  # log10(lr) in log mode
        self.pick(10 ** x)

    def _on_suggestion(self, item: QListWidgetItem) -> None:
        self.pick(float(item.data(256)))

    def _show_lr(self, lr: float) -> None:
        self.marker.setPos(math.log10(lr))
        self.marker.setVisible(True)
        self.picked_label.setText(f"Recipe learning rate (train.lr): <b>{lr:.3g}</b>")

    def _update_buttons(self) -> None:
        runner = self.session.runner
        mine = runner.busy and runner.name == "lr_find"
        self.run_btn.setEnabled(not runner.busy)
        self.run_btn.setToolTip("Run the LR range test (Ctrl+F)" if not runner.busy
                                else "Another job is running; wait for it or stop it.")
        self.stop_btn.setEnabled(mine)
        self.stop_btn.setToolTip("Stop the range test" if mine else "The LR finder is not running.")
