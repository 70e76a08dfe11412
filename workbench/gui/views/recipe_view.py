"""Recipe page: the options form (from config metadata), live augmentation preview, schedule preview,
inline validation, save / load as the CLI's TOML, and "Copy CLI command"."""
from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QApplication, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QVBoxLayout, QWidget)

from ...config import ConfigError, RunConfig
from ..session_helpers import preview_curve, whole_epochs
from ..widgets.common import ElidedLabel, guard_wheel, key_shortcut, page_header, set_icon, splitter
from .augment_preview import AugmentPreview
from .model_picker import ModelPicker
from .options_form import OptionsForm
from .recipe_assist import RecipeAssistant
from .recipe_files import RecipeFiles
from .recipe_undo import RecipeUndo
from .plots import LivePlot, fit_ranges


def steps_per_epoch(session) -> int:
    """Training batches per epoch for the schedule preview: the count training and the plan use."""
    return session.steps_per_epoch()


class RecipeView(RecipeFiles, RecipeUndo, QWidget):
    schedule_redrawn = Signal()
    notice = Signal(str)   # "saved ..." / "loaded ...": the window's status line shows it

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.form = OptionsForm(session.config)
        self.form.changed.connect(self._on_form_changed)
        self.form.rejected.connect(self._on_rejected)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        self.model_picker = ModelPicker(session)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        left_lay.addWidget(self.model_picker)
        left_lay.addWidget(self.form)
        scroll.setWidget(left)
        scroll.setMinimumWidth(340)

        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setTextFormat(Qt.TextFormat.RichText)  # the warning sign is an HTML entity
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.preview = AugmentPreview(session)
        self.schedule_plot = LivePlot("Planned schedule over the run", "epoch", "learning rate")
        self.schedule_plot.add_curve("lr", "#10b981")
        self.schedule_plot.setMinimumHeight(240)   # the plan above may take room, never the axis labels (10 pt)
        self.schedule_caption = QLabel()   # what the plot shows, whole (wrapped, never cut mid-sentence)
        self.schedule_caption.setObjectName("dim")
        self.schedule_caption.setWordWrap(True)
        self.mom_plot_note = ElidedLabel()  # one-line notes: copied command, saved, undone
        self.mom_plot_note.setObjectName("dim")
        self.schedule_plot.getPlotItem().showAxis("right")
        self.schedule_plot.getPlotItem().setLabel("right", "momentum", color="#a855f7")
        self._mom_vb = None
        self._mom_curve = None
        self._setup_momentum_axis()

        self.load_btn = QPushButton("Load...")
        self.save_btn = QPushButton("Save...")
        self.copy_btn = QPushButton("Copy CLI command")
        self.reset_btn = QPushButton("Defaults")
        self.undo_btn = QPushButton("Undo")
        self.redo_btn = QPushButton("Redo")
        self._init_undo(session)   # RecipeUndo: the history of the recipe, Undo and Redo
        for b, name, tip in ((self.load_btn, "open", "Load a recipe TOML (Ctrl+L)"),
                             (self.save_btn, "save", "Save the recipe as TOML for the CLI (Ctrl+S)"),
                             (self.copy_btn, "copy", "Copy the equivalent `workbench train` command"),
                             (self.reset_btn, "reset", "The recipe a new dataset gets: the defaults, or on photos "
                              "with weights on disk the first-run fine-tune (keeps the dataset; Undo brings it back)"),
                             (self.undo_btn, "undo", "Undo the last change of the recipe (Ctrl+Z): an edited value, Defaults, Load or "
                              "Suggest; Ctrl+Shift+Z or Ctrl+Y redoes it"),
                             (self.redo_btn, "redo", "Put back the change the last Undo took back (Ctrl+Shift+Z or Ctrl+Y)")):
            set_icon(b, name)
            b.setToolTip(tip)
        self.load_btn.clicked.connect(self.load_dialog)
        self.save_btn.clicked.connect(self.save_dialog)
        self.copy_btn.clicked.connect(self.copy_command)
        self.reset_btn.clicked.connect(self.reset_defaults)
        self.undo_btn.clicked.connect(self.undo)
        self.redo_btn.clicked.connect(self.redo)
        self.undo_btn.setEnabled(False)
        self.redo_btn.setEnabled(False)

        head = QHBoxLayout()
        head.addWidget(page_header("Recipe", "Every option shows what it does and its default in its tooltip."), 1)
        for b in (self.load_btn, self.save_btn, self.copy_btn, self.reset_btn, self.undo_btn, self.redo_btn):
            head.addWidget(b)
        right = QVBoxLayout()
        preview = QScrollArea()   # a short window (the plan shown above) scrolls the preview, not the chart
        preview.setWidgetResizable(True)
        preview.setFrameShape(QScrollArea.Shape.NoFrame)
        preview.setWidget(self.preview)
        preview.setMinimumHeight(120)
        right.addWidget(preview)
        right.addWidget(self.schedule_plot, 1)
        right.addWidget(self.schedule_caption)
        right.addWidget(self.mom_plot_note)
        right_w = QWidget()
        right_w.setLayout(right)
        self.splitter = splitter(Qt.Orientation.Horizontal, scroll, right_w, stretch=(1, 1), name="recipe_splitter")
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        self.assistant = RecipeAssistant(session, self.form)  # Suggest a recipe, Plan the run
        lay.addWidget(self.assistant)
        self.assistant.planned.connect(lambda _plan: self._sched_timer.start())  # draw the planned epochs
        session.suggested.connect(lambda _s: setattr(self, "_action", ""))   # after it: a suggestion that changed nothing
        lay.addWidget(self.problems_label)
        lay.addWidget(self.splitter, 1)

        self._sched_timer = QTimer(self)
        self._sched_timer.setSingleShot(True)
        self._sched_timer.setInterval(150)
        self._sched_timer.timeout.connect(self.redraw_schedule)
        session.config_changed.connect(self._on_config)
        session.recipe_checked.connect(self._on_checked)
        # a new dataset's starting recipe starts its history (Defaults' fine-tune is one undoable change)
        session.first_run_changed.connect(lambda line: line and not session.first_run_by_defaults and self._forget())
        session.dataset_changed.connect(lambda ds: (self._sched_timer.start(), self._on_config(session.config),
                                                    self._split_used(ds)))
        self._on_config(session.config)
        session.check_recipe()   # its problems and warnings arrive through recipe_checked
        guard_wheel(self)   # the wheel scrolls the form; it never edits a value there
        key_shortcut(self, [QKeySequence.StandardKey.Undo], "Undo the last change of the recipe (a text field "
                     "with focus undoes its typing)", self.undo, Qt.ShortcutContext.WidgetWithChildrenShortcut)
        key_shortcut(self, ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo the change of the recipe the last Undo took back",
                     self.redo, Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def keyPressEvent(self, ev) -> None:  # noqa: N802
        """Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y the shortcut map did not take (the window is not active) undo or
        redo the last recipe change."""
        ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
        redo = ev.matches(QKeySequence.StandardKey.Redo) or (ev.key(), ev.modifiers()) in (
            (Qt.Key.Key_Z, ctrl | shift), (Qt.Key.Key_Y, ctrl))
        if redo or ev.matches(QKeySequence.StandardKey.Undo):
            self.redo() if redo else self.undo()
            ev.accept()
            return
        super().keyPressEvent(ev)

    def _setup_momentum_axis(self) -> None:
        item = self.schedule_plot.getPlotItem()
        vb = pg.ViewBox()
        item.scene().addItem(vb)
        item.getAxis("right").linkToView(vb)
        for axis in ("left", "right", "bottom"):  # plain 0.001 and 0.95 instead of "x0.001" prefixes
            item.getAxis(axis).enableAutoSIPrefix(False)
        vb.setXLink(item)
        curve = pg.PlotCurveItem(pen=pg.mkPen("#a855f7", width=1.5, style=Qt.PenStyle.DashLine))
        vb.addItem(curve)
        item.vb.sigResized.connect(lambda: vb.setGeometry(item.vb.sceneBoundingRect()))
        self._mom_vb, self._mom_curve = vb, curve

    # ----------------------------------------------------------------- config <-> form
    @Slot(str, object)
    def _on_form_changed(self, key: str, value) -> None:
        try:
            self.session.set_option(key, value)
        except ConfigError as e:
            self.problems_label.setText(f"<b>{key}</b>: {e}")
            self.problems_label.setVisible(True)

    @Slot(str, str)
    def _on_rejected(self, key: str, message: str) -> None:
        """A typed value outside the range: say so at the top and mark the field (until the next change)."""
        self.problems_label.setText(f"&#9888; {html.escape(message)}")
        self.problems_label.setVisible(True)
        self.form.mark_problems([key])

    @Slot(object)
    def _on_config(self, cfg: RunConfig) -> None:
        self._remember(cfg)
        self.form.set_config(cfg)
        self._sched_timer.start()
        self._not_used("train.epochs", "the time budget (Train for) sets the number of epochs when the run starts; "
                       "Plan the run shows it" if cfg.train.budget_minutes > 0 else "")

    def _not_used(self, key: str, why: str) -> None:
        """A field the recipe ignores now is off, its tooltip saying why ("" turns it on again)."""
        ed = self.form.editors[key]
        if ed.property("own_tip") is None:
            ed.setProperty("own_tip", ed.property("base_tip") or ed.toolTip())
        own = str(ed.property("own_tip"))
        tip = f"Not used: {why}.\n\n{own}" if why else own
        ed.setEnabled(not why)
        ed.setProperty("base_tip", tip)   # kept when the recipe check marks the field (OptionsForm.mark_problems)
        ed.setToolTip(tip)

    @Slot(object)
    def _on_checked(self, check) -> None:
        """The session's check of the current recipe (made off the GUI thread after each change)."""
        problems = [p for p in check.problems if not p.startswith("data.path")]
        self.form.mark_problems(problems)
        lines = [f"&#9888; {html.escape(p)}" for p in problems + list(check.warnings)]
        self.problems_label.setText("<br>".join(lines))
        self.problems_label.setVisible(bool(lines))

    @Slot()
    def redraw_schedule(self) -> None:
        """Planned LR (and momentum) over the whole run, drawn densely from the core's preview_curve."""
        cfg = self.session.config
        spe = steps_per_epoch(self.session)
        epochs = self.assistant.planned_epochs(cfg)
        try:
            x, lrs, moms = preview_curve(cfg, spe, epochs)
        except Exception as e:  # an option combination the schedule cannot plan: say so
            self.schedule_caption.setText(f"Cannot plan this schedule: {e}")
            return
        buf = self.schedule_plot.buffers["lr"]
        buf.clear()
        for xi, yi in zip(x, lrs):
            buf.append(xi, yi)
        self.schedule_plot._dirty.add("lr")
        self.schedule_plot.redraw()
        self._mom_curve.setData(x, moms)
        fit_ranges(self.schedule_plot.getPlotItem(), self._mom_vb, x, lrs, moms)   # this recipe's, never the last
        length = (f"{whole_epochs(epochs)} epochs (the time plan)" if epochs is not None  # a partial last one counts
                  else f"{cfg.train.epochs} epochs")
        budget = (f" With the {cfg.train.budget_minutes:g}-minute time budget the run sets its number of epochs "
                  "itself when it starts; Plan the run shows that number here before you start."
                  if epochs is None and cfg.train.budget_minutes > 0 else "")
        frozen = cfg.tricks.freeze_epochs
        phases = (f" Fine-tune: {frozen} epoch{'s' if frozen != 1 else ''} with the backbone frozen (only the new "
                  f"head trains), then a second cycle for all layers at half the rate."
                  if cfg.train.fine_tune and frozen > 0 else "")
        self.schedule_caption.setText(f"{cfg.train.schedule}: peak lr {cfg.train.lr:g}, {length} x {spe} steps "
                                      "(batches per epoch, as training and the plan count them); "
                                      f"dashed: momentum (right axis).{phases}{budget}")
        self.schedule_redrawn.emit()

    def _split_used(self, ds) -> None:
        """The validation fraction does nothing for a dataset whose split comes from its folders or CSV: off."""
        where = {"folders": "train / valid folders", "csv": "CSV's split column"}.get(getattr(ds, "split_source", "random"))
        self._not_used("data.valid_pct", f"this dataset's split comes from its {where}" if where else "")

    def copy_command(self) -> str:
        cmd = self.session.cli_command()
        QApplication.clipboard().setText(cmd)
        self.mom_plot_note.setText("Copied: " + cmd)
        return cmd

    def reset_defaults(self) -> None:
        """The recipe a new dataset gets (on photos with weights on disk: the first-run fine-tune)."""
        self.session.restore_defaults(
            lambda cfg, line: self._replace(cfg, f"Defaults restored ({line})." if line else "Defaults restored.",
                                            "Defaults"))
