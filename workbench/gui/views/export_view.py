"""Export page: formats, destination, progress, per-format parity; and predict (one image or a folder).

Slow work (export + parity check, folder prediction) runs as a session job; a single-image
prediction with its Grad-CAM runs in the side pool through the run's cached model (image_viewer).
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QFileDialog, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton, QSizePolicy,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ...runtime.events import Event, Progress
from .gallery_view import to_qimage
from ..jobs import JobFailed, JobKind
from ..session_helpers import ExportError, ExportFailed
from ..widgets.common import DropLabel
from .image_viewer import request_cam, top_k
from .run_owner import RunOwner

FORMATS = (("safetensors", "safetensors weights + model.json"), ("torchscript", "TorchScript (.pt)"),
           ("onnx", "ONNX (.onnx)"))
JOBS = (JobKind.EXPORT, JobKind.PREDICT)


class ExportView(QWidget):
    """Export the current run and predict with it, through the session's export / predict jobs."""

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.run_dir, self.results, self.predict_result = "", [], None
        self.title = QLabel("Export", objectName="pageTitle")
        self.heading = QLabel("No run loaded: train a run or open a run folder to export it.")
        self.heading.setWordWrap(True)   # a long run folder wraps (or is cut), never widens the window
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.owner = RunOwner(session)   # shown while the run is of another dataset than the open one
        self.boxes = {}
        fbox = QGroupBox("Formats")
        fl = QHBoxLayout(fbox)
        for name, text in FORMATS:
            b = QCheckBox(text)
            b.setChecked(True)
            b.setToolTip(f"Write the {name} export and check that it predicts like the in-app model")
            fl.addWidget(b)
            self.boxes[name] = b
        fl.addStretch(1)
        self.dest = QLineEdit()
        self.dest.setPlaceholderText("default: <run folder>/export")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_dest)
        self.export_btn = QPushButton("Export")
        self.export_btn.clicked.connect(self.start_export)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(lambda: session.stop(JobKind.EXPORT))
        self.progress = QProgressBar()
        self.status = QLabel("", wordWrap=True)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Format", "File", "Max |Δ prob|", "Top-1 equal", "Parity"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        dest_row = QHBoxLayout()
        dest_row.addWidget(QLabel("Destination"))
        dest_row.addWidget(self.dest, 1)
        dest_row.addWidget(browse)
        dest_row.addWidget(self.export_btn)
        dest_row.addWidget(self.cancel_btn)
        ebox = QGroupBox("Files and parity check")
        el = QVBoxLayout(ebox)
        el.addWidget(fbox)
        el.addLayout(dest_row)
        el.addWidget(self.progress)
        el.addWidget(self.status)
        el.addWidget(self.table, 1)
        # predict
        self.drop = DropLabel(self.predict_image)
        self.pick_btn = QPushButton("Pick image…")
        self.pick_btn.clicked.connect(self._pick_image)
        self.top5 = QTableWidget(0, 2)
        self.top5.setHorizontalHeaderLabels(["Class", "Probability"])
        self.top5.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.top5.verticalHeader().setVisible(False)
        self.top5.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.pred_label = QLabel("", wordWrap=True)
        self.folder_btn = QPushButton("Predict a folder → CSV…")
        self.folder_btn.setToolTip("Predict every image under a folder (recursively) and write a CSV")
        self.folder_btn.clicked.connect(self._pick_folder)
        self.folder_cancel = QPushButton("Cancel")
        self.folder_cancel.clicked.connect(lambda: session.stop(JobKind.PREDICT))
        self.folder_progress = QProgressBar()
        self.folder_status = QLabel("", wordWrap=True)
        pbox = QGroupBox("Predict")
        pl = QHBoxLayout(pbox)
        left = QVBoxLayout()
        left.addWidget(self.drop, 1)
        left.addWidget(self.pick_btn)
        right = QVBoxLayout()
        right.addWidget(self.pred_label)
        right.addWidget(self.top5, 1)
        frow = QHBoxLayout()
        frow.addWidget(self.folder_btn)
        frow.addWidget(self.folder_cancel)
        right.addLayout(frow)
        right.addWidget(self.folder_progress)
        right.addWidget(self.folder_status)
        pl.addLayout(left, 1)
        pl.addLayout(right, 1)
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addSpacing(12)
        top.addWidget(self.heading, 1)
        lay.addLayout(top)
        lay.addWidget(self.owner)
        lay.addWidget(ebox, 3)
        lay.addWidget(pbox, 2)
        session.job_event.connect(self._on_event)
        session.job_failed.connect(self._on_failed)
        session.exported.connect(self.show_results)
        session.predicted.connect(lambda result: self.folder_status.setText(_predict_summary(result)))
        session.job_finished.connect(self._on_finished)
        session.run_state.changed.connect(self._update_enabled)
        for b in self.boxes.values():
            b.toggled.connect(lambda _on: self._update_enabled())
        self._update_enabled()

    # ------------------------------------------------------------------ run
    def set_run(self, run_dir: str) -> None:
        self.run_dir = str(run_dir)
        self.owner.set_run(self.run_dir)
        self.heading.setText(f"<b>{Path(self.run_dir).name}</b> &nbsp; <span style='color:#64748b'>"
                             f"{self.run_dir}</span>")
        self.dest.setPlaceholderText(str(Path(self.run_dir) / "export"))
        self._update_enabled()

    def formats(self) -> list[str]:
        return [n for n, b in self.boxes.items() if b.isChecked()]

    def _update_enabled(self) -> None:
        rs = self.session.run_state
        busy, mine = rs.busy, rs.running(*JOBS)
        have = bool(self.run_dir)
        self.export_btn.setEnabled(have and not busy and bool(self.formats()))
        self.cancel_btn.setEnabled(rs.running(JobKind.EXPORT))
        self.folder_btn.setEnabled(have and not busy)
        self.folder_cancel.setEnabled(rs.running(JobKind.PREDICT))
        self.pick_btn.setEnabled(have)
        if busy and not mine:
            self.export_btn.setToolTip("Another job is running; wait for it to finish")
        else:
            self.export_btn.setToolTip("Write the checked formats and check their predictions")

    # ------------------------------------------------------------------ export
    def start_export(self) -> bool:
        formats, run_dir = self.formats(), self.run_dir
        out_dir = self.dest.text().strip() or None
        if not run_dir or not formats or not self.session.export(run_dir, formats, out_dir):
            return False
        self.table.setRowCount(0)
        self.results = []
        self.progress.setRange(0, 0)
        self.status.setText(f"Exporting {', '.join(formats)}…")
        self._update_enabled()
        return True

    def show_results(self, results: list) -> None:
        self.results = list(results)
        self.table.setRowCount(len(self.results))
        for r, res in enumerate(self.results):
            diff = "–" if res.max_abs_diff != res.max_abs_diff else f"{res.max_abs_diff:.2e}"  # nan: not measured
            cells = (res.format, str(res.path), diff, "yes" if res.top1_equal else "NO",
                     "OK" if res.ok else "FAILED")
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                if c == 4:
                    it.setForeground(Qt.GlobalColor.darkGreen if res.ok else Qt.GlobalColor.red)
                    f = it.font()
                    f.setBold(True)
                    it.setFont(f)
                if c == 1:
                    it.setToolTip(str(res.path))
                self.table.setItem(r, c, it)
        ok = all(r.ok for r in self.results)
        self.status.setText(f"{len(self.results)} export(s) written; parity {'OK' if ok else 'FAILED'}.")

    def parity_texts(self) -> dict[str, str]:
        return {self.table.item(r, 0).text(): self.table.item(r, 4).text() for r in range(self.table.rowCount())}

    def _browse_dest(self) -> None:
        self.dest.setText(QFileDialog.getExistingDirectory(self, "Export destination", self.run_dir) or self.dest.text())

    # ------------------------------------------------------------------ predict
    def _pick_image(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Pick an image", "", "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff);;All files (*)")
        if f:
            self.predict_image(f)

    def predict_image(self, path: str) -> bool:
        """Top-5 and Grad-CAM of one image with the run's model (side pool)."""
        if not self.run_dir:
            return False
        self.pred_label.setText(f"Predicting {Path(path).name}…")
        self.predict_result = None
        request_cam(self.run_dir, str(path), self._show_prediction, calibrated=True)
        return True

    def _show_prediction(self, result) -> None:
        if isinstance(result, Exception):
            self.pred_label.setText(f"Cannot predict: {result}")
            return
        self.predict_result = result
        self.drop.setPixmap(QPixmap.fromImage(to_qimage(result.overlay)).scaled(
            220, 220, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        top = top_k(result.probs, result.classes)
        self.top5.setRowCount(len(top))
        for r, (name, p) in enumerate(top):
            self.top5.setItem(r, 0, QTableWidgetItem(name))
            self.top5.setItem(r, 1, QTableWidgetItem(f"{p:.1%}"))
        self.pred_label.setText(f"<b>{top[0][0]}</b> ({top[0][1]:.1%}) &nbsp; {result.path}<br>"
                                "heatmap: Grad-CAM of the predicted class")

    def default_csv(self) -> str:
        """Where the save dialog starts: the run folder, never the folder of images (it may be shared)."""
        return str(Path(self.run_dir or Path.home()) / "predictions.csv")

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to predict")
        if not folder:
            return
        out, _ = QFileDialog.getSaveFileName(self, "Write predictions CSV", self.default_csv(), "CSV (*.csv)")
        if out:
            self.predict_folder(folder, out)

    def predict_folder(self, folder: str, out_csv: str) -> bool:
        run_dir = self.run_dir
        if not run_dir or not self.session.predict_folder(run_dir, folder, out_csv):
            return False
        self.folder_progress.setRange(0, 0)
        self.folder_status.setText(f"Predicting {folder}…")
        self._update_enabled()
        return True

    # ------------------------------------------------------------------ job events
    def _widgets(self, kind: JobKind) -> tuple[QProgressBar, QLabel]:
        return (self.progress, self.status) if kind is JobKind.EXPORT else (self.folder_progress, self.folder_status)

    def _on_event(self, kind: JobKind, ev: Event) -> None:
        if kind in JOBS and isinstance(ev, Progress):
            bar, status = self._widgets(kind)
            bar.setRange(0, max(1, ev.total))
            bar.setValue(ev.done)
            if ev.message:
                status.setText(ev.message)

    def _on_failed(self, ev: JobFailed) -> None:
        """A failed export adds a FAILED row for the format its ExportFailed (or ExportError) names."""
        if ev.job not in JOBS:
            return
        fmt = ev.error.format if isinstance(ev.error, (ExportError, ExportFailed)) else ""
        if ev.job is JobKind.EXPORT and fmt:
            self.show_results(self.results + [SimpleNamespace(
                format=fmt, path=ev.message, max_abs_diff=float("nan"), top1_equal=False, ok=False)])
        self._widgets(ev.job)[1].setText(f"<span style='color:#b42318'><b>Failed:</b> {ev.message}</span>")

    def _on_finished(self, kind: JobKind, status: str) -> None:
        if kind in JOBS:
            bar, lab = self._widgets(kind)
            bar.setRange(0, 1)
            bar.setValue(1 if status == "completed" else 0)
            if status == "cancelled":
                lab.setText("Cancelled.")


def _predict_summary(result: dict) -> str:
    bad = result.get("errors") or {}
    text = f"Wrote {result['out_csv']}: {result['n_predicted']} image(s) predicted"
    if bad:
        text += f", {len(bad)} unreadable skipped (first: {next(iter(bad))})"
    return text
