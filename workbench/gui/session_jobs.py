"""The Session's work off the GUI thread: job bodies and side tasks, each one core call.

Job bodies ``(sink, control) -> result`` run on the Session's job runners (those that take the machine
are module functions, picklable for the job process); side tasks are plain functions the Session hands
to the side pool (``gui.jobs.submit``). Nothing here runs on the GUI thread, and nothing here holds a
model between calls.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..analysis.calibration import Calibration, calibrate, coverage_curve, scale
from ..config import RunConfig
from ..data import compute_stats, open_dataset
from ..data.pipeline import batch_warnings
from ..data.report import training_problems
from ..models.weights import DEFAULT_TAG, NONE, fetch, guess_ref, import_file, spec, status, usable_offline
from ..recipe import suggest as suggest_mod
from ..recipe.suggest import DataFacts, suggest
from ..run.folder import RunFolder, free_name, name_taken
from ..run.runs import list_runs
from ..runtime.device import lower_thread_priority
from ..runtime.events import Progress
from ..train.checkpoint import saved_trace
from .jobs import submit


# ----------------------------------------------------------------------------- job bodies
def core_call(fn: Callable, args: tuple, kwargs: dict, sink, control):
    """``fn(*args, sink=..., control=..., **kwargs)``: a core call as a job body."""
    return fn(*args, sink=sink, control=control, **kwargs)


def lowered(fn: Callable, args: tuple, kwargs: dict, sink, control):
    """The core call in a job thread of the app: that thread (and the threads it starts) first drops
    to a lower OS priority, so the UI thread gets the CPU when it needs it."""
    lower_thread_priority()
    return fn(*args, sink=sink, control=control, **kwargs)


def job(fn: Callable, *args, **kwargs) -> Callable:
    """The job body ``(sink, control) -> fn(*args, sink=sink, control=control, **kwargs)``."""
    return functools.partial(core_call, fn, args, kwargs)


def scan(cfg: RunConfig, sink, control):
    """(Dataset, DatasetStats, training images): the scan, its stats, and the count the schedule
    preview needs (``Session.steps_per_epoch``), so no edit of the recipe walks the dataset."""
    ds = open_dataset(cfg.data, cfg.seed, sink=sink, control=control)
    return ds, compute_stats(ds, sink, control), len(ds.train)


def suggest_recipe(facts: DataFacts, cfg: RunConfig, sink, control):
    """The suggestion, saying which speed it measures (each takes seconds) and stoppable between them."""
    count = [0]

    def note(what: str) -> None:
        control.check()
        count[0] += 1
        sink(Progress("suggest", count[0], 0, f"measuring this machine's speed: {what} ..."))

    def measured(arch: str, size: int, batch: int) -> float:
        note(f"{arch} at {size} px")
        ips = suggest_mod.measure_speed(arch, size, batch, facts.n_classes)
        control.check()
        return ips

    def layouts(arch: str, size: int, batch: int, candidates: list) -> dict:
        note(f"{arch} at {size} px in {len(candidates)} precisions / memory layouts")
        speeds = suggest_mod.cached_layouts(arch, size, batch, candidates, facts.n_classes)
        control.check()
        return speeds
    return suggest(facts, cfg, cfg.train.budget_minutes, speed=measured, layout_speed=layouts)


def download(arch: str, tag: str, sink, control) -> str:
    def progress(p):
        eta = f", {p.eta:.0f} s left" if p.total else ""
        sink(Progress("download", p.done, p.total, f"{p.done / 1e6:.1f} MB at {p.rate / 1e6:.1f} MB/s{eta}"))
    return str(fetch(arch, tag, progress=progress, control=control))


@dataclass(frozen=True)
class ImportedWeights:
    """A weights file stored in the cache for ``arch`` under its tag's own name."""
    source: str
    arch: str
    tag: str
    dest: str
    chosen: bool     # the recipe had no weights chosen: the imported ones become its choice


def import_weights(source: str, arch: str, tag: str, sink, control) -> ImportedWeights:
    """Check and copy ``source`` into the weights cache for ``arch`` (hashing, building the model and
    loading the file into it: seconds for a large file). With no weights chosen (``none``), a published
    torchvision file name says which weights it holds, else they are stored as the default ones."""
    chosen = tag.lower() == NONE
    if chosen:
        guess = guess_ref(Path(source))
        tag = guess[1] if guess and guess[0] == arch else DEFAULT_TAG
    sink(Progress("import_weights", 0, 1, f"checking {Path(source).name} for {arch}"))
    dest = import_file(source, arch, tag)
    status(arch, tag)   # verifies the stored file here (the hash is memoised), not when the picker shows it
    return ImportedWeights(str(source), arch, spec(arch, tag).tag, str(dest), chosen)


