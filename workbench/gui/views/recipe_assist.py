"""Recipe page helpers: "Suggest a recipe" (each option it set shows its reason under its field) and
"Plan the run" (the time plan, shown before the start: epochs, sizes, images/s, predicted end).

Both run as session jobs (the plan in a job process, like training, so the probe measures the
speed training will see). The reasons live in the recipe (``RunConfig.reasons``): a
loaded recipe shows its reasons, and a reason goes once its option (or the run length it speaks
of) changes by any means (``Session.set_config`` keeps only the reasons that hold).
"""
from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from ...config import RunConfig
from ...runtime.events import Progress
from ..jobs import JobKind
from ..session_helpers import parse_reasons
from ..widgets.common import set_icon


def _form_row(form: QWidget, editor: QWidget) -> tuple[QFormLayout | None, int]:
    """The QFormLayout of the options form that holds ``editor``, and its row."""
    for layout in form.findChildren(QFormLayout):
        row, _ = layout.getWidgetPosition(editor)
        if row >= 0:
            return layout, row
    return None, -1


class RecipeAssistant(QWidget):
    suggested = Signal(object)   # Suggestion, after it was applied to the session's recipe
    planned = Signal(object)     # Plan

    def __init__(self, session, form, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.form = session, form
        self.reason_labels: dict[str, QLabel] = {}
        self.plan = None
        self._planned_cfg: RunConfig | None = None
        self._suggested_cfg: RunConfig | None = None   # the recipe as the last suggestion left it
        self._path = session.config.data.path   # the dataset the messages below are about
        self.suggest_btn = QPushButton("Suggest a recipe")
        self.suggest_btn.setToolTip("Choose image size, architecture, fine-tuning, augmentation, label smoothing, "
                                    "MixUp / CutMix, weight averaging and batch size for this dataset, the "
                                    "'Train for' minutes and this machine's measured speed; each choice says why")
        self.plan_btn = QPushButton("Plan the run")
        self.plan_btn.setToolTip("Measure this machine on this recipe (a few seconds) and show the plan: epochs, "
                                 "image sizes, images/s and the predicted end")
        set_icon(self.suggest_btn, "search")
        set_icon(self.plan_btn, "play")
        self.suggest_btn.clicked.connect(self.request_suggestion)
        self.plan_btn.clicked.connect(self.request_plan)
        self.status = QLabel()
        self.status.setObjectName("dim")
        self.status.setWordWrap(True)
        self.plan_label = QLabel()
        self.plan_label.setObjectName("plan")
        self.plan_label.setWordWrap(True)
        self.plan_label.setVisible(False)
        self._clock = QTimer(self, interval=20_000, timeout=self._plan_lines)   # "ending at HH:MM if started now"
        self._clock.start()
        self.busy = QProgressBar()       # Suggest / Plan measure this machine: seconds to minutes
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setVisible(False)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop measuring; the recipe stays as it is")
        set_icon(self.cancel_btn, "stop")
        self.cancel_btn.setVisible(False)
        self.cancel_btn.clicked.connect(self.cancel)
        row = QHBoxLayout()
        row.addWidget(self.suggest_btn)
        row.addWidget(self.plan_btn)
        row.addWidget(self.busy)
        row.addWidget(self.cancel_btn)
        row.addWidget(self.status, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.plan_label)
        session.suggested.connect(self._on_suggested)
        session.planned.connect(self.show_plan)
        session.job_finished.connect(self._on_job_finished)
        session.job_started.connect(self._on_job_started)
        session.job_event.connect(self._on_job_event)
        session.config_changed.connect(self._on_config)
        self._on_config(session.config)

    # ----------------------------------------------------------------- actions
    def request_suggestion(self) -> bool:
        ds = self.session.dataset
        if ds is None or not ds.train:
            self.status.setText("Open a dataset first: the suggestion starts from its images.")
            return False
        started = self.session.suggest_recipe()
        self.status.setText("suggesting a recipe for this dataset ..." if started else "another job is running")
        return started

    def request_plan(self) -> bool:
        cfg = self.session.config
        if not cfg.data.path:
            self.status.setText("Open a dataset first: the plan measures training on it.")
            return False
        started = self.session.plan()
        if started:
            self._planned_cfg = cfg
            self.status.setText("planning: scan, cache and a short probe of training ...")
        else:
            self.status.setText("another job is running")
        return started

    # ----------------------------------------------------------------- results
    @Slot(object)
    def _on_suggested(self, result) -> None:
        self.session.set_config(result.config)
        self._suggested_cfg = self.session.config
        length = (f"about {result.epochs_estimate} epochs" if result.config.train.budget_minutes > 0 else
                  f"{result.epochs_estimate} epochs as set (give Train for (minutes) to have them planned)")
        self._suggested_text = (f"suggested: {len(result.choices)} options set, {length}; the reason of each is "
                                "under its field")
        self.status.setText(self._suggested_text)
        self.suggested.emit(result)

    def cancel(self) -> None:
        for kind in (JobKind.SUGGEST, JobKind.PLAN):
            self.session.stop(kind)

    @Slot(object)
    def _on_job_started(self, kind: JobKind) -> None:
        if kind in (JobKind.SUGGEST, JobKind.PLAN):
            self.busy.setVisible(True)
            self.cancel_btn.setVisible(True)
            self.cancel_btn.setEnabled(True)

    @Slot(object, object)
    def _on_job_event(self, kind: JobKind, ev) -> None:
        if kind in (JobKind.SUGGEST, JobKind.PLAN) and isinstance(ev, Progress) and ev.message:
            self.status.setText(ev.message)

    @Slot(object, str)
    def _on_job_finished(self, kind: JobKind, status: str) -> None:
        if kind in (JobKind.SUGGEST, JobKind.PLAN):
            self.busy.setVisible(False)
            self.cancel_btn.setVisible(False)
            if status != "completed":
                self.status.setText(f"{kind}: {status}" + ("; the recipe is unchanged" if status == "cancelled" else ""))

    PLANNED = ("the run plans again when it starts, from this probe without its time to spend (so perhaps a "
               "little longer), and keeps to the time")

    def show_plan(self, plan) -> None:
        self.plan = plan
        self._plan_lines()
        self.plan_label.setVisible(True)
        self.status.setText(self.PLANNED)
        self.planned.emit(plan)

    def _plan_lines(self) -> None:
        """The plan's lines, its "if started now" end clock from now (kept so by a timer while shown)."""
        if self.plan is not None:
            self.plan_label.setText("\n".join(self.plan.lines(if_started=time.time())))

    # ----------------------------------------------------------------- reasons next to the fields
    @Slot(object)
    def _on_config(self, cfg: RunConfig) -> None:
        if cfg.data.path != self._path:   # another dataset: no word of the last one's suggestion or plan
            self._path = cfg.data.path
            self.forget_dataset()
        self.show_reasons(parse_reasons(cfg.reasons))
        if self.plan is not None and self._planned_cfg is not None and \
                cfg.set("reasons", ()) != self._planned_cfg.set("reasons", ()):
            self.status.setText("the recipe changed since this plan: plan again")
        elif self.plan is not None and self._planned_cfg is not None:   # back to the planned recipe (an undo)
            self.status.setText(self.PLANNED)
        elif self._suggested_cfg is not None and cfg.set("reasons", ()) != self._suggested_cfg.set("reasons", ()):
            self.status.setText("the recipe changed since the suggestion; the reasons that still hold are "
                                "under their fields")   # "suggested: ..., about N epochs" no longer describes it
        elif self._suggested_cfg is not None:   # the suggested recipe again (an undo, a Load of it)
            self.status.setText(self._suggested_text)

    def forget_dataset(self) -> None:
        """Clear what was said about the last dataset's recipe: the suggest / plan status and the plan."""
        self.plan, self._planned_cfg, self._suggested_cfg = None, None, None
        self.plan_label.clear()
        self.plan_label.setVisible(False)
        if not self.session.running(JobKind.SUGGEST) and not self.session.running(JobKind.PLAN):
            self.status.clear()

    def planned_epochs(self, cfg: RunConfig) -> float | None:
        """The epochs the last plan chose for ``cfg`` (None: no plan, or the recipe changed since)."""
        if self.plan is None or self._planned_cfg is None or \
                cfg.set("reasons", ()) != self._planned_cfg.set("reasons", ()):
            return None
        return float(self.plan.epochs)

    def show_reasons(self, reasons: dict[str, str]) -> None:
        for key in [k for k in self.reason_labels if reasons.get(k) != self.reason_labels[k].property("reason")]:
            label = self.reason_labels.pop(key)
            layout, _ = _form_row(self.form, label)
            if layout is not None:
                layout.removeRow(label)
        for key, reason in reasons.items():
            editor = self.form.editors.get(key)
            if editor is None or key in self.reason_labels:
                continue
            layout, row = _form_row(self.form, editor)
            if layout is None:
                continue
            label = QLabel(f"\u21b3 {reason}")
            label.setObjectName("reason")
            label.setProperty("reason", reason)
            label.setWordWrap(True)
            label.setToolTip(f"Why {key} was suggested: {reason}")
            layout.insertRow(row + 1, label)
            self.reason_labels[key] = label

