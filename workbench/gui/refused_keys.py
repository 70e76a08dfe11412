"""The keys of a disabled action still answer: Ctrl+R while the LR finder runs (or before a dataset is
open) says in the status line why Start training is off, instead of doing nothing. A QShortcut per key
is on exactly while its action is off, so the two never compete for the key."""
from __future__ import annotations

from PySide6.QtGui import QAction, QShortcut


class RefusedKeys:
    def __init__(self, window, actions: list[QAction]) -> None:
        self.pairs: list[tuple[QAction, QShortcut]] = []
        for act in actions:
            for seq in act.shortcuts():
                sc = QShortcut(seq, window)
                sc.setProperty("refusal", True)   # not a shortcut of its own: the shortcuts list leaves it out
                sc.activated.connect(lambda a=act: window.flash(self.why(a), 6000))
                self.pairs.append((act, sc))
            act.changed.connect(self.sync)
        self.sync()

    @staticmethod
    def why(act: QAction) -> str:
        """"Start training is off: a job is running." (the action's tooltip says why it is off)."""
        return f"{act.text().replace('&', '')} is off: {act.toolTip()[:1].lower()}{act.toolTip()[1:]}"

    def sync(self) -> None:
        for act, sc in self.pairs:
            sc.setEnabled(not act.isEnabled())