def list_runs_safe(folder: Path) -> list:
    """RunInfo list of the runs folder (empty when the folder is missing or cannot be read)."""
    try:
        return list(list_runs(folder)) if folder.is_dir() else []
    except Exception:  # a broken run folder must not break the app; list_runs skips those
        return []


# ----------------------------------------------------------------------------- side tasks
@dataclass(frozen=True)
class RecipeCheck:
    """What stands in the way of training ``config`` on the open dataset, and what deserves a word."""
    config: RunConfig
    dataset: Any = field(compare=False)   # the Dataset it was checked against (None: none open)
    problems: tuple = ()
    warnings: tuple = ()


def check_recipe(cfg: RunConfig, ds) -> RecipeCheck:
    """Validate ``cfg`` (which may build its model to check a weights file), look for its weights on
    this machine (which may hash them) and check the dataset ``ds`` for training (which walks it)."""
    probs = cfg.validate()
    if not cfg.data.path:
        probs.append("data.path: open a dataset first")
    errors, warnings = _dataset_checks(cfg, ds)
    probs += errors
    if name_taken(cfg):   # the app trains under the next free name (Session.start_training)
        warnings.append(f"name: the run name '{cfg.name}' is taken; the next run is named {free_name(cfg)}")
    m = cfg.model
    if not probs and not m.weights and not usable_offline(m.arch, m.pretrained):
        st = status(m.arch, m.pretrained)
        probs.append(f"model.pretrained: {st.problem}" if st.state == "corrupt" else
                     f"model.pretrained: the {m.arch} weights '{m.pretrained}' are not on this machine; "
                     "press Download (or Import weights file...) on the Recipe page, or choose none")
    return RecipeCheck(cfg, ds, tuple(probs), tuple(cfg.warnings() + warnings))


def checked_safely(cfg: RunConfig, ds) -> RecipeCheck:
    """``check_recipe`` in the side pool; a check that fails says so as its one problem."""
    try:
        return check_recipe(cfg, ds)
    except Exception as e:  # noqa: BLE001 - the recipe page shows it instead of crashing the app
        return RecipeCheck(cfg, ds, (f"recipe: cannot be checked: {type(e).__name__}: {e}",))



def _dataset_checks(cfg: RunConfig, ds) -> tuple[list[str], list[str]]:
    if ds is None or not cfg.data.path:
        return [], []
    if Path(ds.root).resolve() != Path(cfg.data.path).expanduser().resolve():
        return [], []
    errors, warnings = training_problems(ds)
    return errors, warnings + batch_warnings(ds, cfg)


@dataclass(frozen=True)
class CalibrationCurves:
    """The Calibration tab's numbers: the temperature fit and accuracy against coverage after it."""
    calibration: Calibration
    coverage: dict


def calibration_curves(probs: np.ndarray, targets: np.ndarray) -> CalibrationCurves:
    """Fit the temperature on validation predictions (an optimiser run) and the coverage curve after it."""
    c = calibrate(probs, targets)
    return CalibrationCurves(c, coverage_curve(scale(probs, c.temperature), targets))


def request_calibration(probs, targets, callback: Callable[[object], None]) -> int:
    """``calibration_curves`` in the side pool; ``callback`` gets CalibrationCurves or an Exception
    (GUI thread)."""
    probs, targets = np.asarray(probs), np.asarray(targets)
    return submit(lambda: calibration_curves(probs, targets), callback)


def request_log_tail(run_dir: str, callback: Callable[[object], None]) -> int:
    """The last lines of a run's log.txt (``RunFolder.log_tail``) in the side pool; ``callback`` gets the
    list of lines, or an Exception (GUI thread)."""
    return submit(lambda: RunFolder(Path(run_dir)).log_tail(), callback)


def request_trace(run_dir: str, callback: Callable[[object], None]) -> int:
    """The batch curve of a run (``train.checkpoint.saved_trace``) in the side pool; ``callback`` gets
    the list of (x, smoothed loss, lr) points, or an Exception (GUI thread)."""
    return submit(lambda: saved_trace(run_dir), callback)
