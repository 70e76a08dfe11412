"""The Results page's hard-example actions: relabel / quarantine / keep from the galleries and the large
viewer (through the Changes panel's sidecar), and "Retrain with changes" with its visible start and
the before / after of the new run."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from ..session_helpers import summary
from .relabel import ask_class
from .result_texts import action_notice, before_after, trained_loss


class HardExampleActions:
    """Mixin of ResultsPage (needs session, preds, info, run_dir, changes, galleries, notice, compare,
    tabs, summary, retrainStarted, owner)."""

    def apply_action(self, action: str, paths: list, new_class: str) -> bool:
        if self.owner.foreign:   # never into another dataset's change list unasked
            self.notice.setText(f"Not changed: {self.owner.why()}")
            return False
        classes = self.preds.classes if self.preds is not None else None
        ok = self.changes.apply(action, list(paths), new_class, classes)
        if ok:
            valid = set(self.preds.paths) if self.preds is not None else set()
            self.notice.setText(action_notice(action, list(paths), new_class, valid))
        return ok

    def undo_change(self) -> bool:
        """Ctrl+Z: undo the last change of the run's dataset (not while another dataset is open)."""
        if self.owner.foreign:
            self.notice.setText(f"Not undone: {self.owner.why()}")
            return False
        return self.changes.undo()

    def _owner_changed(self, foreign: bool) -> None:
        """The change list (undo, retrain with changes) is the run's dataset's: usable with that one open."""
        self.changes.setEnabled(not foreign)
        self.changes.setToolTip(self.owner.why() if foreign else "")
        for g in self.galleries:   # relabel asks nothing and the buttons are off while it would be refused
            g.locked = self.owner.why() if foreign else ""
            g.update_buttons()
        self.viewer.lock_actions(self.owner.why() if foreign else "")   # the large viewer's buttons too
        self.notice.setText("")   # what was said of the last change (or refusal) belonged to the other state

    def _connect_viewer(self) -> None:
        """The large viewer's actions and Ctrl+Z go through this page's change list, as a gallery's do."""
        self.viewer.actionRequested.connect(self._viewer_action)
        self.viewer.undoRequested.connect(self.undo_change)

    def _viewer_action(self, action: str, paths: list, new_class: str) -> None:
        """Relabel / quarantine / keep from the large viewer (relabel asks for the class)."""
        if action == "relabel" and not new_class and not self.owner.foreign:
            p, paths = self.preds, list(paths)
            i = p.paths.index(paths[0]) if p is not None and paths and paths[0] in p.paths else -1
            true, top = (p.classes[int(p.targets[i])], p.classes[int(p.probs[i].argmax())]) if i >= 0 else ("", "")
            new_class = ask_class(self, p.classes if p is not None else (), len(paths), true, top)
            if not new_class:
                return
        self.apply_action(action, paths, new_class)

    def _refresh_marks(self) -> None:
        for g in self.galleries:
            g.model.set_marks(self.changes.marks(g.paths()))
        path = self.viewer.path   # the large viewer says its image's change too
        self.viewer.set_mark(self.changes.marks([path]).get(path, "") if path else "")

    def retrain(self) -> None:
        """Start a new run with this run's recipe (for that run only: the working recipe and its undo
        history stay); the new scan applies the changes. The Train page shows it start; when it has
        finished its results open here with a before / after."""
        cfg = getattr(self.info, "config", None)
        cfg = cfg.set("name", "") if cfg is not None else None
        before = None
        if self.preds is not None:
            name = getattr(self.info, "name", "") or Path(self.run_dir).name
            before = {"run_dir": self.run_dir, "name": name, "changes": len(self.changes.entries()),
                      "dataset": _where(cfg.data.path if cfg is not None else ""), "new_run": "",
                      **summary(self.preds), **loss_as_trained(self.info)}
        if not self.session.start_training(cfg):
            QMessageBox.information(self, "Retrain", "Another job is running; try again when it has finished.")
            return
        self._before = before
        self.compare.hide()
        self.notice.setText("Retraining with the changes: the Train page shows the new run; its results open "
                            "here with a before / after.")
        self.retrainStarted.emit()

    def _retrain_began(self, run_dir: str) -> None:
        """The first run folder that starts after "Retrain with changes" is the retrain: the one run
        whose results get the before / after."""
        if self._before is not None and not self._before["new_run"]:
            self._before["new_run"] = _where(run_dir)

    def _forget_retrain(self, dataset_path: str) -> None:
        """Another dataset opened: a retrain of the previous one no longer gets a before / after here."""
        if self._before is not None and _where(dataset_path) != self._before["dataset"]:
            self._before = None
        shown = getattr(getattr(getattr(self.info, "config", None), "data", None), "path", "")
        if _where(dataset_path) != _where(shown or ""):
            self.compare.hide()   # a before / after already shown belongs with its dataset too

    def _show_before_after(self, name: str, s: dict) -> None:
        """The before / after, only on the results of the run "Retrain with changes" started (never on
        another run that opens meanwhile or later)."""
        before = self._before
        if before is None or not before["new_run"] or _where(self.run_dir) != before["new_run"]:
            self.compare.hide()   # no retrain, the old run or another run opened: the banner is not theirs
            return
        self._before = None
        self.compare.setText(before_after(before, {"name": name, **s, **loss_as_trained(self.info)}))
        self.compare.show()
        self.tabs.setCurrentWidget(self.summary)


def _where(path) -> str:
    """A folder as compared here (user folder expanded, links resolved); "" for none."""
    return str(Path(path).expanduser().resolve()) if path else ""


def loss_as_trained(info) -> dict:
    """The headline's validation loss of a run and its label smoothing (the before / after compares those)."""
    cfg = getattr(info, "config", None)
    return {"trained_loss": trained_loss(info), "smoothing": cfg.tricks.label_smoothing if cfg is not None else 0.0}

