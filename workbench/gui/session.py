"""The app's state: current dataset, recipe (RunConfig), current run, and the jobs. No widgets.

Views talk only to the session: they call its methods (``open_dataset``, ``start_training``,
``run_lr_find``, ``interpret``, ``export`` ...) and observe its signals: one typed result signal per
job kind (``RESULT_SIGNALS``), ``job_started`` / ``job_event`` / ``job_finished`` / ``job_failed``
with the JobKind, and ``run_state`` (RunState) for what runs now. The JobRunners are private: one for
the jobs that take the machine (one at a time, followed by ``run_state``), one for side jobs (weights
downloads) that may run beside them. The session never holds a model, optimizer or trainer: those
live only inside the core call.

The run folders (list, rename, note, delete; the run it trains, as its events say) are ``session_runs``'s,
a mixin like ``session_first_run``'s first-run fine-tune. The work the Session hands off the GUI thread is in ``session_jobs`` (job bodies, the recipe check, the
weights import, the calibration fit) and ``session_images`` (thumbnails, the augmentation preview,
Grad-CAM); ``session_helpers`` re-exports the core's quick pure helpers the views use. Views import
nothing else of the core but ``workbench.config``, ``workbench.runtime.events`` and ``workbench.errors``
(an import-linter contract in ``pyproject.toml``).
"""
from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from ..audit import labels as audit
from ..config import ConfigError, RunConfig
from ..data.pipeline import train_steps
from ..runtime.events import EpochEnd, Event, FitStarted, Paused, Progress, Resumed
from ..inference.export import export_run
from ..inference.to_label import SentToLabel, send_to_labelling, take_back
from ..analysis.interpret import interpret_run
from ..train.lr_find import keep_result, kept_result, lr_find
from ..runtime.paths import data_home
from ..inference.predict import predict_folder_to_csv, predict_images
from ..recipe.command import cli_program, train_command
from ..recipe.reasons import drop_stale_reasons
from ..recipe.suggest import DataFacts
from ..run.folder import free_name, name_taken
from ..train.run import plan_run, resume, train
from ..train.torchrun_job import run_torchrun
from ..inference.tta import tta_run
from ..recipe.working import load_working, save_working
from .jobs import JobFailed, JobKind, JobResult, JobRunner, submit
from .run_state import Phase, RunState
from .session_first_run import FirstRunMixin, default_config
from .session_runs import SessionRuns
from .session_jobs import (RecipeCheck, check_recipe, checked_safely, core_call, download, import_weights, job,
                           lowered, scan, suggest_recipe)


