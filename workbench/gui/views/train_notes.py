"""Two lines over the Train page's charts that follow the open dataset: when another dataset opens,
the run shown (its charts, progress and log) was of the previous one and is cleared; while nothing
trains, the open dataset's latest run is drawn (its epochs, its final state); and the latest run of the
open dataset that can continue (stopped, failed, cut off by a closed app) is named with a Resume
button, also right after the app starts."""
from __future__ import annotations

import functools
import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from ..jobs import JobKind
from ..session_helpers import run_epochs, same_dataset
from ..session_jobs import request_log_tail, request_trace
from ..widgets.common import set_icon
from .resume_dialog import STATUS_TEXT, resumable
from .plots import append_history
from .result_texts import end_state


class TrainNotes(QWidget):
    """Attached to a TrainView (inserted under its buttons); never holds a run, only names one."""

    def __init__(self, session, view) -> None:
        super().__init__(view)
        self.session, self.view = session, view
        self.dataset = ""          # the dataset of the run the Train page shows ("" = none shown)
        self.resumable = ""        # the run the Resume button continues
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.resume_btn = QPushButton("Resume")
        set_icon(self.resume_btn, "play")
        self.resume_btn.clicked.connect(lambda: self.view.resume(self.resumable))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.resume_btn)
        self.setObjectName("resumeNote")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("QWidget#resumeNote { background: #eff6ff; border: 1px solid #bfdbfe; "
                           "border-radius: 6px; }")
        self.hide()
        view.layout().insertWidget(1, self)
        session.job_started.connect(self._on_started)
        session.dataset_changed.connect(self._on_dataset)
        session.runs_listed.connect(self.show_runs)
        session.run_state.changed.connect(lambda *_: self.resume_btn.setEnabled(not session.busy))

    def _on_started(self, kind) -> None:
        if kind is JobKind.TRAIN:
            self.dataset = self.session.config.data.path
            self.hide()
            if self.session.start_note:   # what the start chose (a free run name), first in the new log
                self.view.log.appendHtml(f'<span style="color:#d97706">{html.escape(self.session.start_note)}</span>')

    def _on_dataset(self, ds) -> None:
        if ds is None:
            return
        if self.dataset and not same_dataset(self.dataset, ds.root) and not self.session.run_state.running(JobKind.TRAIN):
            self.clear_run(Path(ds.root).name)
        self.dataset = self.dataset or ds.root
        self.session.refresh_runs()     # its runs that can continue arrive in show_runs

    def clear_run(self, name: str) -> None:
        """Nothing of the previous dataset's run stays: charts, progress, log."""
        v = self.view
        v.reset_plots()
        v.log.clear()
        v.run_dir = ""
        v.progress.setFormat("")
        v.epoch_label.setText(f"No training running on {name}")   # its runs, when it has any, are named next
        self.dataset = ""

    def show_past(self, info) -> None:
        """Draw a run that has ended (the open dataset's newest) as the page drew it live: its epochs on
        the charts, then its batch curve (smoothed loss, lr) once read from last.pt off the GUI thread;
        its final state on the progress line; a run cut off by a closed app says so."""
        v = self.view
        done, planned = run_epochs(info)
        v.log.clear()
        self._draw_past(info, planned, ())
        status = str(info.status)
        state = (f"Cut off after epoch {done} of {planned}" if status == "running" and done
                 else end_state(status, done, planned))
        v.epoch_label.setText(f"Last run <b>{html.escape(info.name)}</b>: {state[0].lower()}{state[1:]} "
                              "(not training now; more in Results and Runs)")
        v.set_progress(done / max(1, planned), f"{done} of {planned} epochs")
        v.run_dir = str(info.run_dir)
        self.dataset = self.session.config.data.path
        request_trace(v.run_dir, functools.partial(self._traced, info, planned))   # dropped if the page is gone
        request_log_tail(v.run_dir, functools.partial(self._logged, str(info.run_dir)))

    def _logged(self, run_dir: str, lines) -> None:
        """The shown run's own log (log.txt, its last lines, dim: they are of a past session)."""
        v = self.view
        if isinstance(lines, list) and lines and v.run_dir == run_dir and not self.session.run_state.running(JobKind.TRAIN):
            v.log.clear()
            head = f"log of {Path(run_dir).name} ({Path(run_dir) / 'log.txt'}, its last {len(lines)} lines):"
            v.log.appendHtml("<br>".join(f'<span style="color:#6b7280">{html.escape(t)}</span>' for t in [head, *lines]))

    def _traced(self, info, planned: int, trace) -> None:
        if isinstance(trace, list) and trace and self.view.run_dir == str(info.run_dir) \
                and not self.session.run_state.running(JobKind.TRAIN):
            self._draw_past(info, planned, trace)

    def _draw_past(self, info, planned: int, batches) -> None:
        v = self.view
        for p in (v.loss_plot, v.metric_plot, v.lr_plot):   # the next run's metrics add their curves
            p.reset_view(drop_curves=p is v.metric_plot)
            p.set_x_range(0, max(1, planned))
        append_history(v.loss_plot, v.metric_plot, v.lr_plot, info.history, batches)
        v.flush()

    def show_runs(self, infos: list) -> None:
        """Name the newest run of the open dataset that can continue, unless a training job runs."""
        open_now = self.session.config.data.path
        mine = [i for i in infos if open_now and same_dataset(str(i.config.data.path or ""), open_now)]
        if not self.view.run_dir and not self.session.run_state.running(JobKind.TRAIN) and open_now:
            if mine:
                self.show_past(mine[0])
            elif self.view.epoch_label.text().startswith("No training running"):
                self.view.epoch_label.setText(f"No run yet on {Path(open_now).name}: Start training (Ctrl+R) "
                                              "trains the recipe")
        runs = resumable(mine)
        if not runs or self.session.run_state.running(JobKind.TRAIN):
            self.resumable = ""
            self.hide()
            return
        info = runs[0]
        done, planned = run_epochs(info)
        self.resumable = str(info.run_dir)
        status = STATUS_TEXT.get(str(info.status), str(info.status))
        shown = Path(self.view.run_dir).name if self.view.run_dir else ""
        self.label.setText(f"Run <b>{html.escape(info.name)}</b> of this dataset can continue: {status} after epoch "
                           f"{done} of {planned}." + (f" ({len(runs) - 1} more in <i>Resume a run...</i>)"
                                                       if len(runs) > 1 else "")
                           + (f" The charts below are of run {html.escape(shown)}."
                              if shown and shown != Path(str(info.run_dir)).name else ""))
        self.label.setToolTip(str(info.run_dir))
        self.resume_btn.setToolTip(f"Continue {info.name} from its last checkpoint (epoch {done})")
        self.resume_btn.setEnabled(not self.session.busy)
        self.show()
