"""Audit tab of the Data page: "Audit labels" trains k fold models (job "audit"), then shows the
suspected label issues as a gallery sorted by rank (given and suggested label on each), with accept
suggestion (A), relabel / quarantine / keep (R / Q / K), undo and "Retrain with changes", all through
the dataset's sidecar; and the near-duplicate groups (LeaksView). The cost is shown before starting;
a stopped audit resumes from its finished folds when started again."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton,
                               QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from ...runtime.events import EpochEnd, Event, FitStarted, Progress, fmt_time
from ..jobs import JobFailed, JobKind
from ..session_helpers import describe_recipe, same_dataset
from ..widgets.common import WrappedLabel, key_shortcut, splitter
from .changes_view import ChangesView
from .gallery_view import GalleryItem, GalleryView
from .leaks_view import LeaksView

IDLE_TEXT = "Open a dataset, then audit its labels. Finished folds are kept: a stopped audit resumes where it was."
READY_TEXT = ("Audit the labels of {name}: every image is predicted by a model that did not train on it. "
              "Finished folds are kept: a stopped audit resumes where it was.")


def issue_item(r: dict) -> GalleryItem:
    cap = f"#{r['rank']}  {r['given']} → {r['suggested']}\np {r['self_confidence']:.2f} / {r['suggested_prob']:.2f}"
    tip = (f"rank {r['rank']}: labelled '{r['given']}', the fold models suggest '{r['suggested']}'\n"
           f"out-of-fold probability of the given label {r['self_confidence']:.3f}, "
           f"of the suggestion {r['suggested_prob']:.3f}")
    return GalleryItem(r["path"], cap, tip, index=r["rank"] - 1, true_class=r["given"],
                       suggested=r["suggested"], extra=dict(r))


class AuditView(QWidget):
    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.issues: list[dict] = []
        self.root = ""   # the dataset the audit shown is of
        self.classes: tuple = ()
        self._fold, self._epochs = (0, 1), 1
        self.folds = QSpinBox()
        self.folds.setRange(2, 10)
        self.folds.setValue(5)
        self.folds.setToolTip("k: every image is predicted by a model trained on the other k-1 folds")
        self.quick = QCheckBox("Quick audit (3 epochs)")
        self.quick.setChecked(True)
        self.quick.setToolTip("At most 3 epochs per fold (a recipe that still trains from scratch also at most 64 "
                              "px). Photos start every fold from the ImageNet weights on this machine at their "
                              "size unless the recipe names its model; the recipe's time budget does not apply")
        self.warning = QLabel()
        self.warning.setObjectName("problems")
        self.warning.setWordWrap(True)
        self.warning.setVisible(False)
        self.leaks_only = QCheckBox("Near-duplicates only (no training)")
        self.eta = WrappedLabel()   # a long recipe wraps onto a second line, never widens the window
        self.eta.setObjectName("dim")
        self.start_btn = QPushButton("Audit labels")
        self.start_btn.setObjectName("primary")
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(lambda: session.stop(JobKind.AUDIT))
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel(IDLE_TEXT)
        self.status.setWordWrap(True)
        self.gallery = GalleryView("Suspected label issues, most suspect first")
        self.accept_btn = QPushButton("Accept suggestion (A)")
        self._accept_tip = "Relabel the selected images to the suggested class (sidecar only; undo with Ctrl+Z)"
        self.accept_btn.setToolTip(self._accept_tip)
        self.reliable = True
        self.accept_btn.clicked.connect(self.accept_selected)
        self.gallery.layout().itemAt(0).layout().insertWidget(2, self.accept_btn)
        self.changes = ChangesView(session)
        self.leaks = LeaksView()
        self.tabs = QTabWidget()
        self.tabs.addTab(splitter(Qt.Orientation.Vertical, self.gallery, self.changes, stretch=(3, 1)), "Label issues")
        self.tabs.addTab(self.leaks, "Near-duplicates")
        row = QHBoxLayout()
        for w in (QLabel("Folds:"), self.folds, self.quick, self.leaks_only):
            row.addWidget(w)
        row.addWidget(self.eta, 1)
        row.addWidget(self.start_btn)
        row.addWidget(self.cancel_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.warning)
        lay.addWidget(self.tabs, 1)

        self.gallery.actionRequested.connect(self.apply_action)
        self.gallery.undoRequested.connect(self.changes.undo)
        self.gallery.model.modelReset.connect(self._refresh_marks)
        self.changes.changed.connect(self._refresh_marks)   # a new action: an undo's note goes (undone says anew)
        self.changes.changed.connect(lambda: self._done_text and self.status.setText(self._done_text))
        self.changes.undone.connect(self._undone)
        self._done_text = ""   # the finished audit's line, kept above an undo's note
        self.gallery.list.selectionModel().selectionChanged.connect(self._update_accept)
        self.gallery.model.modelReset.connect(self._update_accept)
        self.changes.failed.connect(lambda m: QMessageBox.warning(self, "Changes", m))
        self.changes.retrainRequested.connect(self.retrain)
        self.leaks.useSplitRequested.connect(self.use_split)
        self.leaks.actionRequested.connect(self.apply_action)
        accept = QShortcut(QKeySequence("A"), self.gallery.list)
        accept.setContext(Qt.ShortcutContext.WidgetShortcut)
        accept.setWhatsThis("Accept the selected label suggestions (Audit gallery)")
        accept.activated.connect(self.accept_selected)
        key_shortcut(self, [QKeySequence.StandardKey.Undo], "Undo the last accept / relabel / quarantine / keep "
                     "(Audit)", self.changes.undo, Qt.ShortcutContext.WidgetWithChildrenShortcut)
        for w in (self.folds, self.quick, self.leaks_only):
            (w.valueChanged if isinstance(w, QSpinBox) else w.toggled).connect(lambda *_: self.estimate())
        session.dataset_changed.connect(self._on_dataset)
        session.run_state.changed.connect(self._set_busy)
        session.job_finished.connect(self._on_finished)
        session.job_event.connect(self._on_event)
        session.job_failed.connect(self._on_failed)
        session.audited.connect(self.show_result)
        self._set_busy()

    # ----------------------------------------------------------------- starting
    def _on_dataset(self, ds) -> None:
        """Another dataset (or none, while a folder scans): the audit shown is of this dataset only."""
        root = str(Path(ds.root)) if ds is not None else ""
        if root != self.root:
            self.clear()
        self.root = root
        if ds is not None:
            self.changes.open_root(root)
            if not self.issues and not self.session.run_state.running(JobKind.AUDIT):
                self.status.setText(READY_TEXT.format(name=Path(root).name))
                self.session.saved_audit(self._show_saved)   # the last finished audit comes back
            self.estimate()

    def clear(self) -> None:
        self.issues, self.classes, self._done_text = [], (), ""
        self.gallery.set_items([])
        self.leaks.set_report({})
        self.tabs.setTabText(0, "Label issues")
        self.tabs.setTabText(1, "Near-duplicates")
        self.status.setText(IDLE_TEXT)
        self.eta.setText("")

    def estimate(self) -> None:
        ds = self.session.dataset
        if ds is None:
            self.eta.setText("")
            return
        if self.leaks_only.isChecked():
            self.eta.setText(f"{len(ds.items):,} images: a perceptual hash each, no training")
            return
        self.eta.setText("estimating the cost…")
        self.session.estimate_audit(self.folds.value(), self.quick.isChecked(), len(ds.items), self._estimated)

    def _estimated(self, seconds) -> None:
        if isinstance(seconds, Exception):
            self.eta.setText(f"cost unknown ({seconds})")
        else:
            recipe = describe_recipe(self.session.audit_config(self.quick.isChecked()))
            self.eta.setText(f"about {fmt_time(seconds)} here: {self.folds.value()} × {recipe}\n"
                             "(a time budget does not apply to folds)")

    def start(self) -> bool:
        if self.session.dataset is None:
            self.status.setText("Open a dataset first.")
            return False
        ok = self.session.start_audit(self.folds.value(), self.quick.isChecked(), self.leaks_only.isChecked())
        if not ok:
            self.status.setText("Another job is running; stop it before auditing.")
        return ok

    # ----------------------------------------------------------------- job feedback
    @Slot()
    def _set_busy(self) -> None:
        rs = self.session.run_state
        mine = rs.running(JobKind.AUDIT)
        self.progress.setVisible(mine)
        self.cancel_btn.setVisible(mine)
        self.start_btn.setEnabled(not rs.busy)

    @Slot(object, object)
    def _on_event(self, kind: JobKind, ev: Event) -> None:
        if kind is not JobKind.AUDIT:
            return
        if isinstance(ev, Progress) and ev.task == "audit":
            self._fold = (ev.done, max(1, ev.total))
            self.status.setText(f"Audit: {ev.message}")
            self.progress.setValue(int(1000 * ev.done / max(1, ev.total)))
        elif isinstance(ev, FitStarted):
            self._epochs = max(1, ev.epochs)
        elif isinstance(ev, EpochEnd):
            done, k = self._fold
            frac = (done + (ev.epoch + 1) / self._epochs) / k
            self.progress.setValue(int(1000 * min(1.0, frac)))
            self.status.setText(f"Audit: fold {done + 1}/{k}, epoch {ev.epoch + 1} "
                                f"(valid accuracy {ev.metrics.get('accuracy', float('nan')):.2f})")

    def _on_failed(self, ev: JobFailed) -> None:
        if ev.job is JobKind.AUDIT:
            self.status.setText(f"<span style='color:#b42318'>Audit failed: {ev.message}</span>")

    def _on_finished(self, kind: JobKind, status: str) -> None:
        if kind is JobKind.AUDIT and status == "cancelled":
            self.status.setText("Audit stopped; finished folds are kept. Start it again to resume.")

    def show_result(self, result) -> None:
        """An AuditResult (full audit) or the leaks dict (near-duplicates only)."""
        if isinstance(result, dict):
            self.leaks.set_report(result)
            self.tabs.setCurrentIndex(1)
            self.status.setText(f"Near-duplicates: {len(result.get('leaks', []))} groups across train/valid.")
            return
        d = result.to_dict()
        if result.status != "completed":
            self.status.setText(f"Audit {result.status} after {result.folds_done}/{result.k} folds. {result.message}")
            return
        self._show_report(d, f"Audit done in {fmt_time(result.wall_seconds)}")

    def _show_saved(self, report) -> None:
        """The dataset's last finished audit (report.json), shown as when it finished, with its date, unless
        another dataset opened, an audit runs or a newer result is shown meanwhile."""
        if (not isinstance(report, dict) or self.issues or self.session.run_state.running(JobKind.AUDIT)
                or not self.root or not same_dataset(str(report.get("data_path", "")), self.root)):
            return
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(report.get("saved_at", 0)))
        self._show_report(report, f"Audit of {when} (run it again after changing the images)")
        self.tabs.setCurrentIndex(0)

    def _show_report(self, d: dict, headline: str) -> None:
        """An audit's report dict (AuditResult.to_dict, or report.json): suspects, warning, near-duplicates."""
        # a ranking from weak fold models is said before the suspects, and its suggestions are not offered
        self.reliable = bool(d.get("ranking_reliable"))
        self.warning.setText(f"&#9888; {d.get('ranking_note', '')} Accept suggestion is disabled for this audit."
                             if not self.reliable else "")
        self.warning.setVisible(not self.reliable)
        self.accept_btn.setToolTip(self._accept_tip if self.reliable else "Disabled: " + d.get("ranking_note", ""))
        self.classes = tuple(d.get("classes", ()))
        self.issues = list(d.get("label_issues", ()))
        self.gallery.set_classes(self.classes)
        self.gallery.set_items([issue_item(r) for r in self.issues])
        self.leaks.set_report(d)
        self.tabs.setTabText(0, f"Label issues ({len(self.issues)})")
        self.tabs.setTabText(1, f"Near-duplicates ({len(d.get('duplicates', []))})")
        acc = d.get("oof_accuracy")
        self._done_text = (f"{headline}: out-of-fold accuracy {acc if acc is not None else float('nan'):.1%}, "
                           f"{len(self.issues)} suspected label issues of {d.get('n_images', 0)} images. "
                           + ("None means no image's label was confidently contradicted by the models that did not "
                              "train on it: nothing to fix here. " if not self.issues else "")
                           + f"Report: {Path(d.get('audit_dir', '')) / 'report.json'}")
        self.status.setText(self._done_text)
        self._update_accept()

    # ----------------------------------------------------------------- actions (sidecar)
    def apply_action(self, action: str, paths: list, new_class: str) -> bool:
        return self.changes.apply(action, list(paths), new_class, self.classes or None)

    def _update_accept(self, *_a) -> None:
        """Accept is offered for a selection of a reliable audit's suspects (A does the same)."""
        self.accept_btn.setEnabled(self.reliable and bool(self.gallery.selected_items()) and not self.gallery.locked)

    def _undone(self, message: str) -> None:
        self.status.setText(f"{self._done_text}\n{message}" if self._done_text else message)

    def accept_selected(self) -> bool:
        """Relabel each selected image to its suggested class (one action: one Ctrl+Z undoes it); not when
        the ranking is unreliable."""
        if not self.reliable:
            return False
        return self.changes.apply_each([("relabel", it.path, it.extra["suggested"])
                                        for it in self.gallery.selected_items()], self.classes or None)

    def _refresh_marks(self) -> None:
        self.gallery.model.set_marks(self.changes.marks(self.gallery.paths()))

    def retrain(self) -> None:
        if not self.session.start_training():
            QMessageBox.information(self, "Retrain", "Another job is running; try again when it has finished.")

    def use_split(self, csv_path: str) -> None:
        if csv_path:
            self.session.set_option("data.labels_csv", csv_path)
            self.status.setText(f"The recipe now uses the group-aware split: data.labels_csv = {csv_path}")
