"""Which dataset an open run belongs to. The Results, Export and Try it pages keep showing the run that
was opened when another dataset opens (or a run of another dataset is opened from the run list); this
line says so, names both datasets and offers to open the run's own. Pages ask ``foreign`` before an
action that would write into a dataset's change list (relabel, quarantine, send to labelling)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from ..session_helpers import same_dataset


class RunOwner(QWidget):
    """A warning line shown while the page's run belongs to another dataset than the open one."""
    changed = Signal(bool)   # foreign or not

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.run_dir, self.dataset = "", ""
        self.label = QLabel()
        self.label.setObjectName("warning")
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.open_btn = QPushButton()
        self.open_btn.clicked.connect(lambda: self.session.open_dataset(self.dataset))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.open_btn)
        self._foreign = False
        session.config_changed.connect(lambda _cfg: self.update_state())
        session.run_state.changed.connect(lambda *_: self.open_btn.setEnabled(not session.busy))
        self.update_state()

    def set_run(self, run_dir: str, dataset: str | None = None) -> None:
        """The page now shows ``run_dir`` (its dataset read from the run folder unless given)."""
        self.run_dir = str(run_dir)
        self.dataset = self.session.run_dataset(self.run_dir) if dataset is None else str(dataset)
        self.update_state()

    @property
    def foreign(self) -> bool:
        """Whether the run belongs to another dataset than the one open now."""
        return self._foreign

    def why(self) -> str:
        """The sentence for a refused or disabled action."""
        return (f"The open run belongs to the dataset {Path(self.dataset).name}; "
                f"open that dataset (button above) to change its labels.")

    def update_state(self) -> None:
        open_now = self.session.config.data.path
        foreign = bool(self.run_dir and self.dataset and open_now) and not same_dataset(self.dataset, open_now)
        if foreign:
            name = Path(self.run_dir).name
            self.label.setText(f"&#9888; Run <b>{name}</b> is of the dataset <b>{Path(self.dataset).name}</b> "
                               f"({self.dataset}), not of the open dataset <b>{Path(open_now).name}</b>.")
            self.label.setToolTip(f"run: {self.run_dir}\nits dataset: {self.dataset}\nopen dataset: {open_now}")
            self.open_btn.setText(f"Open {Path(self.dataset).name}")
            self.open_btn.setToolTip(f"Open the run's dataset {self.dataset}")
            self.open_btn.setEnabled(not self.session.busy)
        self.setVisible(foreign)
        if foreign != self._foreign:
            self._foreign = foreign
            self.changed.emit(foreign)
