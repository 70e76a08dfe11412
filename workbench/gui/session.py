"""The app's state: current dataset, recipe (RunConfig), current run and the job runner. No widgets.

Views observe the session's signals and call its methods; the session starts core jobs through the
JobRunner. It never holds a model, optimizer or trainer: those live only inside the core call.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from ..config import ConfigError, RunConfig
from ..data.report import training_problems
from ..events import Event, JobFailed, JobResult
from ..paths import data_home
from ..runs import list_runs
from ..weights import usable_offline
from ..working_recipe import load_working, save_working
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

    def __init__(self, config: RunConfig | None = None, parent: QObject | None = None,
                 autosave: bool = False) -> None:
        super().__init__(parent)
        self.config: RunConfig = config or default_config()
        # the app keeps the working recipe per dataset (workbench.working_recipe); tests leave it off
        self.autosave = autosave
        self.autosave_error = ""
        self.recipe_file = ""                 # the TOML last loaded or saved by the user ...
        self.recipe_file_config: RunConfig | None = None   # ... and the recipe it holds
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
            self.autosave_now()
            self.config_changed.emit(cfg)

    def autosave_now(self) -> None:
        """Keep the current recipe as the working recipe of its dataset (when autosave is on)."""
        if not self.autosave:
            return
        try:
            save_working(self.config)
            self.autosave_error = ""
        except OSError as e:
            self.autosave_error = f"the working recipe could not be kept ({e})"

    def set_recipe_file(self, path: str) -> None:
        """The recipe was just loaded from / saved to ``path`` (quitting asks when it differs later)."""
        self.recipe_file, self.recipe_file_config = str(path), self.config

    def recipe_file_outdated(self) -> bool:
        return bool(self.recipe_file) and self.recipe_file_config != self.config

    def set_option(self, key: str, value: Any) -> None:
        """Set one option (coerced to its type); raises ConfigError with a readable message."""
        self.set_config(self.config.set(key, value))

    def problems(self) -> list[str]:
        probs = self.config.validate()
        if not self.config.data.path:
            probs.append("data.path: open a dataset first")
        probs += self._dataset_checks()[0]
        m = self.config.model
        if not probs and not m.weights and not usable_offline(m.arch, m.pretrained):
            probs.append(f"model.pretrained: the {m.arch} weights '{m.pretrained}' are not on this machine; "
                         "press Download (or Import weights file...) on the Recipe page, or choose none")
        return probs

    def warnings(self) -> list[str]:
        """Settings and data that allow training but deserve a word (shown in the recipe)."""
        return self.config.warnings() + self._dataset_checks()[1]

    def _dataset_checks(self) -> tuple[list[str], list[str]]:
        ds = self.dataset
        if ds is None or not self.config.data.path:
            return [], []
        if Path(ds.root).resolve() != Path(self.config.data.path).expanduser().resolve():
            return [], []
        return training_problems(ds)

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
        root = str(Path(path).expanduser())
        kept = load_working(root) if self.autosave else None   # this dataset's own working recipe
        cfg = (kept or self.config).set("data.path", root)
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

    def start_audit(self, k: int = 5, quick: bool = True, leaks_only: bool = False, run_dir: str = "") -> bool:
        """The label audit of the current dataset (job "audit", in a job process like training):
        k-fold out-of-fold label issues + near-duplicates, or only the near-duplicates."""
        from .. import audit
        cfg = audit.quick_recipe(self.config) if quick else self.config
        fn = (functools.partial(audit.leaks_only, cfg, run_dir) if leaks_only
              else functools.partial(audit.run_audit, cfg, k))
        return self.runner.start("audit", fn, in_process=self.train_in_process)

    def estimate_audit(self, k: int, quick: bool, n_images: int, callback) -> None:
        """``callback(seconds or Exception)`` in the GUI thread: the audit's predicted time here."""
        from .. import audit
        from .jobs import submit
        cfg = audit.quick_recipe(self.config) if quick else self.config
        submit(lambda: audit.estimate_seconds(cfg, k, n_images), callback)

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
        """RunInfo list of the runs folder (empty when the folder is missing)."""
        folder = Path(self.config.runs_dir).expanduser()
        if not folder.is_dir():
            return []
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
