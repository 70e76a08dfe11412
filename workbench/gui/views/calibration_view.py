"""Calibration tab of the Results page: reliability diagram and ECE (15 bins) before and after
temperature scaling fitted on the validation predictions, and accuracy against coverage with a
slider for the confidence threshold P (``workbench predict --min-confidence P``). The temperature fit
and the curve are computed in the side pool (``gui.session_jobs.request_calibration``)."""
from __future__ import annotations

import functools
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ..session_jobs import request_calibration
from ..widgets.common import splitter
from .plots import legend_below


def _plot(title: str, xlabel: str, ylabel: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#333")
    w.setLabel("bottom", xlabel)
    w.setLabel("left", ylabel)
    w.showGrid(x=True, y=True, alpha=0.25)
    legend_below(w.getPlotItem(), columns=2)   # under the x axis: it never covers a curve or a bar
    w.setXRange(0, 1, padding=0.02)
    w.setYRange(0, 1, padding=0.02)
    w.setMinimumHeight(200)
    return w


class CalibrationView(QWidget):
    """Built from validation Predictions; the session's side pool computes, this view draws."""
    thresholdChanged = Signal(float)
    calibrated = Signal()        # the fit of the last predictions arrived and is drawn

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = None
        self.curve: dict = {}
        self.count_labels: list = []   # the number of images written over each bin
        self._asked = 0                # set_predictions calls: only the last one's fit is drawn
        self.info = QLabel("Open a run to see how well its confidence matches its accuracy.")
        self.info.setWordWrap(True)
        self.reliability = _plot("Reliability (15 confidence bins)", "confidence", "accuracy")
        self.reliability.getPlotItem().getViewBox().sigResized.connect(lambda *_: self._place_counts())
        self.coverage = _plot("Accuracy against coverage", "coverage (share of images answered)", "accuracy")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setToolTip("Minimum confidence P: below it the answer is 'unsure' "
                               "(workbench predict --min-confidence P)")
        self.slider.valueChanged.connect(self._threshold_moved)
        self.threshold_label = QLabel()
        self.marker = pg.ScatterPlotItem(size=12, brush=pg.mkBrush("#d62728"))
        row = QHBoxLayout()
        row.addWidget(QLabel("Minimum confidence P:"))
        row.addWidget(self.slider, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.coverage, 1)
        rl.addLayout(row)
        rl.addWidget(self.threshold_label)
        lay = QVBoxLayout(self)
        lay.addWidget(self.info)
        lay.addWidget(splitter(Qt.Orientation.Horizontal, self.reliability, right, stretch=(1, 1)), 1)

    def set_predictions(self, probs: np.ndarray, targets: np.ndarray) -> None:
        probs, targets = np.asarray(probs), np.asarray(targets)
        self._asked += 1
        if not len(targets):
            self.result = None
            self.info.setText("No validation predictions.")
            return
        self.info.setText("Fitting the temperature on the validation predictions…")
        request_calibration(probs, targets, functools.partial(self._calibrated, self._asked))

    def _calibrated(self, asked: int, result) -> None:
        if asked != self._asked:   # newer predictions were given meanwhile
            return
        if isinstance(result, Exception):
            self.result = None
            self.info.setText(f"Cannot calibrate: {type(result).__name__}: {result}")
            return
        c = self.result = result.calibration
        self.info.setText(f"ECE {c.ece_before:.3f} before, <b>{c.ece_after:.3f}</b> after temperature scaling "
                          f"(T = {c.temperature:.3f}, fitted on {c.n} validation images; accuracy "
                          f"{c.accuracy:.1%} either way). Predict and every export apply T.")
        self._draw_reliability()
        self.curve = result.coverage
        p = self.coverage.getPlotItem()
        p.clear()
        cov, acc = np.array(self.curve["coverage"]), np.array(self.curve["accuracy"])
        ok = ~np.isnan(acc)
        p.plot(cov[ok], acc[ok], pen=pg.mkPen("#1f77b4", width=2))
        p.addItem(self.marker)
        self._threshold_moved(self.slider.value())
        self.calibrated.emit()

    def _draw_reliability(self) -> None:
        p = self.reliability.getPlotItem()
        p.clear()
        p.plot([0, 1], [0, 1], pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine), name="perfectly calibrated")
        self._draw_counts(p, self.result.to_dict()["after"])
        for key, colour, name in (("before", "#ff7f0e", "before"), ("after", "#2ca02c", "after scaling")):
            b = self.result.to_dict()[key]
            count = np.array(b["count"])
            keep = count > 0
            x, y = np.array(b["confidence"])[keep], np.array(b["accuracy"])[keep]
            p.plot(x, y, pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6, symbolBrush=colour,
                   name=f"{name} (ECE {b['ece']:.3f})")

    def _draw_counts(self, p, b: dict) -> None:
        """Images per confidence bin (after scaling, the model as predict uses it): grey bars as high as
        their share of the images, the number of images written on each, so a point resting on 2 images
        reads as such. A count above a tall bar would leave the plot: it is written inside the bar's top."""
        edges, count = np.array(b["edges"]), np.array(b["count"])
        share = count / max(1, int(count.sum()))
        bars = pg.BarGraphItem(x=(edges[:-1] + edges[1:]) / 2, height=share, width=np.diff(edges) * 0.9,
                               brush=pg.mkBrush(148, 163, 184, 90), pen=pg.mkPen(None),
                               name="bars: share of images, after scaling (count)")
        p.addItem(bars)
        self.count_labels = []
        for lo, hi, n, h in zip(edges[:-1], edges[1:], count, share):
            if n:
                label = pg.TextItem(str(int(n)), color="#475569", anchor=(0.5, 1.0))
                label.setPos((lo + hi) / 2, h)
                p.addItem(label)
                self.count_labels.append(label)
        self._place_counts()

    def _place_counts(self) -> None:
        """Each count above its bar, or inside the bar's top where the plot has no room above it."""
        vb = self.reliability.getPlotItem().getViewBox()
        lo, hi = vb.viewRange()[1]
        px_per_unit = max(vb.height(), self.reliability.minimumHeight() / 2) / max(hi - lo, 1e-9)
        for label in self.count_labels:
            room = (hi - label.pos().y()) * px_per_unit
            label.setAnchor((0.5, 1.0 if room >= label.boundingRect().height() + 2 else 0.0))

    def _threshold_moved(self, value: int) -> None:
        if not self.curve:
            self.threshold_label.setText("")
            return
        i = int(value)
        cov, acc = self.curve["coverage"][i], self.curve["accuracy"][i]
        t = self.curve["thresholds"][i]
        acc_text = "–" if math.isnan(acc) else f"{acc:.1%}"
        self.threshold_label.setText(f"P = {t:.2f}: answers {cov:.0%} of images, accuracy {acc_text}")
        self.marker.setData([cov], [0 if math.isnan(acc) else acc])
        self.thresholdChanged.emit(t)

    def set_threshold(self, p: float) -> None:
        self.slider.setValue(int(round(p * 100)))
