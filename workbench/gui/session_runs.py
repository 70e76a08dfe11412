"""The Session's run folders (a mixin of ``gui.session.Session``): open a run, list, rename, note and
delete run folders off the GUI thread, and follow the run this session trains, whose events run ahead of
its files (the run lists show its epochs, accuracy and pause from the events). Needs the Session's
``config``, ``run_state``, ``busy``, ``current_run``, ``live_run``, ``_live``, ``checked``, ``check_recipe``
and its run signals."""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from ..config import ConfigError, RunConfig
from ..run.folder import RunFolder
from ..run.runs import RunError, data_changes_since, delete_run, edit_run, load_run, status_words
from ..runtime.events import EpochEnd, Event, FitStarted, Replanned
from .jobs import JobKind, submit
from .run_state import Phase
from .session_jobs import list_runs_safe


class SessionRuns:
    def open_run(self, run_dir: str | Path) -> None:
        self.current_run = str(run_dir)
        self.run_opened.emit(self.current_run)

    @staticmethod
    def has_checkpoint(run_dir: str | Path) -> bool:
        """Whether ``run_dir`` holds a last.pt to resume from (a stat: cheap on the GUI thread)."""
        return bool(run_dir) and RunFolder(run_dir).last.is_file()

    @staticmethod
    def run_dataset(run_dir: str | Path) -> str:
        """The dataset folder a run was trained on (its config.toml's data.path); "" when unknown
        (one small file read)."""
        try:
            return RunConfig.load(RunFolder(Path(run_dir)).config).data.path if run_dir else ""
        except (ConfigError, OSError, ValueError):
            return ""

    @staticmethod
    def data_changes_since(run_dir: str | Path) -> int:
        """Images relabelled or quarantined since the run last scanned its dataset (``run.runs``; two
        small files read); 0 when the run cannot be read."""
        try:
            return data_changes_since(load_run(run_dir))
        except RunError:
            return 0

    def refresh_runs(self) -> None:
        """List the runs folder off the GUI thread; ``runs_listed`` delivers the RunInfo list."""
        folder = Path(self.config.runs_dir).expanduser()
        submit(functools.partial(list_runs_safe, folder), self._runs_listed)

    def _runs_listed(self, infos) -> None:
        self.runs_listed.emit(infos if isinstance(infos, list) else [])

    def delete_run(self, run_dir: str | Path) -> None:
        """Delete one run folder off the GUI thread (``workbench.run.runs.delete_run``); ``run_deleted``
        says how it went and the run lists refresh."""
        run_dir = str(run_dir)
        submit(functools.partial(delete_run, run_dir), functools.partial(self._run_deleted, run_dir))

    def _run_deleted(self, run_dir: str, result) -> None:
        error = str(result) if isinstance(result, Exception) else ""
        self.run_deleted.emit(run_dir, error)
        if not error:
            self.runs_changed.emit()
            self._names_changed()

    def edit_run(self, run_dir: str | Path, name: str | None = None, note: str | None = None) -> None:
        """Rename a run folder and / or set its note, off the GUI thread (``workbench.run.runs.edit_run``);
        ``run_edited`` says how it went. Renaming the open run is refused while a job runs."""
        run_dir = str(run_dir)
        if name is not None and name.strip() != Path(run_dir).name and self.busy and run_dir == self.current_run:
            self.run_edited.emit(run_dir, run_dir, "a job is running on the open run; rename it when it has ended")
            return
        submit(functools.partial(edit_run, run_dir, name, note), functools.partial(self._run_edited, run_dir))

    def _run_edited(self, run_dir: str, result) -> None:
        if isinstance(result, Exception):
            self.run_edited.emit(run_dir, run_dir, str(result))
            return
        new = str(result)
        if self.current_run == run_dir:
            self.current_run = new
        self.run_edited.emit(run_dir, new, "")
        self.runs_changed.emit()
        self._names_changed()

    def _names_changed(self) -> None:
        """A run folder was renamed or deleted (or a run took its name): the recipe's run-name warning is
        checked again."""
        self.checked = None
        self.check_recipe()

    def _follow_live(self, ev: Event) -> None:
        """The run this session trains, as its events say (its files follow an epoch later)."""
        if isinstance(ev, FitStarted):
            self.live_run, self._live = str(ev.run_dir), [ev.start_epoch, ev.epochs, None]
        elif isinstance(ev, EpochEnd):
            self._live[0], self._live[2] = ev.epoch + 1, ev.metrics.get("accuracy", self._live[2])
        elif isinstance(ev, Replanned):
            self._live[1] = ev.epochs

    def live_info(self, info):
        """A listed run as the run lists show it: the run this session is training with the epochs done and
        planned and the accuracy its events gave (metrics.json lags an epoch), any other run as it is."""
        if (not self.live_run or str(info.run_dir) != self.live_run or not self.run_state.running(JobKind.TRAIN)
                or not dataclasses.is_dataclass(info)):
            return info
        done, planned, acc = self._live
        m = {**info.metrics, "epochs_done": done, "epochs": max(planned, done)}
        if acc is not None:
            m["valid_accuracy"] = acc
        return dataclasses.replace(info, metrics=m)

    def run_status(self, info) -> str:
        """A listed run's status as users read it: "paused" for the run this session has paused (its
        metrics.json says running), else ``status_words``."""
        if (self.run_state.running(JobKind.TRAIN) and self.run_state.phase is Phase.PAUSED
                and self.live_run and str(info.run_dir) == self.live_run):
            return "paused"
        return status_words(getattr(info, "status", ""))
