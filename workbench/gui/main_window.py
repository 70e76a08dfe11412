"""The main window: composition only. A step flow of pages (Data, Recipe, LR finder, Train, Results,
Export, Try it, Runs) in the left column with the run list under it, pages stacked in the centre,
menus with shortcuts and a status bar (device, precision, state). Pages are added by composition:
``add_page(key, title, icon, widget)``. Every button state and the status text follow the session's
RunState.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QListWidget, QListWidgetItem, QMainWindow, QMessageBox,
                               QStackedWidget, QVBoxLayout, QWidget)

from .. import __version__
from ..runtime.paths import data_home
from .cpu_watch import CpuWatch
from ..data import DatasetError
from .help import LayoutsDialog, ShortcutsDialog
from .jobs import JobFailed, JobKind, submit, wait_side_tasks
from .recent import add_recent, recent_folders
from .run_edit import rename_action
from .refused_keys import RefusedKeys
from .run_list import RunList
from .run_pages import make_pages
from .session import Session
from .views.data_view import DataView
from .views.lr_find_view import LRFindView
from .views.recipe_view import RecipeView
from .views.lr_kept import KeptRangeTest
from .views.train_notes import TrainNotes
from .views.train_view import TrainView
from .widgets.common import ElidedLabel, guard_wheel, icon, key_shortcut, splitter


def settings() -> QSettings:
    """UI state only (layout, recent folders), in the per-user data folder; never hyper-parameters."""
    return QSettings(str(data_home() / "gui.ini"), QSettings.Format.IniFormat)


@dataclass
class Page:
    key: str
    title: str
    icon: str
    widget: QWidget
    tip: str = ""


class MainWindow(QMainWindow):
    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session or Session(parent=self)
        self.setWindowTitle("Workbench")
        self.setWindowIcon(icon("app"))
        self.pages: list[Page] = []
        self.error_box: QMessageBox | None = None
        self.gpu_count = 0  # set by detect_device; "Train on all GPUs" needs more than one
        self.confirm_close: Callable[[], bool] = self._ask_close
        self.confirm_recipe: Callable[[], bool] = lambda: self.recipe_view.confirm_quit()
        self.steps = QListWidget()
        self.steps.setObjectName("steps")
        self.steps.setIconSize(QSize(20, 20))
        self.steps.currentRowChanged.connect(self._on_step)
        undo = key_shortcut(self.steps, [QKeySequence.StandardKey.Undo], "Undo on the page shown (its own Ctrl+Z: "
                            "recipe, change list, Audit, Try it's send) while the step list has focus", self._undo_page)
        undo.setProperty("group", "Step list (sidebar)")
        self.steps.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.steps.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.runs = RunList(self.session)
        self.stack = QStackedWidget()
        left = QWidget()
        left.setObjectName("sidebar")
        ll = QVBoxLayout(left)
        ll.addWidget(QLabel("<b>Steps</b>"))
        ll.addWidget(self.steps)
        ll.addWidget(QLabel("<b>Runs</b>"))
        ll.addWidget(self.runs, 1)
        self.splitter = splitter(Qt.Orientation.Horizontal, left, self.stack, stretch=(0, 1), sizes=[190, 1090],
                                 name="main_splitter")
        self.setCentralWidget(self.splitter)

        s = self.session
        self.data_view = DataView(s)
        self.recipe_view = RecipeView(s)
        self.lr_view = LRFindView(s)
        self.train_view = TrainView(s)
        self.train_notes = TrainNotes(s, self.train_view)   # another dataset's run cleared; the run to resume
        self.lr_kept = KeptRangeTest(s, self.lr_view)   # the open dataset's range test, kept across restarts
        self.add_page("data", "1  Data", "data", self.data_view, "Open a dataset and check it")
        self.add_page("recipe", "2  Recipe", "recipe", self.recipe_view, "Choose model, augmentation and tricks")
        self.add_page("lr_find", "3  LR finder", "search", self.lr_view, "Find a good learning rate")
        self.add_page("train", "4  Train", "play", self.train_view, "Train and watch the curves")
        pages = make_pages(s)
        self.add_page("results", "5  Results", "results", pages["Results"], "Inspect a finished run")
        self.add_page("export", "6  Export", "export", pages["Export"], "Export a trained model")
        self.add_page("try", "7  Try it", "try", pages["Try it"], "Drop images on the trained model")
        self.add_page("runs", "8  Runs", "folder", pages["Runs"], "Manage run folders")

        self._fit_steps()
        guard_wheel(self.stack)  # spin / combo boxes of every page take the wheel only with focus
        self._build_actions()
        self.refused_keys = RefusedKeys(self, [self.act_train, self.act_lr])   # Ctrl+R while busy says why
        self.act_rename_run = rename_action(self.runs, s, self.runs.current_dir)
        self.device_label, self.precision_label = QLabel("device: ..."), QLabel()
        self.state_label = ElidedLabel("ready")
        self._flash = ""                      # a note shown in place of the state for a few seconds
        self._flash_timer = QTimer(self)
        self._flash_timer.setSingleShot(True)
        self._flash_timer.timeout.connect(lambda: self.flash(""))
        for w in (self.state_label,):
            self.statusBar().addWidget(w, 1)
        self.cpu_label = QLabel()
        self.cpu_label.setObjectName("warning")
        for w in (self.cpu_label, self.device_label, self.precision_label):
            self.statusBar().addPermanentWidget(w)
        self.cpu_watch = CpuWatch(s, self.cpu_label)

        s.run_state.changed.connect(self._update_state)
        s.dataset_changed.connect(self._on_dataset)
        s.job_failed.connect(self.show_error)
        s.run_opened.connect(self._on_run_opened)
        s.job_started.connect(lambda kind: self.show_page("train") if kind is JobKind.TRAIN else None)
        self._finished = ("", "")   # (run folder, status) of the training run that ended: acted on with its job
        s.job_started.connect(lambda kind: setattr(self, "_finished", ("", "")) if kind is JobKind.TRAIN else None)
        self.train_view.run_finished.connect(lambda run_dir, status: setattr(self, "_finished", (run_dir, status)))
        s.job_finished.connect(lambda kind, _s: self._on_run_finished(*self._finished) if kind is JobKind.TRAIN else None)
        self.recipe_view.notice.connect(lambda text: self.flash(text, 8000))
        self.lr_view.lr_picked.connect(lambda lr: self.flash(f"train.lr set to {lr:.3g}", 4000))
        self.show_page("data")
        self.refresh_runs()
        self._restore()
        self._update_state()
        self.detect_device()

    # ----------------------------------------------------------------- pages
    def add_page(self, key: str, title: str, icon_name: str, widget: QWidget, tip: str = "") -> None:
        self.pages.append(Page(key, title, icon_name, widget, tip))
        widget.setProperty("page_title", f"{title.split('  ', 1)[-1]} page")  # the shortcuts list names it
        self.stack.addWidget(widget)
        item = QListWidgetItem(icon(icon_name), title)
        item.setToolTip(tip)
        self.steps.addItem(item)

    def _fit_steps(self) -> None:
        """The step list shows every step, whole names, without scrolling (also at 1024 x 700)."""
        rows = sum(self.steps.sizeHintForRow(i) for i in range(self.steps.count()))
        self.steps.setFixedHeight(rows + 2 * self.steps.frameWidth() + 8)
        self.steps.setMinimumWidth(self.steps.sizeHintForColumn(0) + 2 * self.steps.frameWidth() + 16)

    def _undo_page(self) -> None:
        """Ctrl+Z with the step list focused (after clicking a step): the shown page's own undo."""
        page = self.page(self.current_page())
        if page is self.data_view and self.data_view.tabs.currentWidget() is self.data_view.audit:
            page = self.data_view.audit.changes
        for name in ("undo_change", "undo", "undo_send"):
            if callable(getattr(page, name, None)):
                getattr(page, name)()
                return

    def page(self, key: str) -> QWidget:
        return self.pages[self._index(key)].widget

    def show_page(self, key: str) -> None:
        self.steps.setCurrentRow(self._index(key))

    def current_page(self) -> str:
        return self.pages[self.stack.currentIndex()].key

    def _index(self, key: str) -> int:
        for i, p in enumerate(self.pages):
            if p.key == key:
                return i
        raise KeyError(f"no page '{key}'")

    @Slot(int)
    def _on_step(self, row: int) -> None:
        if 0 <= row < len(self.pages):
            self.stack.setCurrentIndex(row)

    # ----------------------------------------------------------------- actions
    def _action(self, menu, text: str, slot, shortcuts=(), icon_name: str = "", tip: str = "") -> QAction:
        a = QAction(icon(icon_name) if icon_name else QIcon(), text, self)
        if shortcuts:
            a.setShortcuts([QKeySequence(s) for s in shortcuts])
        a.setToolTip(tip or text.replace("&", ""))     # the menu's mnemonic marks are not shown as text
        a.setStatusTip(tip or text.replace("&", ""))
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.act_open = self._action(f, "&Open dataset...", self.data_view.open_dialog, ["Ctrl+O"], "folder")
        self.act_open_run = self._action(f, "Open &run...", self.open_run_dialog, ["Ctrl+Shift+O"], "results")
        self.recent_menu = f.addMenu("Recent datasets")
        f.addSeparator()
        self.act_save = self._action(f, "&Save recipe...", self.recipe_view.save_dialog, ["Ctrl+S"], "save")
        self.act_load = self._action(f, "&Load recipe...", self.recipe_view.load_dialog, ["Ctrl+L"], "open")
        self.act_export = self._action(f, "&Export...", lambda: self.show_page("export"), ["Ctrl+E"], "export")
        f.addSeparator()
        self.act_quit = self._action(f, "&Quit", self.close, ["Ctrl+Q"])
        r = mb.addMenu("&Run")
        self.act_train = self._action(r, "Start &training", self._start_training, ["Ctrl+R", "F5"], "play")
        self.act_pause = self._action(r, "&Pause / continue", self.session.toggle_pause, ["Ctrl+P"], "pause")
        self.act_stop = self._action(r, "&Stop", lambda: self.session.stop(), ["Shift+F5", "Ctrl+."], "stop",
                                     "Stop the running job at the next batch")
        self.act_multi = self._action(r, "Train on all &GPUs (DDP)", self._start_multi_gpu, [], "play")
        r.addSeparator()
        self.act_lr = self._action(r, "&LR finder", self._start_lr_find, ["Ctrl+F"], "search")
        v = mb.addMenu("&View")
        for i, p in enumerate(self.pages):
            self._action(v, p.title.split("  ", 1)[-1], lambda _=False, k=p.key: self.show_page(k), [f"Ctrl+{i + 1}"],
                         p.icon)
        h = mb.addMenu("&Help")
        self.act_shortcuts = self._action(h, "&Keyboard shortcuts", lambda: self._help(ShortcutsDialog(self)), ["F1"])
        self.act_layouts = self._action(h, "&Folder layouts and loading an export",
                                        lambda: self._help(LayoutsDialog(self)))
        h.addSeparator()
        self._action(h, "&About", self._about)

    def _start_training(self) -> None:
        self.show_page("train")
        self.train_view.start()

    def _start_multi_gpu(self) -> None:
        self.show_page("train")
        if not self.session.start_multi_gpu_training(self.gpu_count):
            self.flash("Another job is running; wait for it or stop it.", 5000)

    def _start_lr_find(self) -> None:
        self.show_page("lr_find")
        self.lr_view.run()

    @Slot()
    def _update_state(self, *args) -> None:
        rs, ds = self.session.run_state, self.session.dataset
        busy = rs.busy
        have_data = bool(self.session.config.data.path)
        why = (f"The app is {rs.kind.job.label}; wait for it or stop it (Shift+F5)." if busy and rs.kind is not None
               else "A job is running." if busy else "Open a dataset first.")
        self.act_train.setEnabled(not busy and have_data)
        self.act_train.setToolTip("Start training (Ctrl+R)" if self.act_train.isEnabled() else why)
        gpus = self.gpu_count
        self.act_multi.setEnabled(not busy and have_data and gpus > 1)
        self.act_multi.setToolTip(f"Train the recipe on {gpus} GPUs with torchrun (DistributedDataParallel)"
                                  if gpus > 1 else "Needs more than one GPU on this machine.")
        self.act_lr.setEnabled(not busy and have_data)
        self.act_lr.setToolTip("Run the LR finder (Ctrl+F)" if self.act_lr.isEnabled() else why)
        self.act_pause.setEnabled(rs.can_pause)
        self.act_stop.setEnabled(busy)
        self.act_open.setEnabled(not busy)
        where = f" - {Path(ds.root).name} ({len(ds.items):,} images, {len(ds.classes)} classes)" if ds else ""
        self.state_label.setText(self._flash or rs.text() + where)

    def flash(self, text: str, ms: int = 5000) -> None:
        """Show a note in the status line for ``ms`` (in place of the state, never drawn over it as a
        status-bar message on a not yet shown window would be); "" brings the state back."""
        self._flash = text
        if text:
            self._flash_timer.start(ms)
        self._update_state()

    # ----------------------------------------------------------------- device
    def detect_device(self) -> None:
        cfg = self.session.config

        def work():
            from ..runtime.device import describe, pick_device, pick_precision
            from ..train.torchrun_job import gpu_count
            # the results pages need the model code later; importing it (torchvision's native
            # libraries) holds the interpreter lock for 0.1-0.2 s, so it happens here, at start-up
            from ..models import build  # noqa: F401
            dev = pick_device(cfg.train.device)
            return describe(dev), pick_precision(dev, cfg.train.precision), gpu_count()
        submit(work, self._show_device)

    def _show_device(self, result) -> None:
        if isinstance(result, Exception):
            self.device_label.setText(f"device: unknown ({result})")
            return
        desc, prec, self.gpu_count = result
        self.device_label.setText(f"device: {desc}")
        self.precision_label.setText(f"precision: {prec}")
        self._update_state()

    # ----------------------------------------------------------------- runs / data
    def refresh_runs(self) -> None:
        """List the runs folder again (off the GUI thread; the list fills when it arrives)."""
        self.session.refresh_runs()

    def open_run_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open run folder", self.session.config.runs_dir)
        if folder:
            self.session.open_run(folder)

    @Slot(str)
    def _on_run_opened(self, run_dir: str) -> None:
        self.show_page("results")

    @Slot(str, str)
    def _on_run_finished(self, run_dir: str, status: str) -> None:
        self.refresh_runs()
        if status in ("completed", "early_stopped") and run_dir:   # the results page opens the run itself
            if self.current_page() != "train":   # the user went to another page meanwhile: it stays
                return self.flash(f"Run {Path(run_dir).name} finished: its results are on the Results page (Ctrl+5).", 10000)
            self.show_page("results")

    def _on_dataset(self, ds) -> None:
        if ds is not None:  # only folders that opened go to the recent list
            self.add_recent(ds.root)
        self._update_state()

    def add_recent(self, folder: str) -> None:
        add_recent(settings(), folder)
        self._fill_recent()

    def recent_folders(self) -> list[str]:
        """Recent dataset folders, newest first: one entry per folder, only folders that still exist."""
        return recent_folders(settings())

    def _fill_recent(self) -> None:
        folders = self.recent_folders()
        self.data_view.set_recent(folders)
        self.recent_menu.clear()
        for f in folders:
            self.recent_menu.addAction(f, lambda f=f: self.data_view.open_folder(f))
        self.recent_menu.setEnabled(bool(folders))

    # ----------------------------------------------------------------- errors, settings, closing
    @Slot(object)
    def show_error(self, ev: JobFailed) -> None:
        if ev.job is JobKind.SCAN and isinstance(ev.error, DatasetError):
            return  # a folder that cannot be used: the Data page says why, in one sentence
        if ev.bad_input:  # the input cannot be used: its one sentence, no traceback
            box = QMessageBox(QMessageBox.Icon.Warning, "Cannot use this input", ev.message,
                              QMessageBox.StandardButton.Ok, self)
        else:
            box = QMessageBox(QMessageBox.Icon.Critical, "Job failed", f"The {ev.job} job failed:\n\n{ev.message}",
                              QMessageBox.StandardButton.Ok, self)
            box.setDetailedText(ev.traceback or ev.message)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_box = box
        box.open()

    def _help(self, dialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.help_dialog = dialog
        dialog.show()

    def _about(self) -> None:
        QMessageBox.about(self, "About Workbench", f"Workbench {__version__}\nTrain image classifiers from a folder.")

    def _restore(self) -> None:
        st = settings()
        geo = st.value("geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 800)
        state = st.value("state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for sp in (self.splitter, self.recipe_view.splitter, self.train_view.splitter):
            v = st.value(f"splitters/{sp.objectName()}")
            if isinstance(v, QByteArray):
                sp.restoreState(v)
        self.lr_view.auto_apply.setChecked(st.value("lr_find/auto_apply", False, type=bool))
        self._fill_recent()

    def save_settings(self) -> None:
        st = settings()
        st.setValue("geometry", self.saveGeometry())
        st.setValue("state", self.saveState())
        for sp in (self.splitter, self.recipe_view.splitter, self.train_view.splitter):
            st.setValue(f"splitters/{sp.objectName()}", sp.saveState())
        st.setValue("lr_find/auto_apply", self.lr_view.auto_apply.isChecked())
        st.sync()

    def _ask_close(self) -> bool:
        answer = QMessageBox.question(self, "A job is running", self.train_view.close_question())
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:
        if self.session.busy and not self.confirm_close():   # the running job first
            return event.ignore()
        held = self.session.pause()   # nothing trains while the recipe question is open; Cancel goes on
        if not self.confirm_recipe():
            return event.ignore(), held and self.session.resume_job()
        self.hide()  # gone at once: a side task still running (an audit estimate) only delays the exit
        self.session.stop_all()
        wait_side_tasks()
        self.save_settings()
        event.accept()
