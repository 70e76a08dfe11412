"""Try it: drop images or folders on a trained model and see what it says.

Prediction runs as a session job (``Session.try_images`` -> ``workbench.inference.predict.predict_images``, the
model and calibrated probabilities of ``workbench predict``); this page only draws the rows it gets:
two galleries sorted by confidence, split by the "unsure below" slider, and *Send the unsure ones to
labelling* (``workbench.inference.to_label``: the dataset's sidecar, or its to-label list for images outside it).
"""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QLabel, QListView, QProgressBar,
                               QPushButton, QSlider, QStackedWidget, QVBoxLayout, QWidget)

from ...runtime.events import Event, Progress
from ..jobs import JobFailed, JobKind
from ..session_helpers import display_text, labelling_marks
from ..widgets.common import key_shortcut, pane, splitter
from .gallery_view import GRID, THUMB, GalleryItem, GalleryModel
from .run_owner import RunOwner
from .try_send import TrySending

DEFAULT_THRESHOLD = 70  # per cent
SEND_TIP = ("Images of the run's dataset: marked 'to label' in its change list (Results > Changes); other "
            "images: added to that dataset's to-label list. No file is moved.")
HINT = ("<p style='font-size:15pt'>Drop images or a folder here</p><p>or use <b>Add images…</b> / "
        "<b>Add folder…</b> above. The trained model of the open run predicts each one; the most "
        "confident come first.</p>")


BLANK = "one colour: nothing to see"   # a blank picture's caption: Unsure, whatever the model says


def caption(row) -> str:
    """The class and its probability under a thumbnail (the gallery adds the file name, cut once to fit)."""
    return f"{row.label}\n{row.probability:.1%}" + (f"\n{BLANK}" if getattr(row, "blank", False) else "")


def tooltip(row) -> str:
    blank = ("Almost the whole picture is one colour: the model has nothing to go on, so it is Unsure "
             "whatever its probability.\n" if getattr(row, "blank", False) else "")
    return blank + "\n".join(f"{c}: {p:.1%}" for c, p in row.topk)


def is_unsure(row, threshold: float) -> bool:
    return row.probability < threshold or bool(getattr(row, "blank", False))


def _grid(model: GalleryModel) -> QListView:
    v = QListView()
    v.setViewMode(QListView.ViewMode.IconMode)
    v.setResizeMode(QListView.ResizeMode.Adjust)
    v.setMovement(QListView.Movement.Static)
    v.setUniformItemSizes(True)
    v.setIconSize(QSize(THUMB, THUMB))
    v.setGridSize(GRID)   # the galleries' cell: the item's size hint, the usual file name whole
    v.setWordWrap(True)
    v.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    v.setSpacing(2)
    v.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    v.setModel(model)
    return v


