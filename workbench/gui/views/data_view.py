"""Data page: open a folder (dialog, drag and drop, recent list), scan + health check in a worker with
progress and cancel, class counts (bar chart), split sizes, image-size histogram, a lazy thumbnail grid
per class and the health report (skipped files and why, with a preview of the selected file)."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QTabWidget, QVBoxLayout, QWidget)

from ...runtime.events import Event, Progress
from ..jobs import JobKind
from ..session_helpers import ChangeSet, data_effect, same_dataset
from ..widgets.common import counted, page_header, set_icon, splitter
from ..widgets.thumbs import ThumbModel, ThumbView
from .audit_view import AuditView
from .health_panel import HealthPanel
from .plots import CountAxis, draw_counts, legend_below, size_arrays, size_bars
from .pretrained_tip import PretrainedTip


class DataView(QWidget):
    open_requested = Signal(str)

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self._scanned = session, None   # the relabels / quarantines the shown scan applied
        self.setAcceptDrops(True)
        self.open_btn = QPushButton("Open folder...")
        self.open_btn.setObjectName("primary")
        set_icon(self.open_btn, "folder")
        self.open_btn.setToolTip("Open a dataset folder (Ctrl+O); you can also drop a folder here")
        self.open_btn.clicked.connect(self.open_dialog)
        self.recent = QComboBox()
        self.recent.setPlaceholderText("Recent folders")
        self.recent.setMinimumContentsLength(24)
        self.recent.activated.connect(lambda i: self.open_folder(self.recent.itemData(i)))
        self.cancel_btn = QPushButton("Cancel")
        set_icon(self.cancel_btn, "stop")
        self.cancel_btn.clicked.connect(lambda: session.stop(JobKind.SCAN))
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress_label = QLabel()
        self.progress_label.setObjectName("dim")
        self.summary = QLabel("Open a folder with one sub-folder per class, or drop it here.")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                             | Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.summary.linkActivated.connect(lambda _l: session.dataset and self.open_folder(session.dataset.root))

        self.tip = PretrainedTip(session)   # the first-run fine-tune, or the suggestion to fine-tune
        self.suggestion, self.use_pretrained_btn = self.tip.suggestion, self.tip.use_btn

        # overview: class counts + image sizes
        self.counts_plot = pg.PlotWidget(title="Images per class", axisItems={"bottom": CountAxis("bottom")})
        self.counts_plot.setBackground(None)
        legend_below(self.counts_plot.getPlotItem())
        self.sizes_plot = pg.PlotWidget(title="Image sizes (short side, px)", axisItems={"left": CountAxis("left")})
        self.sizes_plot.setBackground(None)
        self.sizes_plot.getAxis("bottom").enableAutoSIPrefix(False)
        overview = splitter(Qt.Orientation.Horizontal, self.counts_plot, self.sizes_plot, stretch=(3, 2))

        # thumbnails per class
        self.class_combo = QComboBox()
        self.class_combo.currentIndexChanged.connect(self._show_class)
        self.thumbs = ThumbModel(parent=self)
        self.thumb_view = ThumbView()
        self.thumb_view.setModel(self.thumbs)
        images = QWidget()
        il = QVBoxLayout(images)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class:"))
        row.addWidget(self.class_combo, 1)
        il.addLayout(row)
        il.addWidget(self.thumb_view, 1)

        # health report (skipped files and notes, with a preview)
        self.health_panel = HealthPanel()
        self.health, self.problem_path, self.problem_image = (self.health_panel.table, self.health_panel.path,
                                                              self.health_panel.image)
        self.tabs = QTabWidget()
        self.tabs.addTab(overview, "Overview")
        self.tabs.addTab(images, "Images")
        self.tabs.addTab(self.health_panel, "Health report")
        self.audit = AuditView(session)
        self.tabs.addTab(self.audit, "Audit")
        self.audit_btn = QPushButton("Audit labels…")
        self.audit_btn.setToolTip("Find wrong labels (out-of-fold predictions) and near-duplicates across the split")
        self.audit_btn.clicked.connect(lambda: self.tabs.setCurrentWidget(self.audit))

        head = QHBoxLayout()
        head.addWidget(page_header("Data", "Class folders (optionally train/ and valid/) or images + a labels CSV. "
                                           "Files are never modified."), 1)
        head.addWidget(self.recent)
        head.addWidget(self.audit_btn)
        head.addWidget(self.open_btn)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.progress_label)
        prog.addWidget(self.cancel_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addLayout(prog)
        lay.addWidget(self.summary)
        lay.addWidget(self.tip)
        lay.addWidget(self.tabs, 1)

        session.job_started.connect(self._on_started)
        session.job_finished.connect(self._on_finished)
        session.job_event.connect(self._on_event)
        session.job_failed.connect(self._on_failed)
        session.run_state.changed.connect(self._set_busy)
        session.dataset_changed.connect(self.show_dataset)
        session.dataset_changed.connect(self._show_open_in_recent)
        session.stats_changed.connect(self.show_stats)
        session.changes_edited.connect(self._changes_edited)
        self._set_busy()

    # ----------------------------------------------------------------- opening
    def set_recent(self, folders: list[str]) -> None:
        self.recent.clear()
        for f in folders:
            self.recent.addItem(Path(f).name or f, f)
            self.recent.setItemData(self.recent.count() - 1, f, Qt.ItemDataRole.ToolTipRole)
        self._show_open_in_recent()

    def _effect(self, root: str) -> dict | None:
        """What of the change list changes the counts (relabels, quarantines), or None when unreadable."""
        try:
            cs = ChangeSet.load(root, beside_data=self.session.config.data.changes_beside_data)
        except (OSError, ValueError):
            return None
        return data_effect(cs.by_rel())

    def _changes_edited(self, root: str) -> None:
        """The open dataset's change list was written: the counts are the scan's, from before it, unless
        the list is back to what the scan applied (an undo); said on the counts' line (nothing moves)."""
        ds = self.session.dataset
        if ds is None or not same_dataset(ds.root, root):
            return
        text = self.summary.text().replace(STALE, "")
        self.summary.setText(text if self._effect(ds.root) == self._scanned else text + STALE)

    def _show_open_in_recent(self, *_a) -> None:
        """The recent list shows the open folder (its placeholder while none of its folders is open)."""
        open_now = self.session.dataset.root if self.session.dataset is not None else ""
        folders = [self.recent.itemData(i) for i in range(self.recent.count())]
        self.recent.setCurrentIndex(next((i for i, f in enumerate(folders)
                                          if open_now and Path(f) == Path(open_now)), -1))

    def open_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open dataset folder", self.session.config.data.path)
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str) -> None:
        if folder:
            self.open_requested.emit(folder)
            if not self.session.open_dataset(folder):
                self.summary.setText("Another job is running; stop it before opening a dataset.")

    def dragEnterEvent(self, e) -> None:
        urls = e.mimeData().urls()
        if urls and Path(urls[0].toLocalFile()).is_dir():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        self.open_folder(e.mimeData().urls()[0].toLocalFile())

    # ----------------------------------------------------------------- job feedback
    @Slot()
    def _set_busy(self) -> None:
        rs = self.session.run_state
        scanning = rs.running(JobKind.SCAN)
        self.progress.setVisible(scanning)
        self.progress_label.setVisible(scanning)
        self.cancel_btn.setVisible(scanning)
        self.open_btn.setEnabled(not rs.busy)
        self.recent.setEnabled(not rs.busy)
        self.open_btn.setToolTip("Another job is running." if rs.busy and not scanning else
                                 "Open a dataset folder (Ctrl+O); you can also drop a folder here")

    @Slot(object)
    def _on_started(self, kind: JobKind) -> None:
        if kind is JobKind.SCAN:
            self.progress.setValue(0)
            self.summary.setText(f"Scanning {self.session.config.data.path} ...")

    @Slot(object, str)
    def _on_finished(self, kind: JobKind, status: str) -> None:
        if kind is JobKind.SCAN and status == "cancelled":
            self.summary.setText("Scan cancelled: no dataset is open.")

    def _on_failed(self, ev) -> None:
        """A folder that cannot be used (empty, no classes ...): one clear message here, no dialog."""
        if ev.job is JobKind.SCAN:
            self.clear()
            self.summary.setText(f"<span style='color:#b42318'><b>{html.escape(self.session.config.data.path)}"
                                 f"</b> cannot be used: {html.escape(_sentence(ev))}</span><br>Open a folder with one "
                                 "sub-folder of images per class (ants/, bees/ ...), optionally inside train/ "
                                 "and valid/.")

    def clear(self) -> None:
        """Nothing of a previous dataset on screen: charts, thumbnails, health report and preview."""
        for plot in (self.counts_plot, self.sizes_plot):   # bars, class names, axis titles and ranges
            item = plot.getPlotItem()
            item.clear()
            item.getAxis("left").setTicks(None)
            item.setLabel("left", "")
            item.setLabel("bottom", "")
            item.enableAutoRange()
        self.class_combo.clear()
        self.thumbs.set_paths([])
        self.health_panel.clear()
        self.tabs.setTabText(2, "Health report")
        self.tip.show_suggestion(("", ""))

    @Slot(object, object)
    def _on_event(self, kind: JobKind, ev: Event) -> None:
        if kind is JobKind.SCAN and isinstance(ev, Progress):
            frac = ev.done / ev.total if ev.total else 0.0
            self.progress.setValue(int(1000 * frac))
            self.progress_label.setText(f"{ev.task}: {ev.done:,}/{ev.total:,} {ev.message}".strip())

    # ----------------------------------------------------------------- showing
    @Slot(object)
    def show_dataset(self, ds) -> None:
        if ds is None:
            self.clear()
            return
        n_train, n_valid = len(ds.train), len(ds.valid)
        listed = list(ds.problems) + list(ds.notes)   # as the health report lists them (a quarantine is skipped)
        skipped = sum(1 for p in listed if p.skipped)
        self._scanned = self._effect(ds.root)   # the change list this scan applied
        self.summary.setText(
            f"<b>{ds.root}</b><br>{len(ds.classes)} classes, {len(ds.items):,} usable images "
            f"(train {n_train:,}, valid {n_valid:,}; {split_words(ds.split_source, self.session.config.data.valid_pct)}), "
            f"{skipped} skipped, {counted(len(listed) - skipped, 'note')}.")
        draw_counts(self.counts_plot.getPlotItem(), ds)
        self.tip.suggest_for(list(ds.counts("train").values()))
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        counts = ds.counts()
        for i, c in enumerate(ds.classes):
            self.class_combo.addItem(f"{c} ({counts.get(c, 0):,})", i)
        self.class_combo.blockSignals(False)
        self._show_class(0)
        self._fill_health(list(ds.problems) + list(ds.notes))

    @Slot(object)
    def show_stats(self, stats) -> None:
        p = self.sizes_plot.getPlotItem()
        p.clear()
        w, h = size_arrays(stats) if stats is not None else (np.zeros(0), np.zeros(0))
        if not len(w):
            return
        x0, x1, counts, (lo, hi) = size_bars(np.minimum(w, h))
        p.addItem(pg.BarGraphItem(x0=x0, x1=x1, height=counts, brush="#10b981"))
        p.setXRange(lo, hi, padding=0)
        p.setLabel("bottom", "short side (px)")
        p.setLabel("left", "images")

    @Slot(int)
    def _show_class(self, _index: int) -> None:
        ds = self.session.dataset
        label = self.class_combo.currentData()
        if ds is None or label is None:
            self.thumbs.set_paths([])
            return
        paths = [it.path for it in ds.items if it.label == label]
        self.thumbs.set_paths(paths)

    def _fill_health(self, problems: list) -> None:
        skipped = self.health_panel.fill(problems)
        self.tabs.setTabText(2, f"Health report ({skipped} skipped)")


STALE = " <i>The change list changed since: these counts are from before it.</i> <a href='rescan'>Rescan</a>"


def split_words(source: str, valid_pct: float) -> str:
    """Where the train / valid split comes from, in words."""
    return {"csv": "split by the CSV's split column", "random": f"a random {valid_pct:.0%} of each class "
            "held out for validation"}.get(source, "split by the train / valid folders")


def _sentence(ev) -> str:
    """The error's own sentence, without the exception's type name or the folder repeated before it."""
    text = str(ev.error) if ev.error is not None else ev.message
    root = ev.error.args[0].split(": ", 1)[0] if ev.error is not None and ev.error.args else ""
    return text.split(": ", 1)[1] if root and text.startswith(root + ": ") and Path(root).is_absolute() else text
