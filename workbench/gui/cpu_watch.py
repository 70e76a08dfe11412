"""Status-bar note when the job process is starved of CPU time by other programs.

Every 2 s while a job runs in its process, the share of the CPU time it asked for that it got
(``workbench.procjob.CpuShare``); below 60 % twice in a row, the label says so. Paused jobs and
jobs in a thread are not watched."""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel

from ..procjob import CpuShare

STARVED = 0.6


class CpuWatch(QObject):
    def __init__(self, runner, label: QLabel, interval_ms: int = 2000) -> None:
        super().__init__(label)
        self.runner, self.label = runner, label
        self.share: CpuShare | None = None
        self.low = 0
        self.last: float | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.sample)
        runner.started.connect(self._started)
        runner.finished.connect(self._finished)
        label.hide()

    def _started(self, job: str) -> None:
        pid = self.runner.job_pid
        self.share = CpuShare(pid) if pid else None
        self.low = 0
        if self.share is not None:
            self.share.sample()
            self.timer.start()

    def _finished(self, job: str, status: str) -> None:
        self.timer.stop()
        self.share = None
        self.label.hide()

    def sample(self) -> None:
        if self.share is None or self.runner.paused:
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
