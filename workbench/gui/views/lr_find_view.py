"""LR finder page: the smoothed loss vs log lr grows while the range test runs; when it ends the curve
is redrawn with the result's centred smoothing, the diverged tail is dropped (a test stopped by the
divergence draws it apart: the raw loss climbing, dashed red, to a line at the rate where it stopped),
y is scaled to the smoothed curve and the lowest raw loss (spikes above are clipped) and the
suggestions are listed. The user picks one (click, or Enter on the list) or clicks the plot; the
recipe's train.lr (the red line, labelled) changes only then, unless "Auto-apply" is on. The page follows the
open dataset (lr_kept.KeptRangeTest)."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QVBoxLayout, QWidget)

from ...runtime.events import Event, LRFindStep
from ..jobs import JobKind
from ..session_helpers import curve_problem, plot_window, y_range
from ..widgets.common import key_shortcut, page_header, set_icon
from .plots import LivePlot

SUGGESTION_COLORS = {"valley": "#10b981", "steep": "#f97316", "minimum": "#a855f7", "slide": "#06b6d4"}
SUGGESTION_WORDS = {"minimum": "minimum / 10"}   # fastai's lr_min: a tenth of the lowest loss's rate
LR_ROLE = 256


IDLE_TEXT = "Runs a short range test from lr_find.start_lr to lr_find.end_lr and restores the weights afterwards."


def decade_ticks(lo: int = -12, hi: int = 4) -> list:
    """Ticks of a log10(lr) axis: labelled decades (1e-5 .. 1e-1), unlabelled 2x and 5x between."""
    major = [(float(k), f"1e{k}") for k in range(lo, hi + 1)]
    minor = [(k + math.log10(m), "") for k in range(lo, hi) for m in (2, 5)]
    return [major, minor]


class LRFindView(QWidget):
    lr_picked = Signal(float)

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.result = None
        self.run_btn = QPushButton("Run LR finder")
        self.run_btn.setObjectName("primary")
        set_icon(self.run_btn, "search")
        self.stop_btn = QPushButton("Stop")
        set_icon(self.stop_btn, "stop")
        self.run_btn.clicked.connect(self.run)
        self.stop_btn.clicked.connect(lambda: session.stop(JobKind.LR_FIND))

        # x holds log10(lr) (no pyqtgraph log mode: its tick labels read "10^2 (x1e-09)")
        self.plot = LivePlot("Loss vs learning rate (click to pick)", "learning rate", "smoothed loss")
        item = self.plot.getPlotItem()
        item.getAxis("bottom").setTicks(decade_ticks())
        item.getAxis("left").enableAutoSIPrefix(False)
        self.plot.add_curve("smoothed loss", "#3b82f6")
        self.plot.add_curve("loss", "#94a3b8", width=1)
        self.marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#dc2626", width=2),
                                      label="current lr", labelOpts={"position": 0.06, "color": "#dc2626",
                                                                     "anchors": [(-0.03, 1), (-0.03, 1)],
                                                                     "fill": (255, 255, 255, 200)})
        self.marker.setVisible(False)
        self.plot.addItem(self.marker, ignoreBounds=True)
        # a range test stopped by divergence: the tail the plot window leaves out, and where it stopped
        self.tail = pg.PlotCurveItem(pen=pg.mkPen("#dc2626", width=1.5, style=Qt.PenStyle.DashLine))
        self.stop_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#dc2626", width=1,
                                         style=Qt.PenStyle.DotLine), label="", labelOpts={"position": 0.5,
                                         "color": "#dc2626", "fill": (255, 255, 255, 200)})
        for it in (self.tail, self.stop_line):
            it.setVisible(False)
            self.plot.addItem(it, ignoreBounds=True)
        self._suggestion_items: list = []
        self.plot.scene().sigMouseClicked.connect(self._on_click)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.suggestions = QListWidget()
        self.suggestions.setToolTip("Click a suggestion, or select it and press Enter, to use it as the learning rate")
        self.suggestions.itemClicked.connect(self._on_suggestion)
        self.suggestions.itemActivated.connect(self._on_suggestion)   # double-click, Enter in an inactive window
        key_shortcut(self.suggestions, ["Return", "Enter"], "Use the selected suggestion as the learning rate",
                     lambda: self.suggestions.currentItem() and self._on_suggestion(self.suggestions.currentItem()))
        self.auto_apply = QCheckBox("Auto-apply the suggestion")
        self.auto_apply.setToolTip("When the range test ends, set train.lr to the recipe's default suggestion "
                                   "(lr_find.suggestion) without asking. Off: you pick.")
        self.picked_label = QLabel()
        self.picked_label.setWordWrap(True)
        self.status = QLabel(IDLE_TEXT, objectName="dim", wordWrap=True, textFormat=Qt.TextFormat.PlainText)

        head = QHBoxLayout()
        head.addWidget(page_header("LR finder", "Pick the learning rate where the loss falls fastest."), 1)
        head.addWidget(self.run_btn)
        head.addWidget(self.stop_btn)
        side = QVBoxLayout()
        side.addWidget(QLabel("<b>Suggestions</b>"))
        side.addWidget(self.suggestions, 1)
        side.addWidget(self.auto_apply)
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

        session.run_state.changed.connect(self._update_buttons)
        session.job_finished.connect(self._on_finished)
        session.job_event.connect(self._on_event)
        session.lr_found.connect(self.show_result)
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
        self.result = None
        self.plot.clear_data()
        self.suggestions.clear()
        for item in self._suggestion_items:
            self.plot.removeItem(item)
        self._suggestion_items = []
        self.progress.setValue(0)
        self.tail.setVisible(False)
        self.stop_line.setVisible(False)
        lf = self.session.config.lr_find   # the empty chart spans the test's rates, not the last curve's ranges
        self.plot.getPlotItem().setRange(xRange=(math.log10(lf.start_lr), math.log10(lf.end_lr)), yRange=(0, 1))

    def pick(self, lr: float) -> None:
        """Use ``lr`` as train.lr in the recipe and mark it on the plot."""
        lr = float(f"{lr:.3g}")
        self.session.set_option("train.lr", lr)
        self.lr_picked.emit(lr)

    def has_curve(self) -> bool:
        return self.plot.points("smoothed loss") >= 2

    # ----------------------------------------------------------------- events
    @Slot(object, object)
    def _on_event(self, kind: JobKind, ev: Event) -> None:
        if kind is JobKind.LR_FIND and isinstance(ev, LRFindStep):
            self.add_step(ev)

    def add_step(self, ev: LRFindStep) -> None:
        if not (ev.lr > 0 and math.isfinite(ev.lr)):
            return
        x = math.log10(ev.lr)
        self.plot.append("smoothed loss", x, ev.smooth_loss)
        self.plot.append("loss", x, ev.loss)
        self.progress.setValue(int(100 * (ev.step + 1) / max(1, ev.total)))
        self.fit_y()  # every step: the smoothed curve never runs off the plot while it grows
        if ev.step % 5 == 0:
            self.plot.redraw()

    @Slot(object)
    def show_result(self, result, apply: bool = True) -> None:
        """Draw the curve of an LRFindResult without its diverged tail and list its suggestions;
        train.lr changes only when the user picks (or "apply automatically" is on and ``apply``: a test
        that just ran, not one kept from before)."""
        self.result = result
        lrs = np.asarray(result.lrs, dtype=float)
        ok = (lrs > 0) & np.isfinite(lrs)
        smooth = np.asarray(result.smooth_losses, dtype=float)[ok]
        first, end = plot_window(int(ok.sum()), smooth_losses=smooth)
        x = np.log10(lrs[ok])[first:end]
        for name, values in (("smoothed loss", result.smooth_losses), ("loss", result.losses)):
            buf = self.plot.buffers[name]
            buf.clear()
            for xi, yi in zip(x, np.asarray(values, dtype=float)[ok][first:end]):
                if math.isfinite(yi):
                    buf.append(float(xi), float(yi))
            self.plot._dirty.add(name)
        self.plot.redraw()
        self.fit_y(first=0)  # the buffers hold the plotted window only
        stop = self._show_divergence(result, ok, end) if getattr(result, "stopped_early", False) else None
        if len(x):
            self.plot.getPlotItem().setXRange(float(x[0]), float(x[-1] if stop is None else stop), padding=0.02)
        self.suggestions.clear()
        for item in self._suggestion_items:
            self.plot.removeItem(item)
        self._suggestion_items = []
        picked = [n for n, v in result.suggestions.items() if v and float(f"{v:.3g}") == self.session.config.train.lr]
        for i, (name, lr) in enumerate(result.suggestions.items()):
            if not lr or not math.isfinite(lr):
                continue
            color = SUGGESTION_COLORS.get(name, "#64748b")
            line = pg.InfiniteLine(pos=math.log10(lr), angle=90,
                                   pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine),
                                   label=SUGGESTION_WORDS.get(name, name), labelOpts={"position": 0.92 - 0.07 * i, "color": color})
            self.plot.addItem(line, ignoreBounds=True)
            self._suggestion_items.append(line)
            item = QListWidgetItem(f"{SUGGESTION_WORDS.get(name, name)}: {lr:.2e}"
                                   f"{'  (default)' if name == result.best else ''}")
            item.setData(LR_ROLE, lr)
            self.suggestions.addItem(item)
            if name == (picked[0] if picked else result.best):   # the recipe's rate when picked here, else the default
                self.suggestions.setCurrentItem(item)
        n = len(result.lrs)
        problem = curve_problem(result)
        note = (f" (stopped early at lr {10 ** stop:.1e}, where the loss diverged: the red dashed tail)"
                if stop is not None else "")
        best = result.suggestions.get(result.best)
        usable = not problem and best is not None and math.isfinite(best)
        if problem:
            self.status.setText(f"Range test done: {n} steps{note}. {problem}")
        elif apply and self.auto_apply.isChecked() and usable:
            self.status.setText(f"Range test done: {n} steps{note}. {result.best} applied to train.lr.")
        else:
            self.status.setText(f"Range test done: {n} steps{note}. Pick a suggestion (or click the plot) "
                                "to set train.lr; the recipe keeps its rate until you do.")
        self.status.setObjectName("warning" if problem else "dim")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.progress.setValue(100)
        if apply and self.auto_apply.isChecked() and usable:
            self.pick(best)

    def _show_divergence(self, result, ok, end: int) -> float | None:
        """Draw what the test saw after the plotted window, the raw loss climbing (dashed, red), and a
        line at the rate where it stopped; y grows to show the climb start. Returns log10 of that rate."""
        x = np.log10(np.asarray(result.lrs, dtype=float)[ok])
        raw = np.asarray(result.losses, dtype=float)[ok]
        if not len(x):
            return None
        keep = np.isfinite(raw[max(0, end - 1):])
        tx, ty = x[max(0, end - 1):][keep], raw[max(0, end - 1):][keep]
        self.tail.setData(tx, ty)
        self.tail.setVisible(len(tx) >= 2)
        self.stop_line.setPos(float(x[-1]))
        self.stop_line.setVisible(True)   # first: a hidden line's label keeps its old text
        self.stop_line.label.setFormat(f"diverged at {10 ** x[-1]:.1e}")
        lo, hi = self.plot.getPlotItem().viewRange()[1]
        if len(ty) and ty.max() > hi:   # room for the climb (at most half the range more; above, clipped)
            self.plot.getPlotItem().setYRange(lo, min(float(ty.max()), hi + 0.5 * (hi - lo)), padding=0.02)
        return float(x[-1])

    def fit_y(self, first: int | None = None) -> None:
        """Scale y to the smoothed loss and the lowest raw loss (skipping the noisy first steps while it
        runs); raw spikes above the smoothed curve are clipped."""
        y = self.plot.buffers["smoothed loss"].y
        if len(y) < 2:
            return
        raw = self.plot.buffers["loss"].y
        start = plot_window(len(y))[0] if first is None else first
        rng = y_range(y, start, losses=raw)
        if rng is not None:
            self.plot.getPlotItem().setYRange(*rng, padding=0)

    @Slot(object, str)
    def _on_finished(self, kind: JobKind, status: str) -> None:
        if kind is JobKind.LR_FIND and status != "completed":
            self.status.setText(f"LR finder {status}.")

    def _on_click(self, mouse_event) -> None:
        if not self.has_curve():  # an empty plot has no rate to pick
            return
        vb, pos = self.plot.getPlotItem().vb, mouse_event.scenePos()
        if not vb.sceneBoundingRect().contains(pos):
            return
        # x is log10(lr); a click is only as precise as a pixel, so two significant digits
        self.pick(float(f"{10 ** vb.mapSceneToView(pos).x():.2g}"))

    def _on_suggestion(self, item: QListWidgetItem) -> None:
        if item.data(LR_ROLE):
            self.pick(float(item.data(LR_ROLE)))

    def _show_lr(self, lr: float) -> None:
        self.marker.setPos(math.log10(lr))
        self.marker.setVisible(True)
        self.marker.label.setFormat(f"current lr {lr:.3g}")
        self.picked_label.setText(f"Recipe learning rate (train.lr): <b>{lr:.3g}</b>")

    @Slot()
    def _update_buttons(self) -> None:
        rs = self.session.run_state
        mine = rs.running(JobKind.LR_FIND)
        self.run_btn.setEnabled(not rs.busy)
        self.run_btn.setToolTip("Run the LR range test (Ctrl+F)" if not rs.busy
                                else "Another job is running; wait for it or stop it.")
        self.stop_btn.setEnabled(mine)
        self.stop_btn.setToolTip("Stop the range test" if mine else "The LR finder is not running.")
