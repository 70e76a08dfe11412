"""The Results page while it shows no run (after a start, the runs of the workspace are on disk but none is
open): a line naming the latest finished run of the open dataset with a button that opens it, or, when
that dataset has none, how to get one."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from ..session_helpers import run_accuracy, same_dataset
from ..widgets.common import set_icon

FINISHED = ("completed", "early_stopped")


def latest_finished(infos: list, dataset: str):
    """The newest run of ``dataset`` that finished (completed or stopped early), or None."""
    if not dataset:
        return None
    runs = [i for i in infos if str(i.status) in FINISHED
            and same_dataset(str(getattr(i.config.data, "path", "") or ""), dataset)]
    return max(runs, key=lambda i: getattr(i, "created", 0.0) or 0.0, default=None)


class LatestRun(QWidget):
    """Shown while ``page`` (the Results page) has no run open; hidden once one opens."""

    def __init__(self, session, page, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.page = session, page
        self.infos: list = []
        self.run_dir = ""           # the run the button opens ("" = none)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.open_btn = QPushButton("Open latest run")
        set_icon(self.open_btn, "results")
        self.open_btn.clicked.connect(lambda: self.run_dir and self.session.open_run(self.run_dir))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.open_btn)
        self.setObjectName("latestRun")    # the look of the Train page's note of a run that can continue
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("QWidget#latestRun { background: #eff6ff; border: 1px solid #bfdbfe; border-radius: 6px; }")
        session.runs_listed.connect(self.show_runs)
        session.config_changed.connect(lambda _cfg: self.update_state())
        session.run_opened.connect(lambda _d: self.hide())
        self.update_state()

    def show_runs(self, infos: list) -> None:
        self.infos = list(infos)
        self.update_state()

    def update_state(self) -> None:
        if self.page.run_dir:
            self.hide()
            return
        dataset = self.session.config.data.path
        info = latest_finished(self.infos, dataset)
        self.run_dir = str(info.run_dir) if info is not None else ""
        self.open_btn.setVisible(info is not None)
        if info is not None:
            acc = run_accuracy(info)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created)) if info.created else ""
            facts = ", ".join(f for f in (f"accuracy {acc:.1%}" if acc is not None else "", when) if f)
            self.label.setText(f"No run is open. The latest finished run of this dataset is <b>{info.name}</b>"
                               f"{f' ({facts})' if facts else ''}: <i>Open latest run</i> shows it here; any "
                               "other run opens from the Runs page or the run list.")
            self.label.setToolTip(self.run_dir)
            self.open_btn.setToolTip(f"Open {info.name} ({self.run_dir})")
        elif dataset:
            self.label.setText(f"No run is open, and no run of <b>{Path(dataset).name}</b> has finished yet: "
                               "train one on the Train page (Ctrl+R), or open any run from the Runs page, the run "
                               "list or <i>Open run folder…</i>.")
        else:
            self.label.setText("No run is open: open a dataset and train a run, or open a run from the Runs page, "
                               "the run list or <i>Open run folder…</i>.")
        self.show()
