"""TTA inspector: plain vs TTA accuracy, a live beta slider, and the images TTA fixed or broke.

Everything shown comes from one TTAResult (workbench.inference.tta): moving the slider never recomputes the
model; the accuracy is read from ``accuracy_vs_beta`` on a fixed grid of betas and the fixed / broken
sets from ``fixed_and_broken``.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QPushButton, QSlider,
                               QVBoxLayout, QWidget)

from ..session_helpers import accuracy_vs_beta, fixed_and_broken
from ..widgets.common import pane, splitter
from .gallery_view import GalleryItem, GalleryView

STEPS = 100  # slider positions: beta = position / STEPS
IDLE_TEXT = ("Test-time augmentation averages the predictions of several augmented copies of each validation "
             "image. It runs when this tab opens; Compute TTA runs it again.")


def gain_text(n_fixed: int, n_broken: int, n: int) -> str:
    """TTA's net gain with its count and a 95 % interval: "+2 of 153 images (+1.3 % ± 1.8 %)". The
    interval is that of a paired difference (only the images TTA changed count; McNemar's variance)."""
    if n <= 0:
        return "–"
    net = n_fixed - n_broken
    se = np.sqrt(max(0.0, n_fixed + n_broken - net * net / n)) / n
    return f"{net:+d} of {n} images ({net / n:+.1%} ± {1.96 * se:.1%})"


class TTAView(QWidget):
    """Shows one TTAResult; ``computeRequested`` asks the page to run TTA for the current run."""
    computeRequested = Signal()
    betaChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = None
        self.paths: list[str] = []
        self.betas = np.linspace(0.0, 1.0, STEPS + 1)
        self.accs = np.zeros(0)
        self.info = QLabel(IDLE_TEXT)
        self.info.setWordWrap(True)
        self.compute_btn = QPushButton("Compute TTA")
        self.compute_btn.setToolTip("Run the augmented passes over the validation set in the background")
        self.compute_btn.clicked.connect(self.computeRequested)
        self.plain_label = QLabel("–")
        self.tta_label = QLabel("–")
        self.gain_label = QLabel("–")
        for lab in (self.plain_label, self.tta_label, self.gain_label):
            f = lab.font()
            f.setPointSizeF(f.pointSizeF() * 1.5)
            f.setBold(True)
            lab.setFont(f)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, STEPS)
        self.slider.setEnabled(False)
        self.slider.setToolTip("beta = weight of the plain prediction: final = (1 - beta) x TTA mean + beta x plain")
        self.slider.valueChanged.connect(self._slider_moved)
        self.beta_label = QLabel("beta = –")
        nums = QGridLayout()
        for col, (lab, name) in enumerate(((self.plain_label, "Plain accuracy"), (self.tta_label, "TTA accuracy"),
                                           (self.gain_label, "Gain"))):
            nums.addWidget(lab, 0, col)
            t = QLabel(name)
            t.setAlignment(Qt.AlignmentFlag.AlignCenter)
            nums.addWidget(t, 1, col)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setTitle("Accuracy vs beta", color="#333")
        self.plot.setLabel("bottom", "beta (plain weight)")
        self.plot.setLabel("left", "accuracy")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMinimumHeight(150)
        self.plot.setMaximumHeight(260)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.curve = self.plot.plot(pen=pg.mkPen("#1f77b4", width=2))
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=1.5))
        self.plot.addItem(self.marker)
        self._empty_range()
        self.fixed = GalleryView("Fixed by TTA")
        self.fixed.title.setToolTip("Wrong without TTA, right with TTA at this beta")
        self.broken = GalleryView("Broken by TTA")
        self.broken.title.setToolTip("Right without TTA, wrong with TTA at this beta")
        head = QHBoxLayout()
        head.addWidget(self.info, 1)
        head.addWidget(self.compute_btn)
        sl = QHBoxLayout()
        sl.addWidget(QLabel("beta"))
        sl.addWidget(self.slider, 1)
        sl.addWidget(self.beta_label)
        top = pane(head, nums, sl, (self.plot, 1))
        galleries = splitter(Qt.Orientation.Horizontal, self.fixed, self.broken)
        split = splitter(Qt.Orientation.Vertical, top, galleries, stretch=(2, 3), sizes=[330, 420])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

    def set_result(self, result, paths: list[str], beta: float = 0.25) -> None:
        """Show a TTAResult; ``paths`` are the image files in the result's row order."""
        self.result, self.paths = result, list(paths)
        self.accs = np.asarray(accuracy_vs_beta(result, self.betas), dtype=np.float64)
        self.curve.setData(self.betas, self.accs)
        lo, hi = float(self.accs.min()), float(self.accs.max())
        pad = max(0.01, 0.15 * (hi - lo))
        self.plot.setXRange(0.0, 1.0, padding=0.02)
        self.plot.setYRange(max(0.0, lo - pad), min(1.0, hi + pad), padding=0)
        plain = float(np.mean(np.argmax(result.plain_probs, 1) == np.asarray(result.targets)))
        self.plain_label.setText(f"{plain:.1%}")
        self.plain_acc = plain
        self.slider.setEnabled(True)
        self.info.setText(f"TTA over the run's {len(self.paths)} validation images (as it was trained). Move beta "
                          "to blend plain and augmented predictions (no recomputation).")
        pos = int(round(beta * STEPS))
        if self.slider.value() == pos:
            self._slider_moved(pos)
        else:
            self.slider.setValue(pos)

    def _empty_range(self) -> None:
        """No result yet: beta 0..1 against accuracy 0..1, not pyqtgraph's default span."""
        self.plot.getPlotItem().enableAutoRange(False)
        self.plot.setXRange(0.0, 1.0, padding=0.02)
        self.plot.setYRange(0.0, 1.0, padding=0.02)

    def reset(self) -> None:
        """Forget the shown result (another run was opened): numbers, curve and galleries empty."""
        self.result, self.paths, self.accs = None, [], np.zeros(0)
        self.curve.setData([], [])
        self._empty_range()
        for lab in (self.plain_label, self.tta_label, self.gain_label):
            lab.setText("–")
        self.gain_label.setStyleSheet("")
        self.slider.setEnabled(False)
        self.info.setText(IDLE_TEXT)
        for g in (self.fixed, self.broken):
            g.set_items([])

    @property
    def beta(self) -> float:
        return self.slider.value() / STEPS

    def shown_accuracy(self) -> float:
        return float(self.accs[self.slider.value()]) if len(self.accs) else float("nan")

    def _slider_moved(self, pos: int) -> None:
        beta = pos / STEPS
        self.beta_label.setText(f"beta = {beta:.2f}")
        self.marker.setValue(beta)
        if self.result is None:
            return
        acc = float(self.accs[pos])
        self.tta_label.setText(f"{acc:.1%}")
        gain = acc - self.plain_acc
        fixed, broken = self._fill_galleries(beta)
        self.gain_label.setText(gain_text(len(fixed), len(broken), len(self.paths)))
        self.gain_label.setToolTip("Net images TTA fixed (fixed - broken) of the validation images, the accuracy "
                                   "change and its 95 % interval: a gain inside ± the interval may be chance")
        self.gain_label.setStyleSheet("color: #1a7f37;" if gain > 0 else ("color: #b42318;" if gain < 0 else ""))
        self.betaChanged.emit(beta)

    def _fill_galleries(self, beta: float) -> tuple:
        r = self.result
        fixed, broken = fixed_and_broken(r, beta)
        final = r.final(beta)
        classes, targets = tuple(r.classes), np.asarray(r.targets)

        def items(idx) -> list[GalleryItem]:
            out = []
            for i in np.asarray(idx, dtype=np.int64):
                t, pp, pt = classes[targets[i]], int(np.argmax(r.plain_probs[i])), int(np.argmax(final[i]))
                cap = (f"{t}\nplain {r.plain_probs[i][pp]:.2f} {classes[pp]}\n"   # the numbers first: a long
                       f"TTA {final[i][pt]:.2f} {classes[pt]}")                   # class name never hides them
                out.append(GalleryItem(self.paths[i], cap, index=int(i), true_class=t))
            return out
        for g in (self.fixed, self.broken):
            g.set_classes(classes)
        self.fixed.set_items(items(fixed))
        self.broken.set_items(items(broken))
        return fixed, broken