class Session(FirstRunMixin, SessionRuns, QObject):
    config_changed = Signal(object)       # RunConfig
    dataset_changed = Signal(object)      # Dataset | None (the scan's result)
    stats_changed = Signal(object)        # DatasetStats | None
    run_opened = Signal(str)              # run folder picked in the run list / opened / finished
    runs_changed = Signal()               # a run folder was created, finished or deleted
    runs_listed = Signal(object)          # list[RunInfo] of the runs folder (refresh_runs)
    run_deleted = Signal(str, str)        # run folder, error sentence ("" when it was deleted)
    run_edited = Signal(str, str, str)    # run folder, its folder now (renamed or not), error ("" = done)
    # the jobs: every job of any kind
    job_started = Signal(object)          # JobKind
    job_event = Signal(object, object)    # JobKind, Event (progress, log, epochs; not the result)
    job_finished = Signal(object, str)    # JobKind, status: completed | cancelled | failed
    job_failed = Signal(object)           # JobFailed (.job is the JobKind, .error the exception)
    # ... and one typed result signal per kind (RESULT_SIGNALS)
    lr_found = Signal(object)             # LRFindResult
    trained = Signal(object)              # RunResult (train, resume, multi-GPU train)
    audited = Signal(object)              # AuditResult, or the leaks dict of a duplicates-only audit
    suggested = Signal(object)            # Suggestion
    planned = Signal(object)              # Plan
    interpreted = Signal(object)          # Interpretation
    tta_ready = Signal(object)            # TTAResult
    exported = Signal(object)             # list[ExportResult]
    predicted = Signal(object)            # dict of predict_folder_to_csv
    tried = Signal(object)                # ImagePredictions of predict_images (the Try it page)
    downloaded = Signal(object)           # str: the weights file
    weights_imported = Signal(object)     # ImportedWeights (import_weights)
    recipe_checked = Signal(object)       # RecipeCheck of the current recipe and dataset (check_recipe)
    first_run_changed = Signal(str)       # the first-run fine-tune's line ('' = none offered)
    changes_edited = Signal(str)          # a dataset folder (resolved) whose change list was just written

    # from the job table (workbench.runtime.jobs.JOBS): the result signal of each kind, the side jobs
    RESULT_SIGNALS = {kind: kind.job.signal for kind in JobKind}
    SIDE_JOBS = tuple(kind for kind in JobKind if kind.job.side)   # run on the side runner, beside the others

    def __init__(self, config: RunConfig | None = None, parent: QObject | None = None,
                 autosave: bool = False) -> None:
        super().__init__(parent)
        self.config: RunConfig = drop_stale_reasons(config or default_config(), keep_unsaid=False)
        # the app keeps the working recipe per dataset (workbench.recipe.working); tests leave it off
        self.autosave = autosave
        self.autosave_error = ""
        self.recipe_file = ""                 # the TOML last loaded or saved by the user for this dataset ...
        self.recipe_file_config: RunConfig | None = None   # ... and the recipe it holds
        self._recipe_files: dict[str, tuple[str, RunConfig]] = {}   # the same, of the other datasets opened
        self.recipe_dir = ""                  # the folder the user last loaded or saved a recipe in
        self.dataset = None
        self.stats = None
        self.current_run: str = ""
        self._lr_config: RunConfig | None = None
        self.live_run = ""                    # the run folder the training job of this session trains ...
        self._live: list = [0, 0, None]       # ... its epochs done, planned and latest accuracy (_follow_live)
        self.start_note = ""                  # what the last start_training chose for the user (a free run name)
        self.first_run_line = ""              # a new dataset of photos: the fine-tune it got, and why
        self.first_run_by_defaults = False    # ... given by Defaults (one undoable change), not a new dataset
        self._first_run: tuple[RunConfig, RunConfig] | None = None   # (recipe before, after)
        self._first_run_pending = False
        self.run_state = RunState(self)
        self.checked: RecipeCheck | None = None   # the last check of the recipe (check_recipe)
        self._checking = self._check_again = False
        self._counted: tuple = (None, 0)      # (dataset, its training images): counted by the scan
        self._runner = JobRunner(parent=self)
        self._side_runner = JobRunner(parent=self)
        # training, the LR finder, the audit and the plan run in a child process (workbench.runtime.procjob: no
        # shared interpreter lock with the UI, full OpenMP speed, crash isolation); False runs them in
        # a thread here, whose priority the job wrapper lowers first (session_jobs.lowered)
        self.jobs_in_child_process = True
        for runner in (self._runner, self._side_runner):
            runner.started.connect(self.job_started)
            runner.event.connect(self._on_event)
            runner.finished.connect(self._on_finished)
        self.runs_changed.connect(self.refresh_runs)

    # ----------------------------------------------------------------- recipe
    def set_config(self, cfg: RunConfig) -> None:
        """The recipe becomes ``cfg``, less the reasons of a suggestion that no longer hold (an option
        set otherwise since, or the run length they spoke of changed): by any means, the reasons shown
        and saved are only those that hold."""
        cfg = drop_stale_reasons(cfg, keep_unsaid=False)
        if cfg != self.config:
            other_runs = Path(cfg.runs_dir).expanduser() != Path(self.config.runs_dir).expanduser()
            self.config = cfg
            self.autosave_now()
            self.config_changed.emit(cfg)
            self.check_recipe()
            if other_runs:
                self.refresh_runs()

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
        """The recipe of the open dataset was just loaded from / saved to ``path`` (quitting asks when it
        differs later; the file stays this dataset's when another one opens)."""
        self.recipe_file, self.recipe_file_config = str(path), self.config
        self.recipe_dir = str(Path(path).expanduser().parent)

    def _switch_recipe_file(self, old: str, new: str) -> None:
        """Another dataset opens: the recipe file of ``old`` is put aside with it (never saved with
        another dataset's recipe), and the one of ``new`` (if it had one this session) comes back."""
        key = lambda p: str(Path(p).expanduser().resolve())  # noqa: E731
        if old:
            self._recipe_files.pop(key(old), None)
            if self.recipe_file and self.recipe_file_config is not None:
                self._recipe_files[key(old)] = (self.recipe_file, self.recipe_file_config)
        self.recipe_file, self.recipe_file_config = self._recipe_files.pop(key(new), ("", None))

    def recipe_file_outdated(self) -> bool:
        return bool(self.recipe_file) and self.recipe_file_config != self.config

    def set_option(self, key: str, value: Any) -> None:
        """Set one option (coerced to its type); raises ConfigError with a readable message."""
        self.set_config(self.config.set(key, value))

    def problems(self) -> list[str]:
        """What stands in the way of training the recipe: the last ``check_recipe`` when it checked this
        recipe and dataset (the usual case: it runs after every change), else checked now."""
        return list(self._current_check().problems)

    def warnings(self) -> list[str]:
        """Settings and data that allow training but deserve a word (shown in the recipe)."""
        return list(self._current_check().warnings)

    def _current_check(self) -> RecipeCheck:
        c = self.checked
        if c is not None and c.config == self.config and c.dataset is self.dataset:
            return c
        return check_recipe(self.config, self.dataset)

    def check_recipe(self) -> None:
        """Check the recipe against the open dataset off the GUI thread (validating can build the model
        to test a weights file, finding the weights can hash them, the data checks walk every image);
        ``recipe_checked`` delivers the RecipeCheck of the recipe current when it ends. Checks asked
        for while one runs are merged into one more."""
        if self._checking:
            self._check_again = True
            return
        self._checking = True
        cfg, ds = self.config, self.dataset
        submit(lambda: checked_safely(cfg, ds), self._recipe_checked)

    def _recipe_checked(self, result) -> None:
        self._checking = False
        if self._check_again:   # the recipe, the dataset or the weights changed since it started
            self._check_again = False
            self.check_recipe()
            return
        if isinstance(result, RecipeCheck) and result.config == self.config and result.dataset is self.dataset:
            self.checked = result
            self.recipe_checked.emit(result)

    def steps_per_epoch(self) -> int:
        """Training batches per epoch of the recipe on the open dataset (as training and the plan count
        them; 100 without a dataset), from the count the scan made."""
        ds, n = self.dataset, 0
        if ds is not None:
            if self._counted[0] is not ds:   # a dataset given without a scan (tests, tools): count it once
                self._counted = (ds, len(ds.train))
            n = self._counted[1]
        return train_steps(n, self.config.data.batch_size)

    def cli_command(self) -> str:
        """The ``workbench train`` command that trains this exact recipe (workbench.recipe.command)."""
        return train_command(self.config, cli_program())

    # ----------------------------------------------------------------- jobs
    @property
    def busy(self) -> bool:
        """Whether a job that takes the machine runs (side jobs such as downloads do not count)."""
        return self.run_state.busy

    def open_dataset(self, path: str | Path, recipe: RunConfig | None = None) -> bool:
        """Scan + health check + stats in a worker; dataset_changed fires when done.

        The recipe is the dataset's own: ``recipe`` when given (a recipe file loaded for it), else its
        working recipe when it has one, else the defaults when another dataset was open (its
        suggestion, reasons and budget were about that dataset), else the recipe as it is (set before
        any dataset was opened). A recipe file loaded or saved with the previous dataset stays that
        dataset's. While the folder scans, no dataset is open (dataset_changed(None)): nothing of
        the previous one stays on screen."""
        if self._runner.busy:
            return False
        root = str(Path(path).expanduser())
        kept = recipe or (load_working(root) if self.autosave else None)   # this dataset's own recipe
        base = self.config
        if self._first_run is not None and base == self._first_run[1]:
            base = self._first_run[0]   # the previous dataset's first-run fine-tune, untouched: decide anew
        before = self.config.data.path
        other = bool(before) and Path(before).expanduser().resolve() != Path(root).resolve()
        start = kept or (default_config().set("runs_dir", self.config.runs_dir) if other else base)
        if other:
            self._switch_recipe_file(before, root)
        cfg = start.set("data.path", root)
        self.set_config(cfg)
        if self.dataset is not None or self.stats is not None:
            self.dataset, self.stats = None, None
            self.dataset_changed.emit(None)
            self.stats_changed.emit(None)
            self.check_recipe()
        # a dataset without a working recipe and no recipe file loaded: a new one (see _offer_first_run)
        self._first_run_pending = kept is None and not self.recipe_file
        self._first_run = None
        self.first_run_by_defaults = False
        self._set_first_run_line("")
        return self._start(JobKind.SCAN, functools.partial(scan, cfg))

    # ----------------------------------------------------------------- jobs started by the user
    def run_lr_find(self) -> bool:
        self._lr_config = self.config   # the recipe the test runs with: its result is kept for its dataset
        return self._start(JobKind.LR_FIND, self._heavy(lr_find, self.config), self.jobs_in_child_process)

    def kept_lr_find(self, callback) -> None:
        """``callback((LRFindResult, facts) or None)`` in the GUI thread: the range test kept for the open
        dataset (``lr_find.kept_result``), read off the GUI thread."""
        root = self.config.data.path
        submit(lambda: kept_result(root), callback)

    def start_training(self, config: RunConfig | None = None) -> bool:
        """Train the working recipe, or ``config`` (a run's own recipe, e.g. retrained with the data
        changes) without making it the working recipe."""
        cfg = config or self.config
        self.start_note = ""
        if name_taken(cfg):   # a run has the recipe's run name: this one takes the next free one
            cfg = cfg.set("name", free_name(cfg))
            self.start_note = (f"The run name '{(config or self.config).name}' is taken by an earlier run: this run "
                               f"is named {cfg.name} (the recipe keeps its name).")
        return self._start(JobKind.TRAIN, self._heavy(train, cfg), self.jobs_in_child_process)

    def resume_run(self, run_dir: str | Path) -> bool:
        self.start_note = ""
        return self._start(JobKind.TRAIN, self._heavy(resume, str(run_dir)), self.jobs_in_child_process)

    def start_multi_gpu_training(self, nproc: int) -> bool:
        """Train the current recipe on ``nproc`` local GPUs: torchrun in a subprocess (DDP), followed
        through the run folder's progress file. Pause is not available for such a run."""
        cfg = self.config
        recipe = data_home() / "recipes" / f"multi-gpu-{datetime.now():%Y%m%d-%H%M%S}.toml"
        cfg.save(recipe)
        return self._start(JobKind.TRAIN, job(run_torchrun, recipe, cfg.data.path, nproc), pausable=False)

    def start_audit(self, k: int = 5, quick: bool = True, leaks_only: bool = False, run_dir: str = "") -> bool:
        """The label audit of the current dataset (in a job process like training): k-fold out-of-fold
        label issues + near-duplicates, or only the near-duplicates."""
        cfg = self.config if leaks_only else self.audit_config(quick)
        fn = (self._heavy(audit.leaks_only, cfg, run_dir) if leaks_only else self._heavy(audit.run_audit, cfg, k))
        return self._start(JobKind.AUDIT, fn, self.jobs_in_child_process)

    def estimate_audit(self, k: int, quick: bool, n_images: int, callback) -> None:
        """``callback(seconds or Exception)`` in the GUI thread: the audit's predicted time here."""
        cfg = self.audit_config(quick)
        submit(lambda: audit.estimate_seconds(cfg, k, n_images), callback)

    def saved_audit(self, callback) -> None:
        """``callback(report dict or None)`` in the GUI thread: the open dataset's last finished audit
        (``audit.saved_report``), read off the GUI thread."""
        cfg = self.config
        submit(lambda: audit.saved_report(cfg), callback)

    def audit_config(self, quick: bool) -> RunConfig:
        """The recipe the audit's folds train (``audit.audit_recipe``): the ImageNet weights on disk at
        their size for photos unless the recipe names its model or was switched to from scratch."""
        side = 0.0
        if self.stats is not None and len(self.stats.widths):
            side = float(np.median(np.minimum(self.stats.widths, self.stats.heights)))
        return audit.audit_recipe(self.config, quick, side, from_scratch=self.from_scratch)

    def suggest_recipe(self) -> bool:
        """"Suggest a recipe" for the open dataset (``suggested`` delivers it; the caller applies it)."""
        ds, cfg = self.dataset, self.config
        facts = DataFacts.from_dataset(ds, self.stats)
        return self._start(JobKind.SUGGEST, functools.partial(suggest_recipe, facts, cfg))

    def plan(self) -> bool:
        """The time plan of the current recipe (a short probe of training, in a job process)."""
        return self._start(JobKind.PLAN, self._heavy(plan_run, self.config), self.jobs_in_child_process)

    def interpret(self, run_dir: str) -> bool:
        """The run's Interpretation (predictions of its validation set + RunInfo)."""
        return self._start(JobKind.INTERPRET, job(interpret_run, str(run_dir)))

    def tta(self, run_dir: str) -> bool:
        return self._start(JobKind.TTA, job(tta_run, str(run_dir)))

    def export(self, run_dir: str, formats: list[str], out_dir: str | None = None) -> bool:
        """Write and check the formats; a failed format arrives as JobFailed with an ExportFailed."""
        return self._start(JobKind.EXPORT, job(export_run, str(run_dir), list(formats), out_dir=out_dir))

    def predict_folder(self, run_dir: str, folder: str, out_csv: str) -> bool:
        return self._start(JobKind.PREDICT, job(predict_folder_to_csv, str(run_dir), str(folder),
                                                str(out_csv)))

    def try_images(self, run_dir: str, inputs: list[str]) -> bool:
        """Predict dropped files / folders with the run's model (as ``workbench predict`` does)."""
        return self._start(JobKind.TRY, job(predict_images, str(run_dir), [str(p) for p in inputs]))

    def download_weights(self, arch: str, tag: str) -> bool:
        """Fetch pretrained weights on the side runner (training may run meanwhile)."""
        return self._start(JobKind.DOWNLOAD, functools.partial(download, arch, tag))

    def import_weights(self, path: str) -> bool:
        """Check and copy a weights file into the cache for the recipe's model, on the side runner
        (hashing, building the model and loading the file take seconds); ``weights_imported`` delivers
        the ImportedWeights, ``job_failed`` a file that cannot be used. False while a download runs."""
        m = self.config.model
        return self._start(JobKind.IMPORT_WEIGHTS, functools.partial(import_weights, str(path), m.arch, m.pretrained))

    def running(self, kind: JobKind) -> bool:
        """Whether a job of ``kind`` runs (on either runner)."""
        runner = self._side_runner if kind in self.SIDE_JOBS else self._runner
        return runner.busy and runner.name is kind

    def pause(self) -> bool:
        """Pause the running job when it can pause; whether it did (a paused job is left as it is)."""
        if self.run_state.can_pause and self.run_state.phase is Phase.RUNNING:
            self._runner.pause()
            self.run_state.set_phase(Phase.PAUSED)
            return True
        return False

    def resume_job(self) -> None:
        if self.run_state.phase is Phase.PAUSED:
            self._runner.resume()
            self.run_state.set_phase(Phase.RUNNING)

    def toggle_pause(self) -> None:
        self.resume_job() if self.run_state.phase is Phase.PAUSED else self.pause()

    def stop(self, kind: JobKind | None = None) -> None:
        """Stop the running job (at its next batch); with ``kind``, only a job of that kind."""
        if kind in self.SIDE_JOBS:
            self._side_runner.stop()
            return
        if kind is not None and not self.run_state.running(kind):
            return
        if self.run_state.can_stop:
            self._runner.stop()
            self.run_state.set_phase(Phase.STOPPING)

    def stop_all(self) -> None:
        """Stop every job (a paused one too) and wait for them (the app is closing)."""
        self.resume_job()
        self.stop()
        self._side_runner.stop()
        self.wait()

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until the running jobs have ended (closing the window, tests)."""
        return all([self._runner.wait(timeout_ms), self._side_runner.wait(timeout_ms)])

    @property
    def job_pid(self) -> int | None:
        """The job process of the running job, when it runs in one."""
        return self._runner.job_pid

    def keep_spare_process(self, warm_modules: tuple[str, ...]) -> None:
        self._runner.keep_spare_process(warm_modules)

    def discard_spare(self) -> None:
        self._runner.discard_spare()

    def spare_warm(self, timeout: float = 0.0) -> bool:
        return self._runner.spare_warm(timeout)

    def _heavy(self, fn: Callable, *args, **kwargs) -> Callable:
        """A core call that takes the machine: in a job process as it is, in a thread of this process
        with that thread's priority lowered first (so the UI stays fluid)."""
        return functools.partial(core_call if self.jobs_in_child_process else lowered, fn, args, kwargs)

    def _start(self, kind: JobKind, fn: Callable, in_child: bool = False, pausable: bool | None = None) -> bool:
        """Run ``fn(sink, control)`` as a job of ``kind``; False when another job runs. ``pausable``:
        the job table's (``kind.job.pausable``) unless given."""
        if not isinstance(kind, JobKind):
            raise TypeError(f"job kind must be a JobKind, not {kind!r}")
        if kind in self.SIDE_JOBS:
            return self._side_runner.start(kind, fn)
        if self._runner.busy:
            return False
        self.run_state.begin(kind, kind.job.pausable if pausable is None else pausable)
        if not self._runner.start(kind, fn, in_child=in_child):
            self.run_state.end()
            return False
        return True

    def send_to_labelling(self, dataset: str, items: list[tuple[str, str, float]], beside_data: bool) -> SentToLabel:
        """Record predictions for labelling in the dataset's change list (``workbench.inference.to_label``:
        two small files, written atomically; no image is touched)."""
        sent = send_to_labelling(dataset, items, beside_data)
        self.changes_written(dataset)
        return sent

    def take_back_from_labelling(self, dataset: str, sent: SentToLabel, beside_data: bool) -> int:
        """Undo one ``send_to_labelling`` (``workbench.inference.to_label.take_back``)."""
        n = take_back(dataset, sent, beside_data)
        self.changes_written(dataset)
        return n

    def changes_written(self, dataset: str) -> None:
        """The change list of ``dataset`` was written (by any view): ``changes_edited`` has every view of it reload."""
        self.changes_edited.emit(str(Path(dataset).expanduser().resolve()))

    # ----------------------------------------------------------------- events
    @Slot(object, object)
    def _on_event(self, kind: JobKind, ev: Event) -> None:
        if isinstance(ev, JobFailed):
            self.job_failed.emit(ev)
        elif isinstance(ev, JobResult):
            if ev.result is not None:
                self._deliver(kind, ev.result)
        else:
            if kind not in self.SIDE_JOBS:
                if isinstance(ev, Paused):
                    self.run_state.set_phase(Phase.PAUSED)
                elif isinstance(ev, Resumed) and self.run_state.phase is Phase.PAUSED:
                    self.run_state.set_phase(Phase.RUNNING)
                elif isinstance(ev, Progress):
                    self.run_state.set_progress(ev.done / ev.total if ev.total else None, ev.message)
            if kind is JobKind.TRAIN:
                self._follow_live(ev)
            self.job_event.emit(kind, ev)
            if kind is JobKind.TRAIN and isinstance(ev, (FitStarted, Paused, Resumed, EpochEnd)):
                self.runs_changed.emit()   # the run lists show the new run at once, its epochs and its pause

    def _deliver(self, kind: JobKind, result: Any) -> None:
        if kind is JobKind.SCAN:
            self.dataset, self.stats, n_train = result
            self._counted = (self.dataset, n_train)
            self.dataset_changed.emit(self.dataset)
            self.stats_changed.emit(self.stats)
            self.check_recipe()
            self._offer_first_run()
            return
        if kind in (JobKind.DOWNLOAD, JobKind.IMPORT_WEIGHTS):
            self.checked = None      # the weights on this machine changed: check the recipe again
            self.check_recipe()
        if kind is JobKind.TRAIN and getattr(result, "run_dir", ""):
            self.current_run = str(result.run_dir)
        if kind is JobKind.LR_FIND and self.autosave and self._lr_config is not None:   # the app keeps it
            cfg = self._lr_config
            submit(lambda: keep_result(result, cfg), lambda _r: None)   # not kept: the test is only shown
        getattr(self, self.RESULT_SIGNALS[kind]).emit(result)

    @Slot(object, str)
    def _on_finished(self, kind: JobKind, status: str) -> None:
        if kind not in self.SIDE_JOBS:
            self.run_state.end()
        self.job_finished.emit(kind, status)
        if kind is JobKind.TRAIN:
            self.runs_changed.emit()
            self._names_changed()    # a run may have taken the recipe's run name: the Recipe page says so


__all__ = ["Session", "default_config", "ConfigError"]
