"""Status-bar note when the job process is starved of CPU time by other programs.

Every 2 s while a job runs in its process, the share of the CPU time it asked for that it got
(``workbench.runtime.procjob.CpuShare``); below 60 % twice in a row, the label says so. Paused jobs and
jobs in a thread are not watched."""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel

from ..runtime.procjob import CpuShare
from .run_state import Phase

STARVED = 0.6


class CpuWatch(QObject):
    def __init__(self, session, label: QLabel, interval_ms: int = 2000) -> None:
        super().__init__(label)
        self.session, self.label = session, label
        self.share: CpuShare | None = None
        self.low = 0
        self.last: float | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.sample)
        session.job_started.connect(self._started)
        session.job_finished.connect(self._finished)
        label.hide()

    def _started(self, kind) -> None:
        if kind in self.session.SIDE_JOBS:
            return
        pid = self.session.job_pid
        self.share = CpuShare(pid) if pid else None
        self.low = 0
        if self.share is not None:
            self.share.sample()
            self.timer.start()

    def _finished(self, kind, status: str) -> None:
        if kind in self.session.SIDE_JOBS:
            return
        self.timer.stop()
        self.share = None
        self.label.hide()

    def sample(self) -> None:
        if self.share is None or self.session.run_state.phase is Phase.PAUSED:
            return
        got = self.share.sample()
        if got is None:
            return
        self.last = got
        self.low = self.low + 1 if got < STARVED else 0
        if self.low >= 2:
            self.label.setText(f"job gets {got:.0%} of the CPU it wants: other programs are busy")
            self.label.setToolTip("The training process runs at a lower priority (nice +10) so the app stays "
                                  "responsive; programs at normal priority take the cores first. Close them, "
                                  "or expect slower epochs.")
            self.label.show()
        elif self.low == 0:
            self.label.hide()
