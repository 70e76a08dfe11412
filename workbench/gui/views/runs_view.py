"""Runs page: the run list of the runs folder, curve overlay and config comparison, safe delete.
Listing and deleting happen in the session (off the GUI thread, ``workbench.run.runs``)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QMessageBox,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from ..run_edit import rename_action
from ..session_helpers import best_runs, run_accuracy, run_epochs
from ..widgets.common import fit_columns, icon, pane, splitter
from .results_view import CURVE_COLOURS, NumItem, draw_history, make_plot
from .run_compare import (VALID_ROW, config_differences, created_words, dataset_labels, epochs_shown, from_difference,
                          two_lines, valid_set)

COLUMNS = ("Name", "Date", "Arch", "Size", "Epochs", "Accuracy", "Valid", "Status", "Dataset", "Note")
CHART_MIN_WIDTH = 340   # px of a comparison chart: its whole title, legend rows and every epoch's axis
BEST_ROLE = Qt.ItemDataRole.UserRole + 1   # on the Name cell: the most accurate run of its dataset
NOTE, NAME_CAP = COLUMNS.index("Note"), 360   # a name is whole up to NAME_CAP px


class RunsView(QWidget):
    """Table of runs; selecting two or more overlays their curves and lists config differences."""
    openRequested = Signal(str)      # run folder (double-click / "Open results")
    runDeleted = Signal(str)

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.infos: list = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        # every column fitted to its contents when the runs arrive (set_runs), the name whole up to a cap;
        # the note takes what is left and is cut (whole in its tooltip)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setSectionResizeMode(NOTE, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)   # one line a run: a long note is cut, never a second line
        self.table.setIconSize(QSize(16, 16))   # the best run's star (its room is added to the name's)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(lambda r, c: self._open_row(r))
        self.refresh_btn = QPushButton("Refresh")
        self.refresh_btn.clicked.connect(self.refresh)
        self.open_btn = QPushButton("Open results")
        self.open_btn.clicked.connect(lambda: self._open_row(self.table.currentRow()))
        self.delete_btn = QPushButton("Delete run…")
        self.delete_btn.setToolTip("Delete the selected run folder (asks first; only that folder is removed)")
        self.delete_btn.clicked.connect(self.delete_selected)
        self.rename_act = rename_action(self.table, session, self._selected_dir)
        self.rename_btn = QPushButton("Rename / note…")
        self.rename_btn.setToolTip(self.rename_act.toolTip())
        self.rename_btn.clicked.connect(self.rename_act.trigger)
        self.hint = QLabel("Select two or more runs (Ctrl/Shift-click) to compare them. ★ marks each dataset's best "
                           "run: the most accurate on the images its newest run is validated on (tooltip).")
        self.hint.setWordWrap(True)
        self.hint.setWordWrap(True)   # wraps instead of widening the window (a 1024 px screen)
        self.loss_plot = make_plot("Validation / training loss", "loss")
        self.acc_plot = make_plot("Accuracy", "accuracy", legend_bottom=True)
        self.diff = QTableWidget(0, 1)
        self.diff.verticalHeader().setVisible(False)
        self.diff.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # the runs' columns share the table's width (a long value is cut in the middle, whole in its
        # tooltip): every selected run is on screen, none needs a sideways scroll
        self.diff.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.diff.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.diff.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.diff.setWordWrap(False)
        bar = QHBoxLayout()
        title = QLabel("Runs")
        title.setObjectName("pageTitle")
        bar.addWidget(title)
        bar.addSpacing(12)
        bar.addWidget(self.hint, 1)
        for b in (self.refresh_btn, self.open_btn, self.rename_btn, self.delete_btn):
            bar.addWidget(b)
        for p in (self.loss_plot, self.acc_plot):   # never squeezed below its title and axis
            p.setMinimumWidth(max(CHART_MIN_WIDTH, p.fontMetrics().horizontalAdvance(
                p.getPlotItem().titleLabel.text) * 3 // 2 + 80))
        plots = pane(self.loss_plot, self.acc_plot, horizontal=True)
        self.diff_title = QLabel("<b>Config differences</b>")
        self.diff_title.setWordWrap(True)
        diffbox = pane(self.diff_title, self.diff)
        # the charts side by side, the differences under them at the page's whole width
        lower = splitter(Qt.Orientation.Vertical, plots, diffbox, stretch=(3, 2), sizes=[340, 200])
        top = pane(bar, self.table)
        # the run list gets the larger share at first (about ten rows), the comparison the rest
        split = splitter(Qt.Orientation.Vertical, top, lower, stretch=(1, 1), sizes=[330, 470])
        lay = QVBoxLayout(self)
        lay.addWidget(split)
        session.runs_listed.connect(self.set_runs)
        session.run_deleted.connect(self._on_deleted)
        self._renamed: dict[str, str] = {}   # old folder -> new, until the next run list (set_runs)
        session.run_edited.connect(lambda old, new, err: self._renamed.update({old: new} if not err else {}))
        self._selection_changed()

    # ------------------------------------------------------------------ content
    def refresh(self) -> None:
        """Ask the session for the run list (``set_runs`` shows it when it arrives)."""
        self.session.refresh_runs()

    def set_runs(self, infos: list) -> None:
        """Show the run list; the runs that were selected stay selected (a refresh keeps a comparison)."""
        renamed, self._renamed = self._renamed, {}   # a renamed run stays selected under its new folder
        keep = [renamed.get(str(i.run_dir), str(i.run_dir)) for i in self.selected_infos()] if self.infos else []
        self.infos = list(infos)
        t = self.table
        t.setSortingEnabled(False)
        t.clearSelection()
        t.setRowCount(len(self.infos))
        best = {str(p) for p in best_runs(self.infos).values()}
        datasets = dataset_labels([str(i.config.data.path or "") for i in self.infos])
        for r, info in enumerate(self.infos):
            cfg = info.config
            name = QTableWidgetItem(info.name)
            name.setData(Qt.ItemDataRole.UserRole, r)
            note = getattr(info, "note", "")
            name.setToolTip(str(info.run_dir) + (f"\n\n{note}" if note else ""))
            t.setItem(r, 0, name)
            created = getattr(info, "created", 0)  # sorted by the time itself, not its minute text
            t.setItem(r, 1, NumItem(created if isinstance(created, (int, float)) else 0, created_words(info)))
            t.setItem(r, 2, QTableWidgetItem(cfg.model.arch))
            t.setItem(r, 3, NumItem(cfg.data.image_size, f"{cfg.data.image_size} px"))
            live = self.session.live_info(info)   # the run training now: its epochs as its events said
            done, planned = run_epochs(live)
            t.setItem(r, 4, NumItem(done, f"{done}/{planned}"))
            acc = run_accuracy(live)
            t.setItem(r, 5, NumItem(acc if acc is not None else -1, f"{acc:.1%}" if acc is not None else "–"))
            n_valid = (getattr(info, "metrics", None) or {}).get("n_valid")   # what the accuracy is measured on
            valid = NumItem(n_valid if isinstance(n_valid, int) else -1, str(n_valid) if isinstance(n_valid, int) else "–")
            changed = (getattr(info, "metrics", None) or {}).get("valid_changed_at_epoch")
            valid.setToolTip(f"validated on {valid_set(info)}" + (
                f"; the set changed at epoch {changed + 1} (resumed after relabels or quarantines): its earlier "
                "epochs were measured on another set, so it is never the best run" if isinstance(changed, int) else ""))
            if isinstance(changed, int):
                valid.setText(f"{n_valid} (changed)")
            t.setItem(r, 6, valid)
            t.setItem(r, 7, QTableWidgetItem(self.session.run_status(info)))
            data = QTableWidgetItem(datasets.get(str(cfg.data.path or ""), ""))
            data.setToolTip(str(cfg.data.path or ""))
            t.setItem(r, 8, data)
            note_item = QTableWidgetItem(note.splitlines()[0] if note else "")
            note_item.setToolTip(note)
            t.setItem(r, 9, note_item)
            if str(info.run_dir) in best:
                self._mark_best(name, t.item(r, 5), info)
        t.setSortingEnabled(True)
        t.horizontalHeader().setSortIndicator(1, Qt.SortOrder.DescendingOrder)  # newest first, and the arrow says so
        fit_columns(t, caps={0: NAME_CAP - t.iconSize().width()})
        t.setColumnWidth(0, t.columnWidth(0) + t.iconSize().width() + 14)   # the best run's star beside it
        if keep:
            self.select_names([i.name for i in self.infos if str(i.run_dir) in keep])
        self._show_current()
        self._selection_changed()

    def _show_current(self) -> None:
        """The selected run in sight, else the newest one (whichever column the list is sorted by)."""
        rows = [ix.row() for ix in self.table.selectionModel().selectedRows()]
        if not rows and self.infos:
            newest = max(range(len(self.infos)), key=lambda i: getattr(self.infos[i], "created", 0) or 0)
            rows = [r for r in range(self.table.rowCount())
                    if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == newest]
        if rows:
            self.table.scrollToItem(self.table.item(min(rows), 0))

    @staticmethod
    def _mark_best(name: QTableWidgetItem, acc: QTableWidgetItem, info) -> None:
        """A star on the name and the accuracy in bold: the most accurate run of its dataset."""
        tip = (f"Best run: the most accurate of the runs of {info.config.data.path or 'its dataset'} validated on "
               f"the same images as its newest run ({valid_set(info)}); runs validated on other images are "
               "not compared")
        name.setIcon(icon("star"))
        name.setData(BEST_ROLE, True)
        name.setToolTip(f"{tip}\n{name.toolTip()}")
        f = acc.font()
        f.setBold(True)
        acc.setFont(f)
        acc.setToolTip(tip)

    def best_names(self) -> list[str]:
        """Names of the runs marked best (the most accurate run of each dataset)."""
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount())
                if self.table.item(r, 0).data(BEST_ROLE)]

    def _selected_dir(self) -> str:
        sel = self.selected_infos()
        return str(sel[0].run_dir) if len(sel) == 1 else ""

    def selected_infos(self) -> list:
        rows = sorted({ix.row() for ix in self.table.selectionModel().selectedRows()})
        return [self.infos[self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)] for r in rows]

    def select_names(self, names: list[str]) -> None:
        sm = self.table.selectionModel()
        sm.clearSelection()
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() in names:
                sm.select(self.table.model().index(r, 0), QItemSelectionModel.SelectionFlag.Select
                          | QItemSelectionModel.SelectionFlag.Rows)

    # ------------------------------------------------------------------ compare
    def _selection_changed(self) -> None:
        sel = self.selected_infos()
        self.open_btn.setEnabled(len(sel) == 1)
        self.delete_btn.setEnabled(len(sel) == 1)
        self.rename_btn.setEnabled(len(sel) == 1)
        draw_history(self.loss_plot, self.acc_plot, [(i.name, i.history or []) for i in sel])
        self._fill_diff(sel)

    def _fill_diff(self, sel: list) -> None:
        d = self.diff
        if len(sel) < 2:
            d.setRowCount(0)
            d.setColumnCount(1)
            d.setHorizontalHeaderLabels(["Select two or more runs"])
            self.diff_title.setText("<b>Config differences</b>")
            return
        rows = [(k, v) for k, v in config_differences([i.config for i in sel], [epochs_shown(i) for i in sel])
                if k != "name"]
        title = f"<b>Config differences</b> ({len(rows)} option{'s' if len(rows) != 1 else ''})"
        sets = [valid_set(i) for i in sel]
        if len(set(sets)) > 1:
            rows.append((VALID_ROW, sets))
            title += (" &nbsp; <span style='color:#b42318'>&#9888; validated on different images: the "
                      "accuracies are not directly comparable</span>")
        if not rows:
            title = (f"<b>Config differences</b>: none. These {len(sel)} runs used the same recipe on the same "
                     "validation images")
        self.diff_title.setText(title)
        d.setColumnCount(1 + len(sel))
        d.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        d.setHorizontalHeaderLabels(["Option"] + [two_lines(i.name) for i in sel])
        for c, info in enumerate(sel, start=1):
            d.horizontalHeaderItem(c).setData(Qt.ItemDataRole.UserRole, info.name)
            d.horizontalHeaderItem(c).setToolTip(f"{info.name}\n{info.run_dir}")
        d.setRowCount(len(rows))
        for r, (key, vals) in enumerate(rows):
            d.setItem(r, 0, QTableWidgetItem(key))
            texts = from_difference([str(v) for v in vals])
            for c, (v, text) in enumerate(zip(vals, texts), start=1):
                it = QTableWidgetItem(text)
                it.setToolTip("\n".join(map(str, v)) if isinstance(v, tuple) else str(v))   # the whole value
                it.setBackground(QBrush(QColor(255, 240, 200)))
                it.setForeground(QBrush(QColor(CURVE_COLOURS[(c - 1) % len(CURVE_COLOURS)])))
                d.setItem(r, c, it)

    def diff_rows(self) -> dict[str, dict[str, str]]:
        """{option: {run name: value}} as shown in the differences table."""
        d = self.diff
        names = [d.horizontalHeaderItem(c).data(Qt.ItemDataRole.UserRole) for c in range(1, d.columnCount())]
        return {d.item(r, 0).text(): {n: d.item(r, c).text() for c, n in enumerate(names, start=1)}
                for r in range(d.rowCount())}

    # ------------------------------------------------------------------ actions
    def _open_row(self, row: int) -> None:
        if 0 <= row < self.table.rowCount():
            self.openRequested.emit(str(self.infos[self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)].run_dir))

    def delete_selected(self) -> bool:
        """Ask, then have the session delete only the selected run folder (off the GUI thread; the
        core refuses a folder that does not look like a run folder)."""
        sel = self.selected_infos()
        if len(sel) != 1:
            return False
        run_dir = Path(sel[0].run_dir)
        answer = QMessageBox.question(self, "Delete run", f"Delete the run folder\n{run_dir}\nand everything in it "
                                      "(checkpoints, logs, exports)? This cannot be undone.",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.session.delete_run(run_dir)
        return True

    def _on_deleted(self, run_dir: str, error: str) -> None:
        if error:
            QMessageBox.warning(self, "Delete run", error)
            return
        self.set_runs([i for i in self.infos if str(i.run_dir) != run_dir])
        self.runDeleted.emit(run_dir)
