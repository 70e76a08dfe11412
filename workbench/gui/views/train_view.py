"""Training page: Start / Pause-Resume / Stop / Resume run, live plots, progress with ETA, log."""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton,
                               QSizePolicy, QVBoxLayout, QWidget)

from ...runtime.events import (BatchEnd, CheckpointSaved, EpochEnd, Event, FitFinished,
                       FitStarted, LogMessage, Paused, Replanned, Resumed, fmt_time)
from ..jobs import JobFailed, JobKind
from ..run_state import Phase, close_question
from ..session_helpers import finish_words
from ..widgets.common import page_header, set_icon, splitter
from .plots import TRAIN_COLOUR, VALID_COLOUR, LivePlot, append_epoch, append_history
from .result_texts import SMOOTHED, end_state
from .resume_dialog import ResumeDialog, confirm_data_changes


class TrainView(QWidget):
    """Observes the session's training jobs; its buttons follow the session's RunState. Never holds
    the model or the trainer."""

    run_finished = Signal(str, str)   # run_dir, status

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.run_dir = ""
        self.steps_per_epoch = 1
        self.epochs, self.start_epoch = 1, 0

        self.start_btn = QPushButton("Start training")
        self.pause_btn = QPushButton("Pause")
        self.stop_btn = QPushButton("Stop")
        self.resume_btn = QPushButton("Resume a run...")
        self.resume_btn.setToolTip("Continue a stopped, failed or cut-off run from its last checkpoint")
        for b, icon in ((self.start_btn, "play"), (self.pause_btn, "pause"), (self.stop_btn, "stop"),
                        (self.resume_btn, "folder")):
            set_icon(b, icon)
        self.start_btn.setObjectName("primary")
        for b, slot in ((self.start_btn, self.start), (self.pause_btn, self.toggle_pause), (self.stop_btn, self.stop),
                        (self.resume_btn, self._pick_resume)):
            b.clicked.connect(slot)

        # live plots skip antialiasing and the grid (each halves their paint time), keep the x axis fixed to
        # the run's epochs and the y axis steady (a redraw repaints only the curves), and are refreshed by one
        # timer doing at most one piece of work per tick: the loss plot and the progress labels twice a
        # second, the others once; a piece costs well under a millisecond (bench/ui_latency.py)
        live = dict(fps=0, antialias=False, grid=False, steady_y=True)
        self.loss_plot = LivePlot("Loss", "epoch", "", **live)
        self.loss_plot.add_curve("train (smoothed)", TRAIN_COLOUR, width=1.5)
        self.loss_plot.add_curve("valid", VALID_COLOUR, symbol="o")
        self.metric_plot = LivePlot("Metrics per epoch", "epoch", "", legend_bottom=True, **live)
        self.lr_plot = LivePlot("Learning rate", "epoch", "", **live)
        self.lr_plot.add_curve("lr", "#10b981")
        self._latest: BatchEnd | None = None
        loss, labels = self.loss_plot.redraw, self._show_batch
        self._pieces = (loss, None, labels, None, self.lr_plot.redraw,
                        loss, None, labels, None, self.metric_plot.redraw)  # one second at 10 ticks
        self._piece = 0
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(100)
        self.refresh_timer.timeout.connect(self._refresh_step)

        self.progress = QProgressBar(minimum=0, maximum=1000, textVisible=True)
        self.epoch_label = QLabel("No training running")
        self.epoch_label.setWordWrap(True)   # a long line wraps instead of widening its column
        self.epoch_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.speed_label = QLabel("")
        self.saved_epochs = self.epochs_done = 0  # epochs with a checkpoint on disk / validated
        self.smoothing = 0.0   # label smoothing of the running job: its validation loss is the smoothed one
        self.log = QPlainTextEdit(readOnly=True, maximumBlockCount=5000, placeholderText="Training log")

        buttons = QHBoxLayout()
        buttons.addWidget(page_header("Train", "Live loss, metrics and schedule of the current run."), 1)
        for b in (self.start_btn, self.pause_btn, self.stop_btn, self.resume_btn):
            buttons.addWidget(b)

        top = QWidget()
        plots = QGridLayout(top)
        plots.addWidget(self.loss_plot, 0, 0)
        plots.addWidget(self.metric_plot, 0, 1)
        plots.addWidget(self.lr_plot, 1, 0)
        box = QWidget()
        info = QVBoxLayout(box)
        for w in (self.epoch_label, self.speed_label, self.progress):
            info.addWidget(w)
        info.addStretch(1)
        plots.addWidget(box, 1, 1)
        plots.setRowStretch(0, 3)
        plots.setRowStretch(1, 2)
        plots.setColumnStretch(0, 1)   # two columns of one width, whatever the progress line says
        plots.setColumnStretch(1, 1)
        self.splitter = splitter(Qt.Orientation.Vertical, top, self.log, stretch=(4, 1), name="train_splitter")

        lay = QVBoxLayout(self)
        lay.addLayout(buttons)
        lay.addWidget(self.splitter, 1)

        session.job_started.connect(self._on_job_started)
        session.job_event.connect(self._on_event)
        session.job_failed.connect(lambda ev: self.handle(ev) if ev.job is JobKind.TRAIN else None)
        session.job_finished.connect(self._on_job_finished)
        session.run_state.changed.connect(self._update_buttons)
        self._update_buttons()

    @property
    def state(self) -> str:
        """The training job's phase: idle | running | paused | stopping (from the session's RunState)."""
        rs = self.session.run_state
        return rs.phase.value if rs.kind is JobKind.TRAIN else "idle"

    # ----------------------------------------------------------------- actions
    @Slot()
    def start(self) -> None:
        problems = self.session.problems()
        if problems:
            self._log("Cannot start: " + "; ".join(problems), "error")
            return
        if not self.session.start_training():
            self._log("Another job is running; wait for it or stop it.", "warning")

    def close_question(self) -> str:
        """The question before quitting while a job runs: what of the run is kept (last.pt counts too)."""
        return close_question(self.session.run_state, self.saved_epochs, self.session.has_checkpoint(self.run_dir))

    def resume(self, run_dir: str) -> None:
        if not confirm_data_changes(self, self.session, run_dir):   # its data changed since: said, asked
            return
        if not self.session.resume_run(run_dir):
            self._log("Another job is running; wait for it or stop it.", "warning")

    @Slot()
    def toggle_pause(self) -> None:
        if self.session.run_state.running(JobKind.TRAIN):
            self.session.toggle_pause()

    @Slot()
    def stop(self) -> None:
        self.session.stop(JobKind.TRAIN)

    def _pick_resume(self) -> None:
        """The runs that can continue, with their status; a folder picker stays one click away."""
        dlg = ResumeDialog(self.session, self)
        if dlg.exec() and dlg.chosen:
            self.resume(dlg.chosen)

    # ----------------------------------------------------------------- events
    @Slot(object)
    def _on_job_started(self, kind: JobKind) -> None:
        if kind is JobKind.TRAIN:
            self.reset_plots()
            self.log.clear()  # one run's log at a time (the run folder keeps each in log.txt)
            self.saved_epochs = 0
            if not self.refresh_timer.isActive():
                self.refresh_timer.start()

    @Slot(object, str)
    def _on_job_finished(self, kind: JobKind, status: str) -> None:
        if kind is JobKind.TRAIN:
            self.refresh_timer.stop()
            self.flush()

    @Slot(object, object)
    def _on_event(self, kind: JobKind, ev: Event) -> None:
        if kind is JobKind.TRAIN:
            self.handle(ev)

    def handle(self, ev: Event) -> None:
        """Apply one training event (public so views are testable with made-up events)."""
        if isinstance(ev, FitStarted):
            self.saved_epochs = max(self.saved_epochs, ev.start_epoch)  # a resumed run has its checkpoints
        if isinstance(ev, BatchEnd):  # buffered here, shown by the refresh timer (see flush)
            x = ev.epoch + (ev.batch + 1) / max(1, ev.n_batches)
            self.loss_plot.append("train (smoothed)", x, ev.smooth_loss)
            self.lr_plot.append("lr", x, ev.lr)
            self._latest = ev
        elif isinstance(ev, EpochEnd):
            append_epoch(self.loss_plot, self.metric_plot, ev.epoch, ev.valid_loss, ev.metrics)
            self.epochs_done = ev.epoch + 1
            metrics = "  ".join(f"{k} {v:.4f}" for k, v in ev.metrics.items())
            kind = f" ({SMOOTHED})" if self.smoothing > 0 else ""   # the Results headline's words
            self._log(f"epoch {ev.epoch + 1}: train_loss {ev.train_loss:.4f}  valid_loss {ev.valid_loss:.4f}{kind}  "
                      f"{metrics}  {ev.seconds:.1f}s{'  (best)' if ev.is_best else ''}")
        elif isinstance(ev, FitStarted):
            self.run_dir, self.epochs, self.start_epoch = ev.run_dir, ev.epochs, ev.start_epoch
            self.steps_per_epoch = ev.steps_per_epoch
            self.smoothing, self.epochs_done = ev.label_smoothing, ev.start_epoch
            for p in (self.loss_plot, self.metric_plot, self.lr_plot):
                p.set_x_range(0, max(1, ev.epochs))
            self._log(f"run {ev.run_dir}: {ev.n_train} train / {ev.n_valid} valid images, "
                      f"{len(ev.classes)} classes, {ev.device} {ev.precision}, batch {ev.batch_size}")
            if ev.start_epoch:
                self._log(f"resuming at epoch {ev.start_epoch + 1} of {ev.epochs}")
                self._draw_history(ev.history or (), ev.batches or ())
                self.epoch_label.setText(f"Epoch {ev.start_epoch + 1}/{ev.epochs}   resuming...")
                self.set_progress(ev.start_epoch / max(1, ev.epochs))
        elif isinstance(ev, Replanned):  # a time-budget run changed its number of epochs
            self.epochs = ev.epochs
            for p in (self.loss_plot, self.metric_plot, self.lr_plot):
                p.set_x_range(0, max(1, ev.epochs))
        elif isinstance(ev, (Paused, Resumed)):   # a paused run has no ETA (the next batch brings it back)
            self.flush()                            # the last batch shown first, then "paused" over its ETA
            self._log("paused" if isinstance(ev, Paused) else "continued")
            self.speed_label.setText("paused" if isinstance(ev, Paused) else "")
        elif isinstance(ev, CheckpointSaved):
            self.saved_epochs = max(self.saved_epochs, ev.epoch + 1)
            self._log(f"checkpoint saved (epoch {ev.epoch + 1})", "dim")
        elif isinstance(ev, LogMessage):
            self._log(ev.text, ev.level)
        elif isinstance(ev, FitFinished):
            self.flush()   # the last batch drawn, then the final state replaces the batch counter and ETA
            self.run_dir = ev.run_dir or self.run_dir
            name = f" (run {html.escape(Path(self.run_dir).name)})" if self.run_dir else ""   # whose charts these are
            self.epoch_label.setText(end_state(ev.status, self.epochs_done, max(self.epochs, self.epochs_done)) + name)
            self.speed_label.setText("")
            level = "error" if ev.status == "failed" else "info"
            self._log(f"finished: {finish_words(ev.status, ev.message)}", level)
            if ev.status in ("completed", "early_stopped"):
                self.set_progress(1.0)
            else:   # the bar says what is kept (whole epochs), not how far the cut-off epoch got
                total = max(self.epochs, self.epochs_done)
                self.set_progress(self.epochs_done / max(1, total), f"{self.epochs_done} of {total} epochs")
            self.run_finished.emit(self.run_dir, ev.status)
        elif isinstance(ev, JobFailed):
            self._log(f"failed: {ev.message}", "error")
            if self.epoch_label.text() == "Starting...":   # it failed before training: not "Starting..." forever
                self.epoch_label.setText("Did not start: the run failed before its first epoch (the log says why)")
                self.progress.setFormat("")

    def _draw_history(self, rows, batches=()) -> None:
        """The epochs a resumed run did before, drawn as a fresh run draws them (plots.append_history)."""
        append_history(self.loss_plot, self.metric_plot, self.lr_plot, rows, batches)
        self.flush()

    def set_progress(self, frac: float, words: str = "") -> None:
        """The bar at ``frac`` of the run; ``words`` replace the percentage (an ended run's epochs kept)."""
        frac = min(1.0, max(0.0, frac))
        self.progress.setValue(int(1000 * frac))
        self.progress.setFormat(words or f"{100 * frac:.0f} %")

    def _show_batch(self) -> None:
        ev, self._latest = self._latest, None
        if ev is None:
            return
        # the whole run's share (a resumed run starts part way), never past 100 %
        epochs = max(self.epochs, ev.epoch + 1)
        self.set_progress((ev.epoch * ev.n_batches + ev.batch + 1) / max(1, epochs * ev.n_batches))
        self.epoch_label.setText(f"Epoch {ev.epoch + 1}/{epochs}   batch {ev.batch + 1}/{ev.n_batches}"
                                 f"   loss {ev.smooth_loss:.4f}")
        self.speed_label.setText(f"{ev.images_per_sec:,.0f} img/s   ETA {fmt_time(ev.eta_s)}")

    @Slot()
    def _refresh_step(self) -> None:
        piece, self._piece = self._pieces[self._piece % len(self._pieces)], self._piece + 1
        if piece is not None:
            piece()

    def flush(self) -> None:
        """Show everything received so far now (plots and progress), instead of at the next ticks."""
        for piece in dict.fromkeys(p for p in self._pieces if p is not None):
            piece()

    def reset_plots(self) -> None:
        self._latest = None
        for p in (self.loss_plot, self.metric_plot, self.lr_plot):   # the next run's metrics add their curves
            p.reset_view(drop_curves=p is self.metric_plot)
        self.progress.setValue(0)
        self.progress.setFormat("0 %")
        self.epoch_label.setText("Starting...")
        self.speed_label.setText("")

    # ----------------------------------------------------------------- state
    @Slot()
    def _update_buttons(self) -> None:
        rs = self.session.run_state
        mine = rs.kind is JobKind.TRAIN
        s = rs.phase if mine else Phase.IDLE
        self.start_btn.setEnabled(not rs.busy)
        self.resume_btn.setEnabled(not rs.busy)
        self.pause_btn.setEnabled(mine and rs.can_pause)
        self.pause_btn.setText("Continue" if s is Phase.PAUSED else "Pause")   # not "Resume": Resume a run...
        set_icon(self.pause_btn, "play" if s is Phase.PAUSED else "pause")
        self.stop_btn.setEnabled(mine and rs.can_stop)
        why = "Another job is running." if rs.busy and not mine else "A run is in progress."
        self.start_btn.setToolTip("Start a new run with the current recipe (Ctrl+R)" if self.start_btn.isEnabled() else why)
        self.pause_btn.setToolTip("Pause / continue at the next batch (Ctrl+P)" if self.pause_btn.isEnabled() else
                                  "A multi-GPU run cannot pause; stop it and resume later." if s is Phase.RUNNING
                                  else "No run in progress.")
        self.stop_btn.setToolTip("Stop at the next batch; the last checkpoint stays usable"
                                 if self.stop_btn.isEnabled() else "No run in progress.")

    def _log(self, text: str, level: str = "info") -> None:
        color = {"error": "#dc2626", "warning": "#d97706", "dim": "#6b7280"}.get(level)
        safe = html.escape(text)
        self.log.appendHtml(f'<span style="color:{color}">{safe}</span>' if color else safe)