class TryView(TrySending, QWidget):
    """Galleries of predictions for dropped images, split into sure / unsure by a threshold."""

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.run_dir = self._last_dir = ""
        self.rows: dict[str, object] = {}      # path -> ImagePrediction
        self.result = None                     # the last ImagePredictions (classes, temperature, dataset)
        self.errors: dict[str, str] = {}
        self.sent: dict[str, str] = {}         # path -> mark shown on its thumbnail
        self.setAcceptDrops(True)
        title = QLabel("Try it", objectName="pageTitle")
        self.heading = QLabel("No run loaded: train a run or open a run folder to try its model.")
        self.heading.setWordWrap(True)
        self.owner = RunOwner(session)   # shown while the run is of another dataset than the open one
        self.owner.changed.connect(self._update_enabled)
        self.add_btn = QPushButton("Add images…")
        self.add_btn.clicked.connect(self._pick_images)
        self.folder_btn = QPushButton("Add folder…")
        self.folder_btn.setToolTip("Every image under the folder (linked folders are not followed)")
        self.folder_btn.clicked.connect(self._pick_folder)
        self.clear_btn = QPushButton("Clear")
        self.clear_btn.clicked.connect(self.clear)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(lambda: session.stop(JobKind.TRY))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 99)
        self.slider.setValue(DEFAULT_THRESHOLD)
        self.slider.setMinimumWidth(200)    # 1 % is a couple of pixels, not a jump
        self.slider.setMaximumWidth(320)
        self.slider.setToolTip("Images whose top probability is below this go to Unsure "
                               "(as `workbench predict --min-confidence`)")
        self.slider.valueChanged.connect(self._split)
        self.threshold_label = QLabel()
        self.send_btn = QPushButton("Send the unsure ones to labelling")
        self.send_btn.clicked.connect(self.send_unsure)
        self.undo_send_btn = self._make_undo_send()
        key_shortcut(self, [QKeySequence.StandardKey.Undo], "Undo the last send to labelling (Try it)", self.undo_send,
                     Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.sure_model, self.unsure_model = GalleryModel(self), GalleryModel(self)
        self.sure_list, self.unsure_list = _grid(self.sure_model), _grid(self.unsure_model)
        self.sure_title, self.unsure_title = QLabel(), QLabel()
        self.status = QLabel("", wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.status.setOpenExternalLinks(True)
        self.hint = QLabel(HINT, alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.hint.setObjectName("dropHint")
        self.hint.setStyleSheet("QLabel#dropHint { border: 2px dashed #9aa4b2; border-radius: 8px; "
                                "color: #5b6472; padding: 24px; }")
        top = QHBoxLayout()
        top.addWidget(title)
        top.addSpacing(12)
        top.addWidget(self.heading, 1)
        bar = QHBoxLayout()
        for w in (self.add_btn, self.folder_btn, self.clear_btn):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.progress)
        bar.addWidget(self.cancel_btn)
        thr = QHBoxLayout()
        thr.addWidget(QLabel("Unsure below"))
        thr.addWidget(self.slider)
        thr.addWidget(self.threshold_label)
        thr.addStretch(1)
        thr.addWidget(self.send_btn)
        thr.addWidget(self.undo_send_btn)
        galleries = splitter(Qt.Orientation.Horizontal, pane(self.sure_title, (self.sure_list, 1)),
                             pane(self.unsure_title, (self.unsure_list, 1)), stretch=(1, 1), sizes=[620, 620])
        self.stack = QStackedWidget()
        self.stack.addWidget(self.hint)
        self.stack.addWidget(galleries)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.owner)
        lay.addLayout(bar)
        lay.addLayout(thr)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.status)
        session.tried.connect(self.show_result)
        session.job_event.connect(self._on_event)
        session.job_failed.connect(self._on_failed)
        session.job_finished.connect(self._on_finished)
        session.run_state.changed.connect(self._update_enabled)
        self._split()

    # ------------------------------------------------------------------ input
    def set_run(self, run_dir: str) -> None:
        if str(run_dir) != self.run_dir:
            self.clear()
        self.run_dir = str(run_dir)
        self.owner.set_run(self.run_dir)
        self.heading.setText(f"<b>{Path(self.run_dir).name}</b> &nbsp; <span style='color:#64748b'>"
                             f"{self.run_dir}</span>")
        self._update_enabled()

    def add_paths(self, paths: list[str]) -> bool:
        """Predict image files and folders (added to those shown); False when no run is open or a job runs."""
        if not self.run_dir or not paths:
            return False
        if not self.session.try_images(self.run_dir, list(paths)):
            self.status.setText("Another job is running; drop the images again when it has finished.")
            return False
        self.progress.setRange(0, 0)
        self.status.setText(f"Predicting {len(paths)} dropped item(s)…")
        self._update_enabled()
        return True

    def clear(self) -> None:
        self.rows, self.errors, self.sent, self.result, self._sends = {}, {}, {}, None, []
        self.undo_send_btn.hide()
        self.status.setText("")
        self._split()

    def start_dir(self) -> str:
        """Where the pickers open: the last folder images came from, else beside the open dataset."""
        data = self.session.config.data.path
        return self._last_dir or (str(Path(data).expanduser().parent) if data else "")

    def _pick_images(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Images to try", self.start_dir(), "Images (*.png *.jpg "
                                                "*.jpeg *.bmp *.webp *.tif *.tiff *.gif);;All files (*)")
        if files:
            self._last_dir = str(Path(files[0]).parent)
        self.add_paths(files)

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to try", self.start_dir())
        if folder:
            self._last_dir = str(Path(folder).parent)
            self.add_paths([folder])

    def dragEnterEvent(self, ev) -> None:  # noqa: N802
        if ev.mimeData().hasUrls() and self.run_dir:
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:  # noqa: N802
        self.add_paths([u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()])

    # ------------------------------------------------------------------ results
    def show_result(self, result) -> None:
        self.result = result
        for row in result.rows:
            self.rows[row.path] = row
        waiting = labelling_marks(result.dataset, [r.path for r in result.rows], result.changes_beside_data)
        self.sent.update({p: m for p, m in waiting.items() if p not in self.sent})   # sent before, maybe in a past session
        self.errors.update(result.errors)
        t = result.temperature
        calib = (f"probabilities calibrated (temperature {t:.2f})" if t != 1.0
                 else "probabilities not calibrated (temperature 1)")
        text = f"{len(self.rows)} image(s); {calib}, as <tt>workbench predict</tt> gives them."
        if self.errors:
            named = "; ".join(f"{display_text(Path(p).name)}: {why}" for p, why in list(self.errors.items())[:3])
            more = f"; and {len(self.errors) - 3} more (tooltip)" if len(self.errors) > 3 else ""
            text += f" {len(self.errors)} unreadable skipped ({html.escape(named)}{more})."
        self.status.setText(text)
        self.status.setToolTip("\n".join(f"{display_text(p)}: {why}" for p, why in self.errors.items()))
        self._split()

    @property
    def threshold(self) -> float:
        return self.slider.value() / 100.0

    def sorted_rows(self) -> list:
        return sorted(self.rows.values(), key=lambda r: -r.probability)

    def sure_rows(self) -> list:
        return [r for r in self.sorted_rows() if not is_unsure(r, self.threshold)]

    def unsure_rows(self) -> list:
        return [r for r in self.sorted_rows() if is_unsure(r, self.threshold)]

    def _split(self, *_a) -> None:
        sure, unsure = self.sure_rows(), self.unsure_rows()
        for model, rows in ((self.sure_model, sure), (self.unsure_model, unsure)):
            model.set_items([GalleryItem(r.path, caption(r), tooltip(r)) for r in rows])
            model.set_marks(self.sent)
        pct = self.slider.value()
        self.threshold_label.setText(f"{pct} %")
        self.sure_title.setText(f"<b style='color:#15803d'>Sure</b> ({len(sure)}): top probability {pct} % or more")
        self.unsure_title.setText(f"<b style='color:#b45309'>Unsure</b> ({len(unsure)}): below {pct} %"
                                  + (" or a one-colour picture" if any(getattr(r, "blank", False) for r in unsure) else ""))
        self.stack.setCurrentIndex(1 if self.rows else 0)
        self._update_enabled()

    # ------------------------------------------------------------------ job events
    def _update_enabled(self, *_a) -> None:
        rs = self.session.run_state
        have, busy = bool(self.run_dir), rs.busy
        for b in (self.add_btn, self.folder_btn):
            b.setEnabled(have and not busy)
        self.cancel_btn.setEnabled(rs.running(JobKind.TRY))
        for w in (self.progress, self.cancel_btn):   # shown while images are predicted, not as an empty box
            w.setVisible(rs.running(JobKind.TRY))
        self.clear_btn.setEnabled(bool(self.rows) and not rs.running(JobKind.TRY))
        self.send_btn.setEnabled(any(r.path not in self.sent for r in self.unsure_rows())
                                 and bool(self.result and self.result.dataset) and not self.owner.foreign)
        self.send_btn.setToolTip(self.owner.why() if self.owner.foreign else SEND_TIP)

    def _on_event(self, kind: JobKind, ev: Event) -> None:
        if kind is JobKind.TRY and isinstance(ev, Progress):
            self.progress.setRange(0, max(1, ev.total))
            self.progress.setValue(ev.done)

    def _on_failed(self, ev: JobFailed) -> None:
        if ev.job is JobKind.TRY:
            self.status.setText(f"<span style='color:#b42318'><b>Failed:</b> {ev.message}</span>")

    def _on_finished(self, kind: JobKind, status: str) -> None:
        if kind is JobKind.TRY:
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if status == "completed" else 0)
            if status == "cancelled":
                self.status.setText("Cancelled.")
        self._update_enabled()
