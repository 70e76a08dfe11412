"""The Data page's word on pretrained weights: the first-run fine-tune a new dataset of photos got (one
line and the *Train from scratch* switch), or the suggestion to fine-tune weights that are on disk
(*Use pretrained weights*)."""
from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QPushButton, QWidget

from ..jobs import submit
from ..session_helpers import pretrained_defaults, suggest_fine_tune


class PretrainedTip(QWidget):
    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.first_run = QLabel()
        self.first_run.setWordWrap(True)
        self.scratch = QCheckBox("Train from scratch")
        self.scratch.setToolTip("Train resnet18 from random weights instead of fine-tuning the ImageNet "
                                "weights on this machine (the keys the fine-tune set go back)")
        self.scratch.toggled.connect(session.set_from_scratch)
        self.suggestion = QLabel()
        self.suggestion.setWordWrap(True)
        self.use_btn = QPushButton("Use pretrained weights")
        self.use_btn.clicked.connect(self.use_pretrained)
        self._suggested: tuple = ("", "")
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.first_run, 0, 0)
        lay.addWidget(self.scratch, 0, 1)
        lay.addWidget(self.suggestion, 1, 0)
        lay.addWidget(self.use_btn, 1, 1)
        lay.setColumnStretch(0, 1)
        session.first_run_changed.connect(self._show_first_run)
        session.config_changed.connect(self._sync_switch)
        self._show_first_run(session.first_run_line)
        self.show_suggestion(("", ""))

    @Slot(str)
    def _show_first_run(self, line: str) -> None:
        self.first_run.setText(line)
        self.first_run.setVisible(bool(line))
        self.scratch.setVisible(bool(line))
        self._sync_switch()
        self.show_suggestion(self._suggested)

    @Slot()
    def _sync_switch(self, *_args) -> None:
        self.scratch.blockSignals(True)
        self.scratch.setChecked(self.session.from_scratch)
        self.scratch.blockSignals(False)

    def suggest_for(self, class_counts: list) -> None:
        """Ask the core (in the side pool) whether to suggest fine-tuning for these class counts."""
        cfg = self.session.config
        submit(lambda: suggest_fine_tune(class_counts, cfg), self.show_suggestion)

    def show_suggestion(self, result) -> None:
        arch, text = result if isinstance(result, tuple) else ("", "")
        self._suggested = (arch, text)
        if self.session.first_run_line:
            text = ""   # the first-run line and its switch say it all
        self.suggestion.setText(text)
        self.suggestion.setVisible(bool(text))
        self.use_btn.setVisible(bool(text and arch))

    def use_pretrained(self) -> None:
        """Switch the recipe to the suggested pretrained weights (with the pretrained recipe defaults)."""
        arch = self._suggested[0]
        if arch:
            arch, _, tag = arch.partition(":")
            cfg = self.session.config.set("model.arch", arch).set("model.pretrained", tag or "DEFAULT")
            self.session.set_config(pretrained_defaults(cfg)[0])
            self.show_suggestion(("", ""))
