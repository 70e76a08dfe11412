"""The Results page: summary, confusion matrix, top losses (+ Grad-CAM), TTA, calibration and the
change list of one run. It observes the session (``run_opened`` through run_pages, ``interpreted``,
``tta_ready``, ``trained``) and starts its slow work as session jobs (interpretation, TTA) or in the
side pool (Grad-CAM of one image). No page holds a model.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMessageBox, QProgressBar,
                               QPushButton, QTabWidget, QVBoxLayout, QWidget)

from ...runtime.events import Event, FitStarted, Progress
from ..jobs import JobFailed, JobKind
from ..session_helpers import (confusion_matrix, indices_for_cell, most_confused, per_class_report, summary,
                               top_losses)
from ..widgets.common import WrappedLabel, key_shortcut, splitter
from .calibration_view import CalibrationView
from .changes_view import ChangesView
from .confusion_view import ConfusionView
from .gallery_view import GalleryItem, GalleryView
from .image_viewer import ImageViewer, request_cam, top_k
from .latest_run import LatestRun
from .result_texts import caption, epoch_note, monitor_of, trained_loss
from .results_actions import HardExampleActions
from .results_view import ResultsView
from .run_owner import RunOwner
from .tta_view import TTAView

JOBS = (JobKind.INTERPRET, JobKind.TTA)
TOP_K = 48
CELL_HINT = "Pick a cell of the matrix"
LOSSES_TITLE = "Top losses: prediction / actual, loss / probability"


class ResultsPage(HardExampleActions, QWidget):
    """Summary, confusion matrix, top losses (+ Grad-CAM), TTA and the change list of one run."""
    runLoaded = Signal(str)
    retrainStarted = Signal()   # "Retrain with changes" started a run (the window shows the Train page)

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.run_dir = self._tta_run = ""
        self.preds = None
        self.info = None
        self.cams: dict[str, np.ndarray] = {}
        self._pending = ""
        self._before: dict | None = None   # the run "Retrain with changes" started from
        self.compare = QLabel()            # its before / after, once the new run has opened
        self.compare.setObjectName("plan")
        self.compare.setWordWrap(True)
        self.compare.hide()
        self.title = QLabel("Results")
        self.title.setObjectName("pageTitle")
        self.heading = QLabel("Train a run or open a run folder to see results.")
        self.owner = RunOwner(session)     # shown while the run is of another dataset than the open one
        self.heading.setWordWrap(True)
        self.open_btn = QPushButton("Open run folder…")
        self.open_btn.clicked.connect(self._pick_run)
        # two lines kept, shown or not (a notice that comes, goes or wraps never shifts the galleries): the
        # last action's notice, whole; without one, greyed, what the galleries' keys do
        self.notice = WrappedLabel(placeholder="In the image galleries: R relabel, Q quarantine, K keep, Ctrl+Z "
                                               "undo, double-click to enlarge. Changes go to the dataset's change "
                                               "list (Changes tab) for the next run; no image file is touched.")
        self.notice.setObjectName("dim")
        self.notice.setMinimumHeight(2 * self.notice.fontMetrics().lineSpacing() + 4)
        self.notice.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.summary = ResultsView()
        self.confusion = ConfusionView()
        self.cell_gallery = GalleryView(CELL_HINT)
        self.losses = GalleryView(LOSSES_TITLE, with_filter=True, with_overlay=True)
        self.losses.title.setToolTip("Captions as in fastai: prediction / actual, then loss / probability of the prediction")
        self.tta = TTAView()
        self.changes, self.calibration = ChangesView(session), CalibrationView()
        self.viewer = ImageViewer(self)
        self.galleries = [self.cell_gallery, self.losses, self.tta.fixed, self.tta.broken]
        conf = splitter(Qt.Orientation.Vertical, self.confusion, self.cell_gallery, stretch=(3, 2))
        self.tabs = QTabWidget()
        for w, name in ((self.summary, "Summary"), (conf, "Confusion matrix"), (self.losses, "Top losses"),
                        (self.tta, "TTA"), (self.calibration, "Calibration"), (self.changes, "Changes")):
            self.tabs.addTab(w, name)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addSpacing(12)
        head.addWidget(self.heading, 1)
        head.addWidget(self.progress)
        head.addWidget(self.open_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.owner)
        self.latest = LatestRun(session, self)   # no run open: the latest finished run of the dataset, a button
        lay.addWidget(self.latest)
        lay.addWidget(self.notice)
        lay.addWidget(self.compare)
        lay.addWidget(self.tabs, 1)
        self.confusion.cellChosen.connect(self.show_cell)
        self.losses.filterChanged.connect(lambda _c: self.show_top_losses())
        self.losses.overlayToggled.connect(self._overlay_toggled)
        for g in self.galleries:
            g.model.modelReset.connect(lambda g=g: g.model.set_marks(self.changes.marks(g.paths())))
            g.itemActivated.connect(self.open_viewer)
            g.actionRequested.connect(self.apply_action)
            g.undoRequested.connect(self.undo_change)
        self._connect_viewer()
        self.changes.changed.connect(self._refresh_marks)
        self.changes.undone.connect(self.notice.setText)   # the "... Ctrl+Z undoes" line is replaced
        self.changes.reloaded.connect(lambda: self.notice.setText(""))   # another view's write: the line is old
        self.changes.failed.connect(lambda m: QMessageBox.warning(self, "Changes", m))
        self.changes.retrainRequested.connect(self.retrain)
        self.tta.computeRequested.connect(self.compute_tta)
        self.tabs.currentChanged.connect(lambda _i: self._auto_tta())
        key_shortcut(self, [QKeySequence.StandardKey.Undo], "Undo the last relabel / quarantine / keep",
                     self.undo_change, Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.owner.changed.connect(self._owner_changed)
        session.job_event.connect(self._on_event)
        session.job_failed.connect(self._on_failed)
        session.interpreted.connect(lambda r: self.show_interpretation(r.predictions, r.run))
        session.tta_ready.connect(self._show_tta)
        session.job_finished.connect(self._on_finished)
        session.dataset_changed.connect(lambda _ds: self._forget_retrain(session.config.data.path))

    # ------------------------------------------------------------------ loading
    def _pick_run(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open run folder", self.session.config.runs_dir)
        if d:
            self.session.open_run(d)

    def load_run(self, run_dir: str) -> bool:
        """Start the interpretation job of a run folder (instant when predictions are saved)."""
        rs = self.session.run_state
        if rs.running(JobKind.INTERPRET) and str(run_dir) == self.run_dir:
            return True
        if rs.busy:
            self.heading.setText(f"Waiting: another job ({rs.kind}) is running.")
            self._pending = str(run_dir)
            return False
        self._pending = ""
        if str(run_dir) != self.run_dir:   # another run opens on its Summary, not on the tab of the last one
            self.tabs.setCurrentWidget(self.summary)
        self.run_dir = str(run_dir)
        self.owner.set_run(self.run_dir)
        self.clear()
        self.heading.setText(f"Computing predictions of {Path(run_dir).name}…")
        self.progress.setRange(0, 0)
        self.progress.show()
        return self.session.interpret(self.run_dir)

    def clear(self) -> None:
        """Empty every tab, so nothing of the previous run stays on screen under the next one's name."""
        self.preds, self.info = None, None
        self._tta_run = ""   # the emptied TTA tab computes again when it is (or stays) the current tab
        self.cams.clear()
        self.summary.set_summary({}, "Loading…")
        self.summary.set_report([])
        self.summary.set_history([])
        self.confusion.set_data(np.zeros((0, 0), dtype=np.int64), (), [])
        self.cell_gallery.set_title(CELL_HINT)
        for g in self.galleries:
            g.set_items([])
        self.tta.reset()
        self.notice.setText("")
        self.compare.hide()
        self.viewer.hide()

    def show_interpretation(self, predictions, info=None) -> None:
        """Fill every tab from Predictions (and the RunInfo for curves and the dataset root)."""
        p = self.preds = predictions
        self.info = info
        s = dict(summary(p))
        s.setdefault("n", len(p))
        if "valid_loss" not in s:
            s["valid_loss"] = float(np.mean(p.losses)) if len(p) else None
        name = getattr(info, "name", "") or Path(self.run_dir).name
        self.summary.set_summary(s, f"<b>{name}</b> &nbsp; {len(p)} validation images, {len(p.classes)} classes"
                                    f"{epoch_note(getattr(info, 'metrics', None) or {}, monitor_of(info))}")
        self.summary.set_report(per_class_report(p))
        self.summary.set_history([(name, list(getattr(info, "history", None) or []))])
        cfg = getattr(info, "config", None)
        self.summary.set_loss_kind(cfg.tricks.label_smoothing if cfg is not None else 0.0, trained_loss(info))
        self.confusion.set_data(confusion_matrix(p), p.classes, most_confused(p))
        self.calibration.set_predictions(p.probs, p.targets)
        for g in self.galleries:
            g.set_classes(p.classes)
        self.cell_gallery.set_title(CELL_HINT)
        self.cell_gallery.set_items([])
        self.show_top_losses()
        root = getattr(getattr(info, "config", None), "data", None)
        if root is not None and root.path:
            self.changes.open_root(str(Path(root.path).expanduser().resolve()), root.changes_beside_data)
        self._refresh_marks()
        self.heading.setText(f"<b>{name}</b> &nbsp; <span style='color:#64748b'>{self.run_dir}</span>")
        self._show_before_after(name, s)
        self.runLoaded.emit(self.run_dir)

    def items_for(self, indices) -> list[GalleryItem]:
        p = self.preds
        out = []
        for i in np.asarray(indices, dtype=np.int64):
            cap, tip = caption(p, int(i))
            out.append(GalleryItem(p.paths[i], cap, tip, index=int(i), true_class=p.classes[int(p.targets[i])],
                                   suggested=p.classes[int(np.argmax(p.probs[i]))]))
        return out

    def show_cell(self, true: int, pred: int) -> None:
        p = self.preds
        if p is None:
            return
        idx = indices_for_cell(p, true, pred)
        self.cell_gallery.set_title(f"true {p.classes[true]} → predicted {p.classes[pred]}")
        self.cell_gallery.set_items(self.items_for(idx))

    def show_top_losses(self) -> None:
        if self.preds is None:
            return
        cls = self.losses.filter.currentData() or None
        self.losses.set_items(self.items_for(top_losses(self.preds, TOP_K, cls=cls)))
        if self.losses.overlay_box.isChecked():
            self._overlay_toggled(True)

    # ------------------------------------------------------------------ Grad-CAM
    def _overlay_toggled(self, on: bool) -> None:
        if not on or not self.run_dir:
            return
        for it in self.losses.items():
            if it.path in self.cams:
                self.losses.model.set_overlay(it.path, self.cams[it.path])
            else:
                request_cam(self.run_dir, it.path, self._cam_ready)

    def _cam_ready(self, result) -> None:
        if isinstance(result, Exception):
            self.losses.overlay_box.setToolTip(f"Grad-CAM failed: {result}")
            return
        self.cams[result.path] = result.overlay
        for g in self.galleries:
            if result.path in g.paths():
                g.model.set_overlay(result.path, result.overlay)
        if self.viewer.path == result.path:
            self.viewer.set_cam(result)

    def open_viewer(self, item: GalleryItem) -> None:
        p = self.preds
        top = top_k(p.probs[item.index], p.classes) if p is not None and item.index >= 0 else None
        self.viewer.set_item(item.path, item.tooltip or item.caption, top)
        self.viewer.set_mark(self.changes.marks([item.path]).get(item.path, ""))
        self.viewer.show()
        self.viewer.raise_()
        request_cam(self.run_dir, item.path, self._cam_ready)

    # ------------------------------------------------------------------ TTA
    def _auto_tta(self) -> None:
        """The TTA tab computes when it opens (once per run; Compute TTA runs it again)."""
        if self.tabs.currentWidget() is self.tta and self.tta.result is None and self._tta_run != self.run_dir:
            self.compute_tta()

    def compute_tta(self) -> bool:
        if not self.run_dir or not self.session.tta(self.run_dir):
            return False
        self._tta_run = self.run_dir
        self.tta.compute_btn.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        return True

    # ------------------------------------------------------------------ job events
    def _on_event(self, kind: JobKind, ev: Event) -> None:
        if isinstance(ev, FitStarted):
            self._retrain_began(ev.run_dir)
        elif kind in JOBS and isinstance(ev, Progress):
            self.progress.setRange(0, max(1, ev.total))
            self.progress.setValue(ev.done)

    def _on_failed(self, ev: JobFailed) -> None:
        if ev.job in JOBS:
            self.heading.setText(f"<span style='color:#b42318'>{ev.job} failed: {ev.message}</span>")

    def _show_tta(self, result) -> None:
        beta = self.info.config.tta.beta if self.info is not None else 0.25
        self.tta.set_result(result, list(result.paths), beta)

    def _on_finished(self, kind: JobKind, status: str) -> None:
        if kind in JOBS:
            self.progress.hide()
            self.tta.compute_btn.setEnabled(True)
            self._auto_tta()  # the tab opened while the interpretation ran
        if kind is JobKind.TRAIN and status in ("completed", "early_stopped") and self.session.current_run:
            self.session.open_run(self.session.current_run)
        elif self._pending:
            self.load_run(self._pending)
        elif kind not in self.session.SIDE_JOBS:
            self._auto_tta()  # the tab opened while another job held the machine

