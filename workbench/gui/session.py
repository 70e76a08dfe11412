"""The app's state: current dataset, recipe (RunConfig), current run and the job runner. No widgets.

Views observe the session's signals and call its methods; the session starts core jobs through the
JobRunner. It never holds a model, optimizer or trainer: those live only inside the core call.
"""
from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from ..config import ConfigError, RunConfig
from ..events import Event, JobFailed, JobResult
from ..paths import data_home
from .jobs import JobRunner


def default_config() -> RunConfig:
    """The app's starting recipe: library defaults, runs kept in the per-user data folder."""
    return RunConfig().set("runs_dir", str(data_home() / "runs"))


class Session(QObject):
    config_changed = Signal(object)       # RunConfig
    dataset_changed = Signal(object)      # Dataset | None
    stats_changed = Signal(object)        # DatasetStats | None
    run_opened = Signal(str)              # run folder picked in the run list / opened / finished
    runs_changed = Signal()               # a run folder was created or finished
    job_failed = Signal(object)           # JobFailed
    lr_result = Signal(object)            # LRFindResult

    def __init__(self, config: RunConfig | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config: RunConfig = config or default_config()
        self.dataset = None
        self.stats = None
        self.current_run: str = ""
        self.runner = JobRunner(parent=self)
        # training and the LR finder run in a child process (workbench.procjob: no shared interpreter
        # lock with the UI, full OpenMP speed, crash isolation); False runs them in a thread here
        self.train_in_process = True
        self.job_pausable = True              # False for a multi-GPU (torchrun) run
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)

    # ----------------------------------------------------------------- recipe
    def set_config(self, cfg: RunConfig) -> None:
        if cfg != self.config:
            self.config = cfg
            self.config_changed.emit(cfg)

    def set_option(self, key: str, value: Any) -> None:
        """Set one option (coerced to its type); raises ConfigError with a readable message."""
        self.set_config(self.config.set(key, value))

    def problems(self) -> list[str]:
        probs = self.config.validate()
        if not self.config.data.path:
            probs.append("data.path: open a dataset first")
        return probs

    def cli_command(self) -> str:
        """The equivalent ``workbench train`` command (only keys that differ from the defaults)."""
        from ..config import iter_fields
        defaults = {k: v for k, _, v in iter_fields(RunConfig())}
        parts = ["workbench", "train", _quote(self.config.data.path or "DATASET")]
        for key, _, value in iter_fields(self.config):
            if key in ("data.path", "schema_version") or value == defaults[key]:
                continue
            parts += ["--set", _quote(f"{key}={_fmt(value)}")]
        return " ".join(parts)

    # ----------------------------------------------------------------- jobs
    @property
    def busy(self) -> bool:
        return self.runner.busy

    def open_dataset(self, path: str | Path) -> bool:
        """Scan + health check + stats in a worker; dataset_changed fires when done."""
        cfg = self.config.set("data.path", str(Path(path).expanduser()))
        self.set_config(cfg)

        def job(sink, control):
            from ..data import compute_stats, open_dataset
            ds = open_dataset(cfg.data, cfg.seed, sink=sink, control=control)
            return ds, compute_stats(ds, sink, control)
        return self.runner.start("scan", job)

    def run_lr_find(self) -> bool:
        from ..lr_find import lr_find  # in a child process like training: full speed, app stays fluid
        return self.runner.start("lr_find", functools.partial(lr_find, self.config, gui_attached=self._lower_job),
                                 in_process=self.train_in_process)

    def start_training(self) -> bool:
        cfg = self.config
        self.job_pausable = True

        from ..train.run import train
        return self.runner.start("train", functools.partial(train, cfg, gui_attached=self._lower_job),
                                 in_process=self.train_in_process)

    def start_multi_gpu_training(self, nproc: int) -> bool:
        """Train the current recipe on ``nproc`` local GPUs: torchrun in a subprocess (DDP), followed
        through the run folder's progress file. Pause is not available for such a run."""
        from datetime import datetime
        cfg = self.config
        recipe = data_home() / "recipes" / f"multi-gpu-{datetime.now():%Y%m%d-%H%M%S}.toml"
        cfg.save(recipe)

        def job(sink, control):
            from ..train.torchrun_job import run_torchrun
            return run_torchrun(recipe, cfg.data.path, nproc, sink, control)
        self.job_pausable = False
        started = self.runner.start("train", job)
        if not started:
            self.job_pausable = True
        return started

    def resume_run(self, run_dir: str | Path) -> bool:
        run_dir = str(run_dir)

        from ..train.run import resume
        return self.runner.start("train", functools.partial(resume, run_dir, gui_attached=self._lower_job),
                                 in_process=self.train_in_process)

    @property
    def _lower_job(self) -> bool:
        """Whether the core call lowers its own thread's priority (``gui_attached``): only in a thread
        of this process; a job process already runs at idle priority (procjob.background_priority)."""
        return not self.train_in_process

    def stop(self) -> None:
        self.runner.stop()

    def open_run(self, run_dir: str | Path) -> None:
        self.current_run = str(run_dir)
        self.run_opened.emit(self.current_run)

    def list_runs(self) -> list:
        """RunInfo list of the runs folder (empty when the folder or the runs module is missing)."""
        folder = Path(self.config.runs_dir).expanduser()
        if not folder.is_dir():
            return []
        try:
            from ..runs import list_runs
        except ImportError:  # minimal listing: folders holding a run config, newest first
            found = [p for p in folder.iterdir() if (p / "config.toml").is_file()]
            found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
            return [SimpleNamespace(run_dir=str(p), name=p.name, status="") for p in found]
        try:
            return list(list_runs(folder))
        except Exception:  # a broken run folder must not break the app; list_runs skips those
            return []

    # ----------------------------------------------------------------- events
    @Slot(str, object)
    def _on_event(self, job: str, ev: Event) -> None:
        if isinstance(ev, JobFailed):
            self.job_failed.emit(ev)
        elif isinstance(ev, JobResult) and ev.result is not None:
            if job == "scan":
                self.dataset, self.stats = ev.result
                self.dataset_changed.emit(self.dataset)
                self.stats_changed.emit(self.stats)
            elif job == "lr_find":
                self.lr_result.emit(ev.result)
            elif job == "train":
                run_dir = getattr(ev.result, "run_dir", "")
                if run_dir:
                    self.current_run = str(run_dir)

    @Slot(str, str)
    def _on_finished(self, job: str, status: str) -> None:
        self.job_pausable = True
        if job == "train":
            self.runs_changed.emit()


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(_fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _quote(text: str) -> str:
    import shlex
    return shlex.quote(text)


__all__ = ["Session", "default_config", "ConfigError"]
