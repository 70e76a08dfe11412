"""RunState: the one model of "what is running" that every button, menu action and status-bar field
follows. The Session owns it and is the only writer; views read it and listen to ``changed``."""
from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QObject, Signal

from .jobs import JobKind


class Phase(Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"


class RunState(QObject):
    """Phase (idle / running / paused / stopping), the running job's kind, whether it can pause,
    its progress (0..1, or None when unknown) and a short message."""

    changed = Signal()               # phase, kind or pausable changed
    progress_changed = Signal()      # progress or message changed (often: keep handlers cheap)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.phase = Phase.IDLE
        self.kind: JobKind | None = None
        self.pausable = False
        self.progress: float | None = None
        self.message = ""

    # ------------------------------------------------------------------ reading
    @property
    def busy(self) -> bool:
        return self.phase is not Phase.IDLE

    def running(self, *kinds: JobKind) -> bool:
        """Whether a job of one of ``kinds`` is running (paused and stopping count)."""
        return self.busy and self.kind in kinds

    @property
    def can_pause(self) -> bool:
        return self.pausable and self.phase in (Phase.RUNNING, Phase.PAUSED)

    @property
    def can_stop(self) -> bool:
        return self.phase in (Phase.RUNNING, Phase.PAUSED)

    def text(self) -> str:
        """The status-bar text: "ready", or what runs (and whether it is paused)."""
        if not self.busy:
            return "ready"
        return self.kind.label + (" (paused)" if self.phase is Phase.PAUSED else "")

    # ------------------------------------------------------------------ writing (the Session only)
    def begin(self, kind: JobKind, pausable: bool) -> None:
        self.kind, self.pausable, self.progress, self.message = kind, pausable, None, ""
        self._set(Phase.RUNNING)

    def set_phase(self, phase: Phase) -> None:
        if self.busy and phase is not Phase.IDLE:
            self._set(phase)

    def end(self) -> None:
        self.kind, self.pausable, self.progress, self.message = None, False, None, ""
        self._set(Phase.IDLE)

    def set_progress(self, fraction: float | None, message: str = "") -> None:
        self.progress, self.message = fraction, message
        self.progress_changed.emit()

    def _set(self, phase: Phase) -> None:
        self.phase = phase
        self.changed.emit()


def close_question(rs: RunState, saved_epochs: int, has_checkpoint: bool) -> str:
    """The question before quitting while a job runs: what of a training run is kept (``saved_epochs``
    with a checkpoint on disk; ``has_checkpoint``: last.pt exists)."""
    if not rs.running(JobKind.TRAIN):
        return "A job is still running. Stop it and quit?"
    paused = rs.phase is Phase.PAUSED
    state = "A training run is paused" if paused else "Training is still running"
    if saved_epochs or has_checkpoint:
        which = (f" (up to epoch {saved_epochs} so far{'' if paused else ': training goes on while you decide'})"
                 if saved_epochs else "")
        return f"{state}. Stop it and quit? Every finished epoch is kept{which}; the run can be resumed."
    return f"{state} and no epoch has finished yet. Stop it and quit? Nothing of this run is kept."
